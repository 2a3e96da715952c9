"""Request-body limits per endpoint: small for anonymous callers, big only for logged-in bulk writes.

Every endpoint has two limits (:class:`BodyLimit`): what anyone may send, and
what a caller with a valid token may send. A body is refused with 413 before
it is read when its declared ``Content-Length`` is above the limit that
applies, and while it streams as soon as the bytes counted pass it. A body
above the anonymous limit makes the server check the token first (headers
only), so an anonymous client can never make the server read, hold or parse
a big body.

The DD and auth services look their limits up by endpoint name
(:func:`dd_limit`); the catalog app is wrapped by :class:`CatalogBodyLimits`,
which applies :data:`CATALOG_LIMITS` by path and counts the bytes its
handlers receive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import HTTPError
from .http import text_response

__all__ = [
    "ANONYMOUS_BODY_BYTES",
    "BULK_BODY_BYTES",
    "CATALOG_LIMITS",
    "DD_LIMITS",
    "BodyLimit",
    "CatalogBodyLimits",
    "applicable_limit",
    "counting_receive",
    "declared_length",
    "dd_limit",
    "files_that_fit",
]

#: Largest body anyone may send to any endpoint, in bytes.
ANONYMOUS_BODY_BYTES = 4 * 1024 * 1024
#: Largest body of a logged-in caller's ordinary request (search, restart by DIDs, ...).
USER_BODY_BYTES = 64 * 1024 * 1024
#: Largest body of a logged-in bulk write (``create_project``, ``declare_files``).
BULK_BODY_BYTES = 256 * 1024 * 1024
#: Bytes one file takes in a ``create_project`` body with a realistic DUNE name of ~70 characters
#: (``{"namespace": "dune", "name": "<70 characters>"}, `` or ``"dune:<70 characters>", `` with spaces).
BYTES_PER_FILE = 110


@dataclass(frozen=True)
class BodyLimit:
    """The largest body of one endpoint, in bytes.

    Attributes:
        anonymous: What any caller may send.
        authenticated: What a caller with a valid token may send (at least ``anonymous``).
        what: Noun for the 413 message of bulk endpoints (``"files"``), or empty.
    """

    anonymous: int = ANONYMOUS_BODY_BYTES
    authenticated: int = ANONYMOUS_BODY_BYTES
    what: str = ""

    def message(self, limit: int, logged_in: bool) -> str:
        """The 413 message for a body above ``limit``."""
        text = f"Request body too large (limit {limit:,} bytes"
        if self.what:
            text += f", about {files_that_fit(limit):,} {self.what} with ~70-character names"
        text += ")"
        if not logged_in and self.authenticated > limit:
            text += f"; logged-in users may send up to {self.authenticated:,} bytes"
        return text


def files_that_fit(limit: int) -> int:
    """How many file specifications with ~70-character names fit in ``limit`` bytes."""
    return limit // BYTES_PER_FILE


_SMALL = BodyLimit()
_USER = BodyLimit(authenticated=USER_BODY_BYTES)
_BULK = BodyLimit(authenticated=BULK_BODY_BYTES, what="files")

#: Endpoint name → limit for the DD and auth services (any other endpoint: :data:`ANONYMOUS_BODY_BYTES`).
DD_LIMITS: dict[str, BodyLimit] = {
    "create_project": _BULK,
    "copy_project": _USER,
    "restart_handles": _USER,
    "search_projects": _USER,
    "file_summary": _USER,
    "create_rse": _USER,
    "update_rse": _USER,
    "replica_available": _USER,
}

#: Catalog path (below ``/metacat/app``) → limit (any other path: :data:`ANONYMOUS_BODY_BYTES`).
CATALOG_LIMITS: dict[str, BodyLimit] = {
    "/data/declare_files": _BULK,
    "/data/add_files": _BULK,
    "/data/create_dataset": _USER,
}


def dd_limit(endpoint: str) -> BodyLimit:
    """The body limit of a DD or auth endpoint."""
    return DD_LIMITS.get(endpoint, _SMALL)


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The request's ``Content-Length`` as a number, or None when absent or not a number."""
    for name, value in headers:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


def applicable_limit(limit: BodyLimit, scope: Scope, authenticate: Callable[[Request], Any]) -> tuple[int, bool]:
    """Return ``(bytes allowed, logged in)`` for a request, checking the token only when it matters.

    The token is verified (from the headers, before any byte of the body is
    read) only when the declared length is above the anonymous limit, or
    unknown (a streamed body) on an endpoint that allows more when logged in.
    """
    if limit.authenticated <= limit.anonymous:
        return limit.anonymous, False
    length = declared_length(scope.get("headers", []))
    if length is not None and length <= limit.anonymous:
        return limit.anonymous, False
    try:
        authenticate(Request(scope))
    except HTTPError:
        return limit.anonymous, False
    return limit.authenticated, True


class CatalogBodyLimits:
    """ASGI wrapper of the catalog app that applies :data:`CATALOG_LIMITS` before its handlers run.

    A declared ``Content-Length`` above the limit is answered 413 without
    reading the body; a streamed body is counted as the handler receives it
    and cut off with 413 at the limit (the handler sees an :class:`HTTPError`).

    Args:
        app: The catalog app (paths below its mount point).
        authenticate: The server's authenticator.
        limits: Path → limit.
    """

    def __init__(self, app: ASGIApp, authenticate: Callable[[Request], Any],
                 limits: dict[str, BodyLimit] | None = None) -> None:
        self.app = app
        self.authenticate = authenticate
        self.limits = CATALOG_LIMITS if limits is None else limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rest = scope["path"][len(scope.get("root_path", "")):].rstrip("/")
        limit = self.limits.get(rest, _SMALL)
        allowed, logged_in = applicable_limit(limit, scope, self.authenticate)
        message = limit.message(allowed, logged_in)
        length = declared_length(scope.get("headers", []))
        if length is not None and length > allowed:
            body = message if message.endswith("\n") else message + "\n"
            await text_response(body, 413, "text/plain")(scope, receive, send)
            return
        await self.app(scope, counting_receive(receive, allowed, message), send)


def counting_receive(receive: Receive, limit: int, message: str) -> Receive:
    """Wrap ``receive`` so that a body passing ``limit`` bytes raises a 413 :class:`HTTPError`."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        item = await receive()
        if item["type"] == "http.request":
            size += len(item.get("body", b""))
            if size > limit:
                raise HTTPError(413, message)
        return item

    return counted
