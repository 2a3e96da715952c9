"""Errors that the embedded server turns into plain-text HTTP answers."""

from __future__ import annotations


class HTTPError(Exception):
    """An expected failure answered with ``status`` and a one-line plain-text ``message``.

    Args:
        status: HTTP status code (4xx for bad input, 401/403 for auth problems).
        message: Plain text sent as the response body; it names the problem.
        headers: Extra response headers (e.g. ``WWW-Authenticate``).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> HTTPError:
    """Return a 400 error with ``message``."""
    return HTTPError(400, message)


def not_found(message: str) -> HTTPError:
    """Return a 404 error with ``message``."""
    return HTTPError(404, message)


def forbidden(message: str) -> HTTPError:
    """Return a 403 error with ``message``."""
    return HTTPError(403, message)


def unauthorized(message: str) -> HTTPError:
    """Return a 401 error with ``message``."""
    return HTTPError(401, message)
