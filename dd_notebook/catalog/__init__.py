"""The embedded MetaCat-compatible catalog, by its public names.

The catalog is one of the embedded server's services and lives in
:mod:`dd_notebook.server.catalog`; this module keeps its public names
importable from here.

Example:
    >>> from dd_notebook.catalog import Catalog
    >>> cat = Catalog.open(":memory:")
    >>> cat.list_namespaces()
    []
"""

from ..server.catalog import (
    DEFAULT_HOT_KEYS,
    Catalog,
    CatalogError,
    CatalogExists,
    CatalogInvalidInput,
    CatalogNotFound,
    CatalogPermissionDenied,
    MQLCompilationError,
    MQLError,
    MQLSyntaxError,
    connect,
    ensure_schema,
)

__all__ = [
    "DEFAULT_HOT_KEYS",
    "Catalog",
    "CatalogError",
    "CatalogExists",
    "CatalogInvalidInput",
    "CatalogNotFound",
    "CatalogPermissionDenied",
    "MQLCompilationError",
    "MQLError",
    "MQLSyntaxError",
    "connect",
    "ensure_schema",
]
