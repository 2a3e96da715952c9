"""The :class:`Catalog` facade: one object with the whole Python API of the catalog engine."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from . import datasets, files, namespaces, querying
from .mql import nodes
from .schema import DEFAULT_HOT_KEYS, connect, ensure_schema, register_functions
from .validation import parse_did

__all__ = ["Catalog"]


class Catalog:
    """A MetaCat-compatible file catalog stored in SQLite tables prefixed ``mc_``.

    A ``Catalog`` wraps one connection; use it from one thread at a time (open
    one per thread, as the web layer does).

    Args:
        conn: Open connection (the schema is created if missing).
        hot_keys: Metadata keys kept in the inverted index used to speed up queries.

    Example:
        >>> cat = Catalog.open(":memory:")
        >>> _ = cat.create_namespace("demo", owner_user="me")
        >>> _ = cat.create_dataset("demo", "set")
        >>> _ = cat.declare_files([{"name": "a.root", "size": 1, "metadata": {"core.runs": [7]}}],
        ...                       namespace="demo", dataset="demo:set")
        >>> [f["name"] for f in cat.query("files from demo:set where 7 in core.runs")]
        ['a.root']
    """

    def __init__(self, conn: sqlite3.Connection, hot_keys: Iterable[str] = DEFAULT_HOT_KEYS) -> None:
        self.conn = conn
        register_functions(conn)
        ensure_schema(conn, hot_keys)

    @classmethod
    def open(cls, db_path: str | Path, hot_keys: Iterable[str] = DEFAULT_HOT_KEYS) -> Catalog:
        """Open (or create) a catalog in ``db_path``, in WAL mode."""
        conn = connect(db_path, create_schema=False)
        if str(db_path) != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        return cls(conn, hot_keys)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---------------------------------------------------------------- namespaces
    def create_namespace(self, name: str, *, owner_user: str | None = None, owner_role: str | None = None,
                         description: str | None = None, creator: str | None = None) -> dict[str, Any]:
        """Create a namespace and return it (see :func:`.namespaces.create_namespace`)."""
        return namespaces.create_namespace(self.conn, name, owner_user=owner_user, owner_role=owner_role,
                                           description=description, creator=creator)

    def get_namespace(self, name: str) -> dict[str, Any]:
        """Return a namespace; raises :class:`CatalogNotFound`."""
        return namespaces.get_namespace(self.conn, name)

    def list_namespaces(self, *, owner_user: str | None = None, owner_role: str | None = None,
                        names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Return namespaces sorted by name, optionally filtered by owner or names."""
        return namespaces.list_namespaces(self.conn, owner_user=owner_user, owner_role=owner_role, names=names)

    # ---------------------------------------------------------------- datasets
    def create_dataset(self, namespace: str, name: str, *, creator: str | None = None, frozen: bool = False,
                       monotonic: bool = False, metadata: dict[str, Any] | None = None,
                       file_meta_requirements: dict[str, Any] | None = None,
                       description: str | None = None) -> dict[str, Any]:
        """Create an empty dataset and return it (see :func:`.datasets.create_dataset`)."""
        return datasets.create_dataset(self.conn, namespace, name, creator=creator, frozen=frozen,
                                       monotonic=monotonic, metadata=metadata,
                                       file_meta_requirements=file_meta_requirements, description=description)

    def get_dataset(self, namespace: str, name: str) -> dict[str, Any]:
        """Return a dataset; raises :class:`CatalogNotFound`."""
        return datasets.get_dataset(self.conn, namespace, name)

    def list_datasets(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Return all datasets, or those of ``namespace``."""
        return datasets.list_datasets(self.conn, namespace)

    def add_child_dataset(self, parent: str, child: str) -> None:
        """Make dataset ``child`` (``"ns:name"``) a subset of ``parent``."""
        datasets.add_child_dataset(self.conn, parse_did(parent, what="dataset"), parse_did(child, what="dataset"))

    def dataset_counts(self, namespace: str, name: str) -> dict[str, Any]:
        """Return file, parent, child, superset and subset counts of a dataset."""
        return datasets.dataset_counts(self.conn, namespace, name)

    def dataset_files(self, namespace: str, name: str, *, with_metadata: bool = False,
                      include_retired: bool = False) -> Iterator[dict[str, Any]]:
        """Return a lazy iterator of the files directly in a dataset; raises :class:`CatalogNotFound`."""
        datasets.dataset_id(self.conn, namespace, name)
        tree = nodes.DatasetFiles((nodes.DatasetSelector(namespace, name),))
        return querying.query_dicts(self.conn, tree, with_metadata=with_metadata, include_retired=include_retired)

    def add_files(self, dataset: str, specs: list[dict[str, Any]]) -> int:
        """Add existing files (``{fid}``/``{did}``/``{namespace, name}``) to ``dataset``; return the count added."""
        return files.add_files(self.conn, parse_did(dataset, what="dataset"), specs)

    # ---------------------------------------------------------------- files
    def declare_files(self, new_files: list[dict[str, Any]], *, namespace: str | None = None,
                      dataset: str | None = None, creator: str | None = None) -> list[dict[str, Any]]:
        """Validate and declare files in one transaction; return them (see :func:`.files.declare_files`)."""
        target = parse_did(dataset, what="dataset") if dataset is not None else None
        return files.declare_files(self.conn, new_files, namespace=namespace, dataset=target, creator=creator)

    def get_file(self, fid: str | None = None, *, did: str | None = None, namespace: str | None = None,
                 name: str | None = None, with_metadata: bool = True, with_provenance: bool = True,
                 with_datasets: bool = False) -> dict[str, Any]:
        """Return one file by fid, DID or namespace and name; raises :class:`CatalogNotFound`."""
        if did is not None:
            namespace, name = parse_did(did)
        return files.get_file(self.conn, fid=fid, namespace=namespace, name=name, with_metadata=with_metadata,
                              with_provenance=with_provenance, with_datasets=with_datasets)

    def get_files(self, specs: list[dict[str, Any]], *, with_metadata: bool = False,
                  with_provenance: bool = False) -> list[dict[str, Any]]:
        """Return the files named by ``specs``; unknown files are left out."""
        return files.get_files(self.conn, specs, with_metadata=with_metadata, with_provenance=with_provenance)

    def retire_file(self, fid: str | None = None, *, did: str | None = None, retired: bool = True,
                    by: str | None = None) -> dict[str, Any]:
        """Retire (or un-retire) a file and return it."""
        namespace, name = parse_did(did) if did is not None else (None, None)
        return files.retire_file(self.conn, fid=fid, namespace=namespace, name=name, retired=retired, by=by)

    # ---------------------------------------------------------------- queries
    def query(self, mql: str, *, namespace: str | None = None, with_metadata: bool = False,
              with_provenance: bool = False, include_retired: bool = False,
              limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Run an MQL file query; return a lazy iterator of file objects.

        Raises:
            MQLSyntaxError, MQLCompilationError, CatalogNotFound: immediately, before iteration.
        """
        return querying.query_dicts(self.conn, mql, namespace=namespace, with_metadata=with_metadata,
                                    with_provenance=with_provenance, include_retired=include_retired, limit=limit)

    def query_json_seq(self, mql: str, *, namespace: str | None = None, with_metadata: bool = False,
                       with_provenance: bool = False, include_retired: bool = False,
                       limit: int | None = None) -> Iterator[bytes]:
        """Like :meth:`query`, but yield ``application/json-seq`` byte chunks (what the web layer sends)."""
        return querying.query_json_seq(self.conn, mql, namespace=namespace, with_metadata=with_metadata,
                                       with_provenance=with_provenance, include_retired=include_retired,
                                       limit=limit)

    def summary(self, mql: str, kind: str = "count", *, namespace: str | None = None,
                include_retired: bool = False) -> Any:
        """Return ``{"count", "total_size"}`` or the sorted metadata keys of the query's files."""
        return querying.query_summary(self.conn, mql, kind, namespace=namespace, include_retired=include_retired)
