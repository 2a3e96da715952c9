"""Datasets: create, read, list, subsets, membership and counts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from ..core.transactions import transaction
from .clock import now
from .errors import CatalogExists, CatalogInvalidInput, CatalogNotFound
from .records import dataset_columns, dataset_dict, named_rows
from .validation import check_bool, check_metadata, check_name

__all__ = [
    "add_child_dataset",
    "add_to_dataset",
    "create_dataset",
    "dataset_counts",
    "dataset_id",
    "get_dataset",
    "list_datasets",
]


def _requirements(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise CatalogInvalidInput("file_meta_requirements must be an object of {key: {required, values, min, "
                                  "max, pattern}}")
    check_metadata(value, "file_meta_requirements")
    return value


def create_dataset(conn: sqlite3.Connection, namespace: str, name: str, *, creator: str | None = None,
                   frozen: bool = False, monotonic: bool = False, metadata: dict[str, Any] | None = None,
                   file_meta_requirements: dict[str, Any] | None = None,
                   description: str | None = None) -> dict[str, Any]:
    """Create an empty dataset in an existing namespace.

    Raises:
        CatalogInvalidInput: bad name, flag or metadata.
        CatalogNotFound: the namespace does not exist.
        CatalogExists: the dataset exists.
    """
    check_name(namespace, "namespace")
    check_name(name, "dataset name")
    meta = orjson.dumps(check_metadata(metadata, "dataset metadata")).decode()
    requirements = orjson.dumps(_requirements(file_meta_requirements)).decode()
    if description is not None and not isinstance(description, str):
        raise CatalogInvalidInput("description must be a string")
    with transaction(conn):
        if not conn.execute("SELECT 1 FROM mc_namespaces WHERE name = ?", (namespace,)).fetchone():
            raise CatalogNotFound(f"namespace {namespace} not found")
        if conn.execute("SELECT 1 FROM mc_datasets WHERE namespace = ? AND name = ?", (namespace, name)).fetchone():
            raise CatalogExists(f"dataset {namespace}:{name} already exists")
        conn.execute("INSERT INTO mc_datasets(namespace, name, frozen, monotonic, metadata, file_meta_requirements, "
                     "creator, description, created_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (namespace, name, int(check_bool(frozen, "frozen")), int(check_bool(monotonic, "monotonic")),
                      meta, requirements, creator, description, now()))
    return get_dataset(conn, namespace, name)


def dataset_id(conn: sqlite3.Connection, namespace: str, name: str) -> int:
    """Return the internal id of a dataset.

    Raises:
        CatalogNotFound: no such dataset.
    """
    row = conn.execute("SELECT id FROM mc_datasets WHERE namespace = ? AND name = ?", (namespace, name)).fetchone()
    if row is None:
        raise CatalogNotFound(f"dataset {namespace}:{name} not found")
    return row[0]


def get_dataset(conn: sqlite3.Connection, namespace: str, name: str) -> dict[str, Any]:
    """Return one dataset object (``file_count`` is always exact here).

    Raises:
        CatalogNotFound: no such dataset.
    """
    row = next(named_rows(conn.execute(f"SELECT {dataset_columns()} FROM mc_datasets d WHERE d.namespace = ? "
                                       "AND d.name = ?", (namespace, name))), None)
    if row is None:
        raise CatalogNotFound(f"dataset {namespace}:{name} not found")
    return dataset_dict(row)


def list_datasets(conn: sqlite3.Connection, namespace: str | None = None) -> list[dict[str, Any]]:
    """Return all datasets (or those of one namespace) sorted by namespace and name."""
    sql = f"SELECT {dataset_columns()} FROM mc_datasets d"
    args: tuple[Any, ...] = ()
    if namespace is not None:
        sql += " WHERE d.namespace = ?"
        args = (namespace,)
    return [dataset_dict(row) for row in named_rows(conn.execute(sql + " ORDER BY d.namespace, d.name", args))]


def add_child_dataset(conn: sqlite3.Connection, parent: tuple[str, str], child: tuple[str, str]) -> None:
    """Make ``child`` a subset of ``parent`` (both ``(namespace, name)``); cycles are refused.

    Raises:
        CatalogNotFound: either dataset does not exist.
        CatalogInvalidInput: the link would create a cycle.
    """
    with transaction(conn):
        parent_id, child_id = dataset_id(conn, *parent), dataset_id(conn, *child)
        cycle = conn.execute(
            "WITH RECURSIVE down(id) AS (SELECT ? UNION SELECT c.child_id FROM mc_dataset_children c "
            "JOIN down ON c.parent_id = down.id) SELECT 1 FROM down WHERE id = ?", (child_id, parent_id)).fetchone()
        if cycle:
            raise CatalogInvalidInput(f"{child[0]}:{child[1]} cannot become a subset of {parent[0]}:{parent[1]}: "
                                      "that would create a cycle")
        conn.execute("INSERT OR IGNORE INTO mc_dataset_children(parent_id, child_id) VALUES (?, ?)",
                     (parent_id, child_id))


def add_to_dataset(conn: sqlite3.Connection, target: int, file_ids: Iterable[int], count: bool = True) -> int:
    """Add files (internal ids) to dataset ``target``; return how many were new. Call inside a transaction.

    With ``count=False`` the dataset's ``file_count`` is left for the caller to update.
    """
    before = conn.total_changes
    conn.executemany("INSERT OR IGNORE INTO mc_dataset_files(dataset_id, file_id) VALUES (?, ?)",
                     ((target, file_id) for file_id in file_ids))
    added = conn.total_changes - before
    if added and count:
        conn.execute("UPDATE mc_datasets SET file_count = file_count + ? WHERE id = ?", (added, target))
    return added


def dataset_counts(conn: sqlite3.Connection, namespace: str, name: str) -> dict[str, Any]:
    """Return ``{dataset, file_count, parent_count, child_count, superset_count, subset_count}``."""
    target = dataset_id(conn, namespace, name)
    file_count = conn.execute("SELECT file_count FROM mc_datasets WHERE id = ?", (target,)).fetchone()[0]

    def related(direction: str) -> tuple[int, int]:
        near, far = ("child_id", "parent_id") if direction == "up" else ("parent_id", "child_id")
        direct = conn.execute(f"SELECT count(*) FROM mc_dataset_children WHERE {near} = ?", (target,)).fetchone()[0]
        total = conn.execute(
            f"WITH RECURSIVE walk(id) AS (SELECT {far} FROM mc_dataset_children WHERE {near} = ?1 "
            f"UNION SELECT c.{far} FROM mc_dataset_children c JOIN walk ON c.{near} = walk.id) "
            "SELECT count(*) FROM walk", (target,)).fetchone()[0]
        return direct, total

    parents, supersets = related("up")
    children, subsets = related("down")
    return {"dataset": f"{namespace}:{name}", "file_count": file_count, "parent_count": parents,
            "child_count": children, "superset_count": supersets, "subset_count": subsets}
