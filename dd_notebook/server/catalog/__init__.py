"""A MetaCat-compatible file catalog on SQLite: MQL engine, Python API and web app.

Data flows one way::

    MQL text ─► mql.parser (own Lark LALR grammar) ─► mql.nodes (syntax tree)
             ─► mql.compiler + mql.meta_sql ─► one parameterised SQL statement
             ─► querying (lazy batches) ─► records (dicts, or json-seq bytes)
             ─► api.Catalog (Python) / app + app_query + app_write (HTTP, mounted at /metacat/app)

Modules: ``schema`` (tables, SQL functions, hot-key index), ``errors``,
``validation``, ``namespaces`` / ``datasets`` / ``files`` (catalog objects),
``replicas`` (rows in the DD server's ``rses``/``replicas`` tables),
``demo`` + ``demo_data`` (deterministic DUNE-like demo catalog), ``sample``
(a tiny fixed catalog for examples and tests), ``clock``, ``web`` (HTTP helpers on the
server's core). Writes go through the server's one transaction helper
(:func:`dd_notebook.server.core.transactions.transaction`).

Example:
    >>> from dd_notebook.server.catalog import Catalog
    >>> cat = Catalog.open(":memory:")
    >>> cat.list_namespaces()
    []
"""

from .api import Catalog
from .errors import (
    CatalogError,
    CatalogExists,
    CatalogInvalidInput,
    CatalogNotFound,
    CatalogPermissionDenied,
    MQLCompilationError,
    MQLError,
    MQLSyntaxError,
)
from .schema import DEFAULT_HOT_KEYS, connect, ensure_schema

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
