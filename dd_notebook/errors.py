"""The one exception tree of dd-notebook.

Everything the package raises to a user on purpose (the Data Dispatcher
client, the MetaCat client and the embedded catalog engine) derives from
:class:`DDNotebookError`, and the same meaning has the same class wherever it
comes from, so one ``except`` clause covers a DD project, a MetaCat dataset
and a catalog file alike::

    DDNotebookError                    root; aliases DataDispatcherError, MetaCatError
     ├── HTTPError                     an answer other than 200 (.url .status .message .body);
     │    │                            aliases WebAPIError, MetaCatHTTPError
     │    ├── BadRequestError          400: bad input; the message names the problem
     │    │                            (MetaCatBadRequest; catalog: CatalogInvalidInput, MQL*Error)
     │    ├── AuthenticationError      401, a refused login, or no token at all (MetaCatAuthError)
     │    │    └── AuthExpiredError        the token has expired: log in again
     │    ├── PermissionDeniedError    403 (MetaCatPermissionDenied; catalog: CatalogPermissionDenied)
     │    ├── NotFoundError            404 (MetaCatNotFound; catalog: CatalogNotFound)
     │    ├── AlreadyExistsError       409 (MetaCatAlreadyExists; catalog: CatalogExists)
     │    └── ServerError              5xx, also after the retries ran out (MetaCatServerError)
     │         ├── EndpointUnavailableError  the server lacks an optional endpoint
     │         └── InvalidResponseError      a 200 answer that cannot be used: not JSON where
     │                                       JSON is due, a bad json-seq record, a body that
     │                                       expands too much, a redirect loop
     ├── RequestTimeoutError           no complete answer before the call's deadline
     │                                 (also a builtin TimeoutError; alias MetaCatTimeout)
     └── NetworkError                  connection refused or reset, DNS or TLS failure, a body cut
                                       short (also a builtin ConnectionError; alias MetaCatConnectionError)

The catalog engine's own classes (:mod:`dd_notebook.catalog.errors`) hang
under the matching class above and keep their ``http_status``; their
``url`` is ``None`` because no request was made.

For code written against the upstream clients, :class:`HTTPError` also
answers to ``URL``, ``StatusCode``, ``Body`` and ``Message``, and
``WebAPIError`` is another name of it (upstream MetaCat's class).
"""

from __future__ import annotations

import time

__all__ = [
    "AlreadyExistsError",
    "AuthExpiredError",
    "AuthenticationError",
    "BadRequestError",
    "DDNotebookError",
    "DataDispatcherError",
    "EndpointUnavailableError",
    "HTTPError",
    "InvalidResponseError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "RequestTimeoutError",
    "ServerError",
    "WebAPIError",
    "expired_message",
]


class DDNotebookError(Exception):
    """Root of every error dd-notebook raises on purpose."""


#: The client's historical name of the root (``except DataDispatcherError`` catches everything).
DataDispatcherError = DDNotebookError


class HTTPError(DDNotebookError):
    """The server answered with a status other than 200.

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


#: Upstream MetaCat's name of :class:`HTTPError`.
WebAPIError = HTTPError


class BadRequestError(HTTPError):
    """The request was rejected as malformed (400); the message names the problem."""


class AuthenticationError(HTTPError):
    """Authentication failed (401), a login was refused, or no token is available."""


class AuthExpiredError(AuthenticationError):
    """The authentication token has expired; the user must log in again.

    Args:
        url: The requested URL (``None`` when found out before sending).
        status: HTTP status code (``None`` when found out before sending).
        expiration: The token's ``exp`` claim (epoch seconds) when known.
        body: The raw response body.
        message: What happened and how to log in again; default: when the token expired.

    Attributes:
        expiration: The token's ``exp`` claim (epoch seconds) when known.
    """

    def __init__(self, url: str | None, status: int | None, expiration: float | None, body: str | None = None,
                 *, message: str | None = None) -> None:
        super().__init__(url, status, message or expired_message(expiration), body)
        self.expiration = expiration


class PermissionDeniedError(HTTPError):
    """The authenticated user may not do this (403)."""


class NotFoundError(HTTPError):
    """The object (project, handle, RSE, dataset, file, namespace) or the endpoint does not exist (404)."""


class AlreadyExistsError(HTTPError):
    """The object to create exists already (409)."""


class ServerError(HTTPError):
    """The server failed while handling the request (5xx), or stayed busy until the deadline."""


class EndpointUnavailableError(ServerError):
    """An optional endpoint is missing or broken on this server (upstream servers answer 500)."""


class InvalidResponseError(ServerError):
    """A 200 answer that cannot be used (wrong type, malformed JSON, too big once decompressed, redirect loop)."""


class RequestTimeoutError(DDNotebookError, TimeoutError):
    """No complete answer arrived before the call's deadline."""


class NetworkError(DDNotebookError, ConnectionError):
    """The server could not be reached, or the connection broke (refused, reset, DNS, TLS, truncated body)."""


def expired_message(expiration: float | None) -> str:
    """Return the default text of an :class:`AuthExpiredError` for a token expiring at ``expiration``."""
    if expiration is None:
        when = "an unknown time"
    else:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(expiration))
    return f"token expired at {when}: log in again"
