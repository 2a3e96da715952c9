"""Python client of the Fermilab Data Dispatcher, compatible with the upstream ``DataDispatcherClient``.

Example:
    >>> from dd_notebook.client import DataDispatcherClient, NotFoundError  # doctest: +SKIP
"""

from .api import DataDispatcherClient
from .errors import (
    AuthenticationError,
    AuthExpiredError,
    BadRequestError,
    DataDispatcherError,
    EndpointUnavailableError,
    HTTPError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RequestTimeoutError,
    ServerError,
    WebAPIError,
)
from .tokens import Token, TokenLibrary

__all__ = [
    "AuthExpiredError",
    "AuthenticationError",
    "BadRequestError",
    "DataDispatcherClient",
    "DataDispatcherError",
    "EndpointUnavailableError",
    "HTTPError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "RequestTimeoutError",
    "ServerError",
    "Token",
    "TokenLibrary",
    "WebAPIError",
]
