"""HTTP helpers shared by every service: responses, query strings, bounded bodies, busy databases.

Media types are those upstream's servers answer with: the DD server sends
``text/json`` and ``text/html`` texts, MetaCat sends ``application/json`` and
``text/plain``. Each service passes its own; the helpers are the same.
"""

from __future__ import annotations

import importlib.metadata
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_plus

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import HTTPError

__all__ = [
    "JSON_TYPE",
    "MAX_PARAM_CHARS",
    "PLAIN_TYPE",
    "PiecesResponse",
    "SERVER_VERSION",
    "TEXT_TYPE",
    "is_busy",
    "json_response",
    "parse_query",
    "read_body",
    "text_response",
]

JSON_TYPE = "text/json; charset=UTF-8"
TEXT_TYPE = "text/html; charset=UTF-8"
PLAIN_TYPE = "text/plain; charset=UTF-8"
MAX_PARAM_CHARS = 1 << 20
#: Version of the dd-notebook distribution (what the catalog's ``data/version`` answers).
SERVER_VERSION = importlib.metadata.version("dd-notebook")

_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def json_response(obj: Any, media_type: str = JSON_TYPE) -> Response:
    """Return ``obj`` serialised as JSON in a 200 response (default type: the DD client's ``text/json``)."""
    return Response(orjson.dumps(obj), media_type=media_type)


class PiecesResponse(Response):
    """A 200 whose big body is sent as the pieces it was built in, never joined into one copy.

    The ``Content-Length`` is the sum of the pieces, so clients see an ordinary
    response. Joining the pieces of a body of hundreds of megabytes would hold a
    second copy of it for nothing; here each piece is handed to the transport in
    turn, and the server waits until the client has taken it before the next.

    Parameters
    ----------
    pieces
        The body, in order.
    media_type
        The ``Content-Type``.
    headers
        More headers.
    """

    def __init__(self, pieces: list[bytes], media_type: str, headers: dict[str, str] | None = None) -> None:
        self.pieces = pieces
        super().__init__(None, media_type=media_type,
                         headers={**(headers or {}), "content-length": str(sum(map(len, pieces)))})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the head, then every piece as one ASGI body message."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        last = len(self.pieces) - 1
        for index, piece in enumerate(self.pieces):
            await send({"type": "http.response.body", "body": piece, "more_body": index < last})
        if last < 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def text_response(text: str, status: int = 200, media_type: str = TEXT_TYPE,
                  headers: dict[str, str] | None = None) -> Response:
    """Return a text response with ``status``."""
    return Response(text, status_code=status, media_type=media_type, headers=headers)


def is_busy(exc: BaseException) -> bool:
    """True when ``exc`` is SQLite's "database is busy/locked" (by result code, not by message text)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and code is not None and code & 0xFF in _BUSY_CODES


def parse_query(query_string: bytes) -> dict[str, Any]:
    """Decode a query string the way the upstream DD server does.

    Pieces are split on ``&`` and then on the first ``=``; values are decoded
    with unquote-plus; empty pieces are skipped; a key without ``=`` maps to
    None; a repeated key maps to a list.

    Raises:
        HTTPError: 414 when the query string is longer than :data:`MAX_PARAM_CHARS`.
    """
    params: dict[str, Any] = {}
    text = query_string.decode("latin-1")
    if len(text) > MAX_PARAM_CHARS:
        raise HTTPError(414, f"Query string too long (limit {MAX_PARAM_CHARS} characters)")
    for piece in text.split("&"):
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        key = unquote_plus(key, encoding="utf-8", errors="replace")
        decoded: str | None = unquote_plus(value, encoding="utf-8", errors="replace") if eq else None
        if key in params:
            previous = params[key]
            params[key] = (previous if isinstance(previous, list) else [previous]) + [decoded]
        else:
            params[key] = decoded
    return params


async def read_body(receive: Receive, headers: Iterable[tuple[bytes, bytes]], limit: int,
                    too_large: Callable[[int], str]) -> bytearray:
    """Read a whole request body, refusing it with 413 as soon as it exceeds ``limit`` bytes.

    A declared ``Content-Length`` above the limit is refused before anything is read.
    A body cut off before its end (the client disconnected, or the server's body
    deadline closed the connection) is refused with 400, so an endpoint never runs
    on a truncated body; so is one shorter than its declared ``Content-Length``.
    The body is gathered in one buffer (no list of chunks joined at the end),
    which ``orjson`` parses as it is.

    Args:
        receive: The ASGI receive channel.
        headers: The raw request headers.
        limit: Largest body accepted, in bytes.
        too_large: Message of the 413 answer, given the limit.

    Raises:
        HTTPError: 413 with ``too_large(limit)``; 400 "request body incomplete" when the body was cut off.
    """
    declared: int | None = None
    for name, value in headers:
        if name == b"content-length" and value.isdigit():
            declared = int(value)
            if declared > limit:
                raise HTTPError(413, too_large(limit))
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPError(400, f"request body incomplete: the connection closed after {len(body)} bytes")
        chunk = message.get("body", b"")
        if len(body) + len(chunk) > limit:
            raise HTTPError(413, too_large(limit))
        body += chunk
        if not message.get("more_body", False):
            break
    if declared is not None and len(body) < declared:
        raise HTTPError(400, f"request body incomplete: {len(body)} of {declared} bytes (Content-Length)")
    return body
