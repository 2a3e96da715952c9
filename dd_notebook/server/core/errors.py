"""Errors that the embedded server turns into plain-text HTTP answers."""

from __future__ import annotations


class ResponseAborted(Exception):
    """A response failed after its 200 head was sent: raised so that the server drops the connection.

    A chunked body then never gets its last chunk, so the client sees an
    incomplete answer instead of a shorter one that looks complete. Whoever
    raises it logs the reason; the server does not log a traceback for it
    (:func:`~dd_notebook.server.serving.uvicorn_config`).
    """


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
