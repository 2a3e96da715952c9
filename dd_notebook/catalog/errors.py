"""Exceptions of the catalog engine.

Every exception carries the HTTP status the catalog's web layer answers with::

    CatalogError (500)              base class of everything raised on purpose
    ├── CatalogInvalidInput (400)   a bad name, value, JSON shape or parameter
    │   └── MQLError (400)          a query that cannot be run
    │       ├── MQLSyntaxError      the text does not parse; message points at line/column
    │       └── MQLCompilationError parses, but means nothing (unknown attribute, bad regex, ...)
    ├── CatalogPermissionDenied (403)
    ├── CatalogNotFound (404)       unknown namespace, dataset or file
    └── CatalogExists (409)         namespace, dataset or file already exists
"""

from __future__ import annotations

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


class CatalogError(Exception):
    """Base class of the catalog's own exceptions.

    Args:
        message: One-line (or short multi-line) plain-text description.
    """

    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CatalogInvalidInput(CatalogError):
    """Bad input: malformed name, wrong JSON type, out-of-range value."""

    http_status = 400


class CatalogPermissionDenied(CatalogError):
    """The user may not change this namespace or dataset."""

    http_status = 403


class CatalogNotFound(CatalogError):
    """A namespace, dataset or file does not exist."""

    http_status = 404


class CatalogExists(CatalogError):
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
