"""HTTP helpers of the catalog app: parameters, bodies, responses and error mapping.

Every expected failure becomes a short plain-text answer with a 4xx status
(``CatalogError.http_status`` or the server's ``HTTPError.status``); a busy
database becomes 503, which MetaCat clients retry.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal, overload

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..core import http
from ..core.errors import HTTPError, ResponseAborted
from .errors import CatalogError, CatalogInvalidInput, MQLError
from .schema import connect
from .validation import MAX_INT, check_name, parse_did

__all__ = [
    "JSON_SEQ",
    "MAX_JSON_BODY",
    "MAX_QUERY_BODY",
    "closing_stream",
    "did_param",
    "endpoint",
    "flag",
    "json_response",
    "limit_work",
    "message_response",
    "name_param",
    "open_db",
    "read_json",
    "read_text",
    "run",
]

log = logging.getLogger(__name__)

JSON_SEQ = "application/json-seq"
#: Largest JSON request body (declare_files of many files), in bytes.
MAX_JSON_BODY = 256 * 1024 * 1024
#: Largest MQL request body, in bytes.
MAX_QUERY_BODY = 1024 * 1024

#: Most SQLite virtual-machine steps one query may run (about 30 s of SQLite work on this class of machine).
MAX_QUERY_STEPS = 500_000_000
_STEPS_PER_CHECK = 10_000
_TOO_MUCH_WORK = (f"query stopped: it needed more than {MAX_QUERY_STEPS:,} database steps; narrow it "
                  "(a dataset, a namespace, an indexed key such as core.runs) and retry")

Handler = Callable[[Request], Awaitable[Response]]


#: MetaCat's media types (Starlette adds ``charset=utf-8`` to the text one).
CATALOG_TEXT = "text/plain"
CATALOG_JSON = "application/json"


def message_response(message: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A ``text/plain`` answer holding one message, newline-terminated (MetaCat's form)."""
    body = message if message.endswith("\n") else message + "\n"
    return http.text_response(body, status, CATALOG_TEXT, headers)


def json_response(value: Any) -> Response:
    """A 200 ``application/json`` answer."""
    return http.json_response(value, CATALOG_JSON)


def endpoint(handler: Handler) -> Handler:
    """Wrap a handler so that catalog, auth and database errors become plain-text 4xx/503 answers.

    SQLite's own error texts and Python tracebacks never reach the client: an
    unexpected failure is logged and answered with a short plain 500.
    """

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except MQLError as exc:  # upstream answers "<ExceptionClass>: <message>" for query errors
            return message_response(f"{type(exc).__name__}: {exc.message}", exc.http_status)
        except CatalogError as exc:
            return message_response(exc.message, exc.http_status)
        except HTTPError as exc:
            return message_response(exc.message, exc.status, exc.headers)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT:
                return message_response(_TOO_MUCH_WORK, 503)
            if http.is_busy(exc):
                return message_response("catalog database is busy, retry later", 503)
            log.exception("catalog database error in %s", request.url.path)
            return message_response("catalog database error", 500)
        except RecursionError:
            return message_response("request is nested too deeply", 400)
        except OverflowError:
            return message_response(f"a number in the request is out of range (limit {MAX_INT} in magnitude)", 400)
        except Exception:
            log.exception("unexpected error in %s", request.url.path)
            return message_response("internal error of the catalog", 500)

    return wrapped


def flag(request: Request, name: str, default: bool = False) -> bool:
    """Read a yes/no parameter: ``yes`` is true, any other value false, absent gives ``default``."""
    value = request.query_params.get(name)
    return default if value is None else value.strip().lower() == "yes"


@overload
def name_param(request: Request, name: str, what: str | None = None, *, required: Literal[True]) -> str: ...
@overload
def name_param(request: Request, name: str, what: str | None = None, required: bool = False) -> str | None: ...
def name_param(request: Request, name: str, what: str | None = None, required: bool = False) -> str | None:
    """Read and validate a name-like parameter (letters, digits, ``_ . / -``)."""
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise CatalogInvalidInput(f"parameter {name} is required")
        return None
    return check_name(value, what or name)


def did_param(request: Request, name: str, default_namespace: str | None = None,
              required: bool = True) -> tuple[str, str] | None:
    """Read a ``namespace:name`` parameter."""
    value = request.query_params.get(name)
    if not value:
        if required:
            raise CatalogInvalidInput(f"parameter {name} (namespace:name) is required")
        return None
    return parse_did(value, default_namespace, name)


def _too_large(limit: int) -> str:
    return f"request body too large (limit {limit} bytes)"


async def _body(request: Request, limit: int) -> bytearray:
    return await http.read_body(request.receive, request.scope.get("headers", []), limit, _too_large)


async def read_json(request: Request, limit: int = MAX_JSON_BODY) -> Any:
    """Parse the body as JSON (whatever the Content-Type says).

    Raises:
        CatalogInvalidInput: empty or malformed JSON.
        HTTPError: 413 when larger than ``limit``.
    """
    raw = await _body(request, limit)
    if not raw.strip():
        raise CatalogInvalidInput("request body must be JSON, got an empty body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CatalogInvalidInput(f"request body is not valid JSON: {exc}") from None


async def read_text(request: Request, limit: int = MAX_QUERY_BODY) -> str:
    """Return the body as UTF-8 text (form bodies never get here: the server's guard refuses them, 415)."""
    raw = await _body(request, limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CatalogInvalidInput("request body is not UTF-8 text") from None


def limit_work(conn: sqlite3.Connection, steps: int | None = None) -> None:
    """Interrupt any statement of ``conn`` that runs more than ``steps`` SQLite steps in all.

    Steps count the rows a query examines, whatever the time a slow reader of
    the streamed answer takes. The interrupted statement raises
    ``sqlite3.OperationalError`` (code ``SQLITE_INTERRUPT``), which
    :func:`endpoint` answers with 503 (a stream already started is aborted, see :func:`closing_stream`).

    Args:
        conn: The connection of one request.
        steps: The budget; default :data:`MAX_QUERY_STEPS`.
    """
    budget = MAX_QUERY_STEPS if steps is None else steps
    interval = max(1, min(budget, _STEPS_PER_CHECK))
    checks_left = budget // interval

    def progress() -> int:
        nonlocal checks_left
        checks_left -= 1
        return 1 if checks_left < 0 else 0

    conn.set_progress_handler(progress, interval)


def open_db(db_path: str) -> sqlite3.Connection:
    """A fresh catalog connection for one request (schema assumed present)."""
    return connect(db_path, create_schema=False)


async def run(db_path: str, work: Callable[[sqlite3.Connection], Any]) -> Any:
    """Run ``work(conn)`` in a worker thread on its own connection, closed afterwards."""

    def call() -> Any:
        conn = open_db(db_path)
        try:
            return work(conn)
        finally:
            conn.close()

    return await run_in_threadpool(call)


def closing_stream(conn: sqlite3.Connection, first: bytes | None, rest: Iterator[bytes]) -> Iterator[bytes]:
    """Yield ``first`` then ``rest``; close ``conn`` when the stream ends or is dropped.

    Raises:
        ResponseAborted: the query failed (or ran out of its work budget) while streaming.
    """
    try:
        if first:
            yield first
        for chunk in rest:
            yield chunk
    except sqlite3.Error as exc:
        interrupted = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT
        reason = "it ran out of its work budget" if interrupted else f"the database failed ({exc})"
        log.warning("catalog query stopped while streaming because %s; dropping the connection", reason)
        raise ResponseAborted(f"catalog query stopped while streaming: {reason}") from exc
    finally:
        conn.close()
