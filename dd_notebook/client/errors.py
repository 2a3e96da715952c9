"""Exceptions raised by :class:`dd_notebook.client.DataDispatcherClient`, and the status → class mapping.

The classes are dd-notebook's one exception tree (drawn in :mod:`dd_notebook.errors`),
shared with the MetaCat client and the catalog engine: ``except DataDispatcherError``
(the root, also named ``DDNotebookError``) catches every error the package raises.
"""

from __future__ import annotations

import html
import re
import time

from ..errors import (
    AlreadyExistsError,
    AuthenticationError,
    AuthExpiredError,
    BadRequestError,
    DataDispatcherError,
    DDNotebookError,
    EndpointUnavailableError,
    HTTPError,
    InvalidResponseError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RequestTimeoutError,
    ServerError,
    WebAPIError,
    expired_message,
)

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
    "auth_message",
    "error_for_status",
    "expired_message",
]

_H3 = re.compile(r"<h3>(.*?)</h3>", re.S)

_BY_STATUS: dict[int, type[HTTPError]] = {
    400: BadRequestError, 403: PermissionDeniedError, 404: NotFoundError, 409: AlreadyExistsError,
}


def _server_message(body: str, content_type: str) -> str:
    """Extract a one-line message from an error body (plain text, JSON or an HTML error page)."""
    text = body.strip()
    if "html" in content_type.lower() and text.startswith("<"):
        match = _H3.search(text)
        if match:
            return html.unescape(match.group(1)).strip() or text
    return text


def auth_message(text: str, user: str | None, server_url: str, advice: str,
                 expiration: float | None = None, expired: bool = False) -> str:
    """The text of an authentication error: what happened, whose token, which server, how to log in again.

    Args:
        text: The server's message (unused for an expired token).
        user: The token's user, or ``None`` without a token.
        server_url: The server the token is for.
        advice: How to log in (e.g. ``client.login_password(user, password)``).
        expiration: The token's ``exp``.
        expired: The token has expired.
    """
    if expired:
        when = "an unknown time" if expiration is None else time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                           time.gmtime(expiration))
        return f"the token of user {user!r} for {server_url} expired at {when}: log in again with {advice}"
    if user is None:
        return f"{text}: no user is logged in to {server_url}; log in with {advice}"
    return f"{text} (token of user {user!r} for {server_url}): log in again with {advice}"


def error_for_status(
    url: str,
    status: int,
    body: str,
    content_type: str = "",
    json_message: str | None = None,
    token_expiration: float | None = None,
    login: tuple[str | None, str, str] | None = None,
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
        login: ``(user, server URL, how to log in)`` for the text of 401 errors (see :func:`auth_message`).

    Returns:
        An :class:`HTTPError` subclass instance (not raised).
    """
    message = json_message if json_message else _server_message(body, content_type)
    if status == 401:
        expired = (token_expiration is not None and token_expiration <= time.time()) or \
            "token expired" in message.lower()
        if login is not None:
            message = auth_message(message, *login, expiration=token_expiration, expired=expired)
        if expired:
            return AuthExpiredError(url, status, token_expiration, body, message=message if login else None)
        return AuthenticationError(url, status, message, body)
    cls = _BY_STATUS.get(status) or (ServerError if 500 <= status < 600 else HTTPError)
    return cls(url, status, message, body)
