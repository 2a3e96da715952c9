"""Exceptions of the catalog engine, hung under dd-notebook's one exception tree (:mod:`dd_notebook.errors`).

Every exception carries the HTTP status the catalog's web layer answers with,
and derives from the tree's class of the same meaning, so ``except
NotFoundError`` catches a missing catalog dataset as well as a missing DD
project (``url`` is ``None``: no request was made)::

    CatalogError (500)              base class of everything raised on purpose   (HTTPError)
    ├── CatalogInvalidInput (400)   a bad name, value, JSON shape or parameter   (BadRequestError)
    │   └── MQLError (400)          a query that cannot be run
    │       ├── MQLSyntaxError      the text does not parse; message points at line/column
    │       └── MQLCompilationError parses, but means nothing (unknown attribute, bad regex, ...)
    ├── CatalogPermissionDenied (403)                                            (PermissionDeniedError)
    ├── CatalogNotFound (404)       unknown namespace, dataset or file           (NotFoundError)
    └── CatalogExists (409)         namespace, dataset or file already exists   (AlreadyExistsError)
"""

from __future__ import annotations

from ...errors import AlreadyExistsError, BadRequestError, HTTPError, NotFoundError, PermissionDeniedError

__all__ = [
    "CatalogError",
    "CatalogExists",
    "CatalogInvalidInput",
    "CatalogNotFound",
    "CatalogPermissionDenied",
    "MQLCompilationError",
    "MQLError",
    "MQLSyntaxError",
]


class CatalogError(HTTPError):
    """Base class of the catalog's own exceptions.

    Args:
        message: One-line (or short multi-line) plain-text description.

    Attributes:
        http_status: The status the catalog's web layer answers with (also ``status``).
    """

    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(None, self.http_status, message)


class CatalogInvalidInput(CatalogError, BadRequestError):
    """Bad input: malformed name, wrong JSON type, out-of-range value."""

    http_status = 400


class CatalogPermissionDenied(CatalogError, PermissionDeniedError):
    """The user may not change this namespace or dataset."""

    http_status = 403


class CatalogNotFound(CatalogError, NotFoundError):
    """A namespace, dataset or file does not exist."""

    http_status = 404


class CatalogExists(CatalogError, AlreadyExistsError):
    """A namespace, dataset or file already exists."""

    http_status = 409


class MQLError(CatalogInvalidInput):
    """A query that cannot be run."""


class MQLSyntaxError(MQLError):
    """The query text does not parse.

    Args:
        message: Description including the line and column of the problem.
        line: 1-based line of the offending character (0 when unknown).
        column: 1-based column of the offending character (0 when unknown).
    """

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


class MQLCompilationError(MQLError):
    """The query parses but cannot be translated (unknown attribute, invalid regex, ...)."""
