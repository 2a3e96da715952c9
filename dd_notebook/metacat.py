"""MQL queries against a MetaCat-compatible catalog (upstream MetaCat or the embedded one).

:class:`MetaCatClient` runs on the same transport as the Data Dispatcher client
(:class:`dd_notebook.client.http.HTTPTransport`): one keep-alive session, one
deadline per call, the same retry policy (503 and 429 for every call, 502,
504 and connection resets only for reads; an MQL query that saves its result
with ``save_as``/``add_to`` is not a read) and the same bounded body reading.
``application/json-seq`` query results are parsed as they arrive.
:func:`query_files` runs a query through either this client or the upstream
``metacat.webapi.MetaCatClient``.

Errors are the classes of :mod:`dd_notebook.errors`; the names this module used
before stay as aliases::

    MetaCatError              = DDNotebookError (the one root)
    MetaCatConnectionError    = NetworkError
    MetaCatTimeout            = RequestTimeoutError
    MetaCatHTTPError          = HTTPError (.url, .status, .message)
    MetaCatBadRequest         = BadRequestError        400: bad MQL or parameter
    MetaCatAuthError          = AuthenticationError    401
    MetaCatPermissionDenied   = PermissionDeniedError  403
    MetaCatNotFound           = NotFoundError          404: unknown dataset, file, namespace
    MetaCatAlreadyExists      = AlreadyExistsError     409
    MetaCatServerError        = ServerError            5xx after the retries

Example:
    >>> client = MetaCatClient("http://127.0.0.1:8080/metacat/app")  # doctest: +SKIP
    >>> for f in client.query("files from mengel:gen_cfg"):  # doctest: +SKIP
    ...     print(f["namespace"], f["name"])
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterator
from typing import Any

import orjson
import requests

from .client.body import decode_response, iter_json_seq
from .client.http import HTTPTransport
from .client.retry import METACAT_READ_OPERATIONS, metacat_call_is_read
from .client.tokens import Token
from .errors import (
    AlreadyExistsError,
    AuthenticationError,
    BadRequestError,
    DDNotebookError,
    HTTPError,
    InvalidResponseError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RequestTimeoutError,
    ServerError,
)

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

MetaCatError = DDNotebookError
MetaCatConnectionError = NetworkError
MetaCatTimeout = RequestTimeoutError
MetaCatHTTPError = HTTPError
MetaCatBadRequest = BadRequestError
MetaCatAuthError = AuthenticationError
MetaCatPermissionDenied = PermissionDeniedError
MetaCatNotFound = NotFoundError
MetaCatAlreadyExists = AlreadyExistsError
MetaCatServerError = ServerError

#: How to get a token for the catalog, quoted in authentication errors.
LOGIN_ADVICE = "MetaCatClient(url, token=...) with a fresh token (DataDispatcherClient.login_password) " \
               "or `metacat auth login <user>`"


def _yes(value: bool) -> str:
    return "yes" if value else "no"


class MetaCatClient:
    """Client of MetaCat's data API.

    Args:
        server_url: Base URL (``.../app``); default ``$METACAT_SERVER_URL``.
        token: Token sent as ``X-Authentication-Token`` (needed only for writes).
        timeout: ``(connect, total)`` seconds, or one number for both: ``total`` is the
            longest one call may take, retries included; for a streamed query it
            bounds the time spent waiting for the server, not the time the caller
            spends between records.
        session: A ``requests.Session`` to use instead of a new one.

    Raises:
        MetaCatError: no server URL given and ``METACAT_SERVER_URL`` unset.
    """

    def __init__(self, server_url: str | None = None, *, token: str | None = None,
                 timeout: float | tuple[float, float] = (10.0, 600.0),
                 session: requests.Session | None = None) -> None:
        url = server_url or os.environ.get("METACAT_SERVER_URL")
        if not url:
            raise MetaCatError("MetaCat server URL unspecified: pass server_url or set METACAT_SERVER_URL")
        self.server_url = url.rstrip("/")
        connect, total = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self.timeout = (float(connect), float(total))
        self._http = HTTPTransport(self.server_url + "/data", total, connect,
                                   read_endpoints=METACAT_READ_OPERATIONS, login_advice=LOGIN_ADVICE,
                                   session=session)
        if token:
            try:
                self._http.token = Token.decode(token)
            except ValueError:  # an opaque token is sent as it is; the server judges it
                self._http.token = Token(str(token).strip(), {})

    @property
    def session(self) -> requests.Session:
        """The keep-alive ``requests.Session`` used for every request."""
        return self._http.session

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()

    def __enter__(self) -> MetaCatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def _send(self, method: str, op: str, params: dict[str, Any] | None = None, body: bytes | None = None,
              stream: bool = False, mql: str | None = None) -> requests.Response:
        url = self._http.url(op, params)
        response = self._http.request(method, url, is_read=metacat_call_is_read(op, mql),
                                      headers=self._http.auth_headers(), body=body, stream=stream)
        if response.status_code != 200:
            if stream:
                self._http.body_reader(response).read_all()
            self._decode(response)
        return response

    def _decode(self, response: requests.Response) -> Any:
        token = self._http.token
        return decode_response(response, token_expiration=token.expiration if token is not None else None,
                               expect_json=True, login=self._http.login_context())

    def _json(self, method: str, op: str, **kw: Any) -> Any:
        return self._decode(self._send(method, op, **kw))

    def _records(self, response: requests.Response) -> Iterator[dict[str, Any]]:
        """The records of a streamed answer: parsed as they arrive (json-seq) or at once (JSON)."""
        if "application/json-seq" in response.headers.get("content-type", ""):
            return iter_json_seq(response, self._http.body_reader(response))
        self._http.body_reader(response).read_all()
        result = self._decode(response) if response.content else []
        return iter(result if isinstance(result, list) else [result])

    def _optional(self, op: str, params: dict[str, Any]) -> Any:
        try:
            return self._json("GET", op, params=params)
        except NotFoundError:
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
        return self._records(self._send("POST", "query", params, mql.encode(), stream=True, mql=mql))

    def summary(self, mql: str, kind: str = "count", *, namespace: str | None = None) -> Any:
        """Return ``{"count", "total_size"}`` (``kind="count"``) or the metadata keys (``kind="keys"``)."""
        params = {"summary": kind, **({"namespace": namespace} if namespace else {})}
        return self._json("POST", "query", params=params, body=mql.encode(), mql=mql)

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
        return self._json("POST", "files", params=params, body=orjson.dumps(specs))

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
        params = {"dataset": did, "with_metadata": _yes(with_metadata)}
        return self._records(self._send("GET", "dataset_files", params, stream=True))

    def list_namespaces(self, pattern: str | None = None) -> list[dict[str, Any]]:
        """Return namespaces whose name matches an ``fnmatch`` pattern."""
        found = self._json("GET", "namespaces")
        return [ns for ns in found if pattern is None or fnmatch.fnmatchcase(ns["name"], pattern)]

    def get_namespace(self, name: str) -> dict[str, Any] | None:
        """Return a namespace, or None if it does not exist."""
        return self._optional("namespace", {"name": name})

    def version(self) -> str:
        """Return the server version text."""
        return self._send("GET", "version").text.strip()


def query_files(catalog: Any, mql: str, with_metadata: bool = True) -> Iterator[dict[str, Any]]:
    """Run ``mql`` through any catalog client and yield its file dicts.

    Works with :class:`MetaCatClient`, the upstream ``metacat.webapi.MetaCatClient``
    and :class:`dd_notebook.catalog.Catalog` (anything with
    ``query(mql, with_metadata=...)`` returning an iterable of file dicts). The
    query is sent at once, so errors are raised by this call, not during iteration.

    Raises:
        TypeError: ``catalog`` has no ``query`` method.
        InvalidResponseError: a result is not a file object with ``namespace`` and ``name``.
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
                raise InvalidResponseError(None, None, f"unexpected query result (not a file object): {item!r:.200}")
            yield item
            item = next(results, None)

    return files()
