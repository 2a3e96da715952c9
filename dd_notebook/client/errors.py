"""Exceptions raised by :class:`dd_notebook.client.DataDispatcherClient`.

Every exception the client raises on purpose derives from one base class, so
``except DataDispatcherError`` catches all of them::

    DataDispatcherError
     ├── HTTPError                 the server answered with a status other than 200
     │    ├── BadRequestError          400
     │    ├── AuthenticationError      401, or a failed login / no token at all
     │    │    └── AuthExpiredError        the token has expired: log in again
     │    ├── PermissionDeniedError    403
     │    ├── NotFoundError            404
     │    └── ServerError              5xx
     │         └── EndpointUnavailableError  the server lacks an optional endpoint
     ├── RequestTimeoutError       no answer in time (also a builtin ``TimeoutError``)
     └── NetworkError              connection refused/reset, DNS failure, TLS error
                                   (also a builtin ``ConnectionError``)

:class:`HTTPError` carries ``url``, ``status`` and ``message`` (the server's
text) and, for code written against the upstream client, the aliases
``URL``, ``StatusCode``, ``Body`` and ``Message``. ``WebAPIError`` is an alias
of :class:`HTTPError`, named like the upstream (metacat) class.
"""

from __future__ import annotations

import html
import re
import time

__all__ = [
    "AuthExpiredError",
    "AuthenticationError",
    "BadRequestError",
    "DataDispatcherError",
    "EndpointUnavailableError",
    "HTTPError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "RequestTimeoutError",
    "ServerError",
    "WebAPIError",
    "error_for_status",
    "expired_message",
]

_H3 = re.compile(r"<h3>(.*?)</h3>", re.S)


class DataDispatcherError(Exception):
    """Base class of every error raised by the client."""


class HTTPError(DataDispatcherError):
    """The server answered with an unexpected HTTP status.

    Args:
        url: The requested URL (``None`` when no request was made).
        status: HTTP status code (``None`` when no request was made).
        message: Human-readable text, normally the server's own message.
        body: The raw response body; defaults to ``message``.

    Attributes:
        url: Requested URL.
        status: HTTP status code.
        message: The server's message (or a client-side explanation).
        body: The raw response body text.
    """

    def __init__(self, url: str | None, status: int | None, message: str, body: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.message = message
        self.body = message if body is None else body

    @property
    def URL(self) -> str | None:  # noqa: N802 - upstream-compatible name
        """Alias of :attr:`url` (upstream name)."""
        return self.url

    @property
    def StatusCode(self) -> int | None:  # noqa: N802 - upstream-compatible name
        """Alias of :attr:`status` (upstream name)."""
        return self.status

    @property
    def Body(self) -> str:  # noqa: N802 - upstream-compatible name
        """Alias of :attr:`body` (upstream name)."""
        return self.body

    @property
    def Message(self) -> str:  # noqa: N802 - upstream-compatible name
        """Alias of :attr:`message` (upstream name)."""
        return self.message

    def __str__(self) -> str:
        return self.message or self.body or f"HTTP status {self.status}"


WebAPIError = HTTPError


class BadRequestError(HTTPError):
    """The server rejected the request as malformed (400)."""


class AuthenticationError(HTTPError):
    """Authentication failed (401), a login was refused, or no token is available."""


class AuthExpiredError(AuthenticationError):
    """The authentication token has expired; the user must log in again.

    Attributes:
        expiration: The token's ``exp`` claim (epoch seconds) when known.
    """

    def __init__(
        self, url: str | None, status: int | None, expiration: float | None, body: str | None = None
    ) -> None:
        super().__init__(url, status, expired_message(expiration), body)
        self.expiration = expiration


class PermissionDeniedError(HTTPError):
    """The authenticated user may not do this (403)."""


class NotFoundError(HTTPError):
    """The object (project, handle, RSE) or the endpoint does not exist (404)."""


class ServerError(HTTPError):
    """The server failed while handling the request (5xx)."""


class EndpointUnavailableError(ServerError):
    """An optional endpoint is missing or broken on this server (upstream servers answer 500)."""


class RequestTimeoutError(DataDispatcherError, TimeoutError):
    """The server did not answer within the configured timeout."""


class NetworkError(DataDispatcherError, ConnectionError):
    """The server could not be reached (connection, DNS or TLS failure)."""


def expired_message(expiration: float | None) -> str:
    """Return the text of an :class:`AuthExpiredError` for a token expiring at ``expiration``."""
    if expiration is None:
        when = "an unknown time"
    else:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expiration))
    return f"token expired at {when}: log in again"


def _server_message(body: str, content_type: str) -> str:
    """Extract a one-line message from an error body (plain text, JSON or an HTML error page)."""
    text = body.strip()
    if "html" in content_type.lower() and text.startswith("<"):
        match = _H3.search(text)
        if match:
            return html.unescape(match.group(1)).strip() or text
    return text


def error_for_status(
    url: str,
    status: int,
    body: str,
    content_type: str = "",
    json_message: str | None = None,
    token_expiration: float | None = None,
) -> HTTPError:
    """Build the exception that matches an HTTP error response.

    Args:
        url: The requested URL.
        status: The response status (anything but 200).
        body: The response body text.
        content_type: The response ``Content-Type``.
        json_message: The ``message`` field of a JSON error body, if any.
        token_expiration: ``exp`` of the token that was sent, if any; an expired
            token turns a 401 into :class:`AuthExpiredError`.

    Returns:
        An :class:`HTTPError` subclass instance (not raised).
    """
    message = json_message if json_message else _server_message(body, content_type)
    if status == 401:
        expired = token_expiration is not None and token_expiration <= time.time()
        if expired or "token expired" in message.lower():
            return AuthExpiredError(url, status, token_expiration, body)
        return AuthenticationError(url, status, message, body)
    cls: type[HTTPError]
    if status == 400:
        cls = BadRequestError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif 500 <= status < 600:
        cls = ServerError
    else:
        cls = HTTPError
    return cls(url, status, message, body)
