"""Python client of the Fermilab Data Dispatcher, compatible with the upstream ``DataDispatcherClient``.

Every error it raises derives from :class:`DataDispatcherError` (the package's one root,
also named ``DDNotebookError``; the tree is drawn in :mod:`dd_notebook.errors`).

Example:
    >>> from dd_notebook.client import DataDispatcherClient, NotFoundError  # doctest: +SKIP
"""

from .api import DataDispatcherClient
from .errors import (
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
)
from .tokens import Token, TokenLibrary

__all__ = [
    "AlreadyExistsError",
    "AuthExpiredError",
    "AuthenticationError",
    "BadRequestError",
    "DDNotebookError",
    "DataDispatcherClient",
    "DataDispatcherError",
    "EndpointUnavailableError",
    "HTTPError",
    "InvalidResponseError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "RequestTimeoutError",
    "ServerError",
    "Token",
    "TokenLibrary",
    "WebAPIError",
]
