"""MQL queries against a MetaCat-compatible catalog (upstream MetaCat or the embedded one).

:class:`MetaCatClient` keeps one ``requests.Session`` (connection reuse), uses
separate connect/read timeouts, retries transient failures (502/503/504 and
connection errors, honouring ``Retry-After``) and parses ``application/json-seq``
query results incrementally. :func:`query_files` runs a query through either
this client or the upstream ``metacat.webapi.MetaCatClient``.

Exceptions::

    MetaCatError                     base class
    ├── MetaCatConnectionError       the server could not be reached
    ├── MetaCatTimeout               connect or read timeout
    └── MetaCatHTTPError             an answer other than 200 (.url, .status, .message)
        ├── MetaCatBadRequest        400: bad MQL or parameter (the message says what)
        ├── MetaCatAuthError         401: missing or invalid token
        ├── MetaCatPermissionDenied  403
        ├── MetaCatNotFound          404: unknown dataset, file, namespace
        ├── MetaCatAlreadyExists     409
        └── MetaCatServerError       5xx after the retries

Example:
    >>> client = MetaCatClient("http://127.0.0.1:8080/metacat/app")  # doctest: +SKIP
    >>> for f in client.query("files from mengel:gen_cfg"):  # doctest: +SKIP
    ...     print(f["namespace"], f["name"])
"""

from __future__ import annotations

import fnmatch
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import orjson
import requests

__all__ = [
    "MetaCatAlreadyExists",
    "MetaCatAuthError",
    "MetaCatBadRequest",
    "MetaCatClient",
    "MetaCatConnectionError",
    "MetaCatError",
    "MetaCatHTTPError",
    "MetaCatNotFound",
    "MetaCatPermissionDenied",
    "MetaCatServerError",
    "MetaCatTimeout",
    "query_files",
]

log = logging.getLogger(__name__)

_RETRY_STATUSES = (502, 503, 504)
_MAX_WAIT = 60.0
_RS = b"\x1e"


class MetaCatError(Exception):
    """Base class of the client's exceptions."""


class MetaCatConnectionError(MetaCatError):
    """The server could not be reached (refused, DNS failure, reset)."""


class MetaCatTimeout(MetaCatError):
    """The server did not connect or answer in time."""


class MetaCatHTTPError(MetaCatError):
    """The server answered with a status other than 200.

    Args:
        url: Requested URL.
        status: HTTP status code.
        message: The server's message (plain-text body, or ``message`` of a JSON body).
    """

    def __init__(self, url: str, status: int, message: str) -> None:
        super().__init__(f"{status} from {url}: {message}")
        self.url = url
        self.status = status
        self.message = message


class MetaCatBadRequest(MetaCatHTTPError):
    """400: bad MQL or parameter."""


class MetaCatAuthError(MetaCatHTTPError):
    """401: missing, invalid or expired token."""


class MetaCatPermissionDenied(MetaCatHTTPError):
    """403: the user may not do this."""


class MetaCatNotFound(MetaCatHTTPError):
    """404: unknown dataset, file or namespace."""


class MetaCatAlreadyExists(MetaCatHTTPError):
    """409: the object already exists."""


class MetaCatServerError(MetaCatHTTPError):
    """5xx, after the retries."""


_BY_STATUS: dict[int, type[MetaCatHTTPError]] = {
    400: MetaCatBadRequest, 401: MetaCatAuthError, 403: MetaCatPermissionDenied, 404: MetaCatNotFound,
    409: MetaCatAlreadyExists,
}


def _error(response: requests.Response) -> MetaCatHTTPError:
    text = response.text.strip()
    if response.headers.get("content-type", "").startswith(("application/json", "text/json")):
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            text = body["message"]
    kind = _BY_STATUS.get(response.status_code, MetaCatServerError if response.status_code >= 500
                          else MetaCatHTTPError)
    return kind(response.url, response.status_code, text or response.reason or "")


def _yes(value: bool) -> str:
    return "yes" if value else "no"


class MetaCatClient:
    """Client of MetaCat's data API.

    Args:
        server_url: Base URL (``.../app``); default ``$METACAT_SERVER_URL``.
        token: Token sent as ``X-Authentication-Token`` (needed only for writes).
        timeout: ``(connect, read)`` seconds; the read timeout applies between received chunks.
        retries: How many times a transient failure is retried.
        backoff: First retry delay in seconds (doubled each time) when no ``Retry-After`` is given.
        session: A ``requests.Session`` to use instead of a new one.

    Raises:
        MetaCatError: no server URL given and ``METACAT_SERVER_URL`` unset.
    """

    def __init__(self, server_url: str | None = None, *, token: str | None = None,
                 timeout: tuple[float, float] = (10.0, 600.0), retries: int = 3, backoff: float = 0.5,
                 session: requests.Session | None = None) -> None:
        url = server_url or os.environ.get("METACAT_SERVER_URL")
        if not url:
            raise MetaCatError("MetaCat server URL unspecified: pass server_url or set METACAT_SERVER_URL")
        self.server_url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.session = session or requests.Session()
        if token:
            self.session.headers["X-Authentication-Token"] = token

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __enter__(self) -> MetaCatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def _request(self, method: str, op: str, *, params: dict[str, Any] | None = None, data: Any = None,
                 stream: bool = False) -> requests.Response:
        url = f"{self.server_url}/data/{op}"
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                response = self.session.request(method, url, params=params, data=data, stream=stream,
                                                timeout=self.timeout)
            except requests.Timeout as exc:
                raise MetaCatTimeout(f"{method} {url} timed out: {exc}") from None
            except requests.ConnectionError as exc:
                if attempt == self.retries:
                    raise MetaCatConnectionError(f"cannot reach {url}: {exc}") from None
                time.sleep(delay)
                delay *= 2
                continue
            if response.status_code == 200:
                return response
            if response.status_code in _RETRY_STATUSES and attempt < self.retries:
                wait = response.headers.get("Retry-After", "")
                response.close()
                time.sleep(min(float(wait), _MAX_WAIT) if wait.replace(".", "", 1).isdigit() else delay)
                delay *= 2
                continue
            raise _error(response)
        raise AssertionError("unreachable")

    def _json(self, method: str, op: str, **kw: Any) -> Any:
        response = self._request(method, op, **kw)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise MetaCatError(f"{response.url} did not answer JSON: {response.text[:200]!r}") from None

    def _json_seq(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """Parse ``RS json LF`` records as they arrive; the response is closed when iteration stops."""
        try:
            for line in response.iter_lines(chunk_size=65536):
                line = line.lstrip(_RS).strip()
                if line:
                    yield orjson.loads(line)
        except requests.RequestException as exc:
            raise MetaCatConnectionError(f"query stream from {response.url} broke: {exc}") from None
        finally:
            response.close()

    def _optional(self, op: str, params: dict[str, Any]) -> Any:
        try:
            return self._json("GET", op, params=params)
        except MetaCatNotFound:
            return None

    # ------------------------------------------------------------------ queries
    def query(self, mql: str, *, namespace: str | None = None, with_metadata: bool = False,
              with_provenance: bool = False, include_retired_files: bool = False) -> Iterator[dict[str, Any]]:
        """Run an MQL file query.

        The request is sent (and HTTP errors raised) immediately; file objects are
        then parsed lazily from the ``application/json-seq`` stream.

        Args:
            mql: The query.
            namespace: Default namespace for names without one.
            with_metadata: Include each file's ``metadata``.
            with_provenance: Include ``parents`` and ``children``.
            include_retired_files: Keep retired files.

        Returns:
            An iterator of file objects; close it to drop the connection early.

        Raises:
            MetaCatBadRequest: the query does not parse or compile (the message points at the problem).
            MetaCatNotFound: the query names an unknown dataset.
        """
        params = {"with_meta": _yes(with_metadata), "with_provenance": _yes(with_provenance)}
        if namespace:
            params["namespace"] = namespace
        if include_retired_files:
            params["include_retired_files"] = "yes"
        response = self._request("POST", "query", params=params, data=mql.encode(), stream=True)
        if "application/json-seq" not in response.headers.get("content-type", ""):
            result = orjson.loads(response.content or b"[]")
            response.close()
            return iter(result if isinstance(result, list) else [result])
        return self._json_seq(response)

    def summary(self, mql: str, kind: str = "count", *, namespace: str | None = None) -> Any:
        """Return ``{"count", "total_size"}`` (``kind="count"``) or the metadata keys (``kind="keys"``)."""
        params = {"summary": kind, **({"namespace": namespace} if namespace else {})}
        return self._json("POST", "query", params=params, data=mql.encode())

    # ------------------------------------------------------------------ files
    def get_file(self, fid: str | None = None, *, did: str | None = None, namespace: str | None = None,
                 name: str | None = None, with_metadata: bool = True, with_provenance: bool = True,
                 with_datasets: bool = False) -> dict[str, Any] | None:
        """Return one file by fid, DID or namespace and name, or None if it does not exist."""
        params = {"with_metadata": _yes(with_metadata), "with_provenance": _yes(with_provenance),
                  "with_datasets": _yes(with_datasets)}
        if fid is not None:
            params["fid"] = fid
        elif did is not None:
            params["did"] = did
        elif namespace is not None and name is not None:
            params.update(namespace=namespace, name=name)
        else:
            raise ValueError("give fid, did, or namespace and name")
        return self._optional("file", params)

    def get_files(self, specs: list[dict[str, str]], *, with_metadata: bool = True,
                  with_provenance: bool = False) -> list[dict[str, Any]]:
        """Return many files given ``{fid}``, ``{did}`` or ``{namespace, name}`` specs (unknown ones omitted)."""
        params = {"with_metadata": _yes(with_metadata), "with_provenance": _yes(with_provenance)}
        return self._json("POST", "files", params=params, data=orjson.dumps(specs))

    # ------------------------------------------------------------------ datasets and namespaces
    def list_datasets(self, namespace_pattern: str | None = None,
                      name_pattern: str | None = None) -> list[dict[str, Any]]:
        """Return datasets whose namespace and name match ``fnmatch`` patterns."""
        found = self._json("GET", "datasets", params={"with_file_counts": "yes"})
        return [d for d in found
                if (namespace_pattern is None or fnmatch.fnmatchcase(d["namespace"], namespace_pattern))
                and (name_pattern is None or fnmatch.fnmatchcase(d["name"], name_pattern))]

    def get_dataset(self, did: str) -> dict[str, Any] | None:
        """Return a dataset (``"namespace:name"``), or None if it does not exist."""
        return self._optional("dataset", {"dataset": did})

    def dataset_files(self, did: str, *, with_metadata: bool = False) -> Iterator[dict[str, Any]]:
        """Return the files of a dataset as a lazy iterator.

        Raises:
            MetaCatNotFound: unknown dataset.
        """
        response = self._request("GET", "dataset_files", params={"dataset": did,
                                                                   "with_metadata": _yes(with_metadata)},
                                 stream=True)
        return self._json_seq(response)

    def list_namespaces(self, pattern: str | None = None) -> list[dict[str, Any]]:
        """Return namespaces whose name matches an ``fnmatch`` pattern."""
        found = self._json("GET", "namespaces")
        return [ns for ns in found if pattern is None or fnmatch.fnmatchcase(ns["name"], pattern)]

    def get_namespace(self, name: str) -> dict[str, Any] | None:
        """Return a namespace, or None if it does not exist."""
        return self._optional("namespace", {"name": name})

    def version(self) -> str:
        """Return the server version text."""
        return self._request("GET", "version").text.strip()


def query_files(catalog: Any, mql: str, with_metadata: bool = True) -> Iterator[dict[str, Any]]:
    """Run ``mql`` through any catalog client and yield its file dicts.

    Works with :class:`MetaCatClient`, the upstream ``metacat.webapi.MetaCatClient``
    and :class:`dd_notebook.catalog.Catalog` (anything with
    ``query(mql, with_metadata=...)`` returning an iterable of file dicts). The
    query is sent at once, so errors are raised by this call, not during iteration.

    Raises:
        TypeError: ``catalog`` has no ``query`` method.
        MetaCatError: a result is not a file object with ``namespace`` and ``name``.
    """
    run = getattr(catalog, "query", None)
    if not callable(run):
        raise TypeError(f"{type(catalog).__name__} has no query(mql, with_metadata=...) method")
    results = iter(run(mql, with_metadata=with_metadata))
    first = next(results, None)

    def files() -> Iterator[dict[str, Any]]:
        item = first
        while item is not None:
            if not isinstance(item, dict) or "namespace" not in item or "name" not in item:
                raise MetaCatError(f"unexpected query result (not a file object): {item!r:.200}")
            yield item
            item = next(results, None)

    return files()
