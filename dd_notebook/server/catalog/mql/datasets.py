"""Resolve the dataset selectors of ``files from ...`` to dataset ids (at compile time)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import orjson

from ...core.regex import compile_user_regex
from ..errors import CatalogNotFound
from . import nodes as n
from .meta_sql import DATASET_TARGET, MetaCompiler
from .params import Params

__all__ = ["glob_pattern", "resolve_selectors"]


def glob_pattern(pattern: str) -> str:
    """Turn an MQL dataset pattern into a case-sensitive SQLite GLOB.

    ``*`` and ``%`` match any run of characters, ``?`` and ``_`` one character
    (as upstream, where the pattern becomes an SQL ``LIKE``).
    """
    return pattern.replace("%", "*").replace("_", "?")


def _named(conn: sqlite3.Connection, sel: n.DatasetSelector) -> list[int]:
    row = conn.execute("SELECT id FROM mc_datasets WHERE namespace = ? AND name = ?",
                       (sel.namespace, sel.name)).fetchone()
    if row is None:
        raise CatalogNotFound(f"dataset {sel.namespace}:{sel.name} not found")
    return [row[0]]


def _matching(conn: sqlite3.Connection, sel: n.DatasetSelector) -> list[int]:
    if sel.pattern is not None:
        rows = conn.execute("SELECT id FROM mc_datasets WHERE namespace = ? AND name GLOB ?",
                            (sel.namespace, glob_pattern(sel.pattern)))
        return [dataset_id for (dataset_id,) in rows]
    regex = compile_user_regex(sel.regexp or "")
    rows = conn.execute("SELECT id, name FROM mc_datasets WHERE namespace = ?", (sel.namespace,))
    return [dataset_id for dataset_id, name in rows if regex.search(name)]


def _subsets(conn: sqlite3.Connection, ids: list[int], recursively: bool) -> list[int]:
    seen = dict.fromkeys(ids)
    frontier = list(ids)
    while frontier:
        rows = conn.execute("SELECT child_id FROM mc_dataset_children WHERE parent_id IN "
                            "(SELECT value FROM json_each(?))", (orjson.dumps(frontier).decode(),))
        frontier = [child for (child,) in rows if child not in seen]
        seen.update(dict.fromkeys(frontier))
        if not recursively:
            break
    return list(seen)


def _having(conn: sqlite3.Connection, ids: list[int], expr: n.MetaExpr) -> list[int]:
    params = Params()
    predicate = MetaCompiler(DATASET_TARGET, params).predicate(expr)
    listed = params.add(orjson.dumps(ids).decode())
    sql = f"SELECT d.id FROM mc_datasets d WHERE d.id IN (SELECT value FROM json_each({listed})) AND {predicate}"
    return [dataset_id for (dataset_id,) in conn.execute(sql, params.values)]


def resolve_selectors(conn: sqlite3.Connection, selectors: Iterable[n.DatasetSelector]) -> tuple[list[int], int]:
    """Return the ids of the selected datasets and their total file count.

    A named dataset must exist; patterns may match nothing. ``with subsets``
    adds child datasets (all descendants with ``recursively``); ``having`` then
    keeps the datasets whose attributes and metadata satisfy the expression.

    Raises:
        CatalogNotFound: a named dataset does not exist.
    """
    chosen: dict[int, None] = {}
    for sel in selectors:
        ids = _named(conn, sel) if sel.name is not None else _matching(conn, sel)
        if sel.with_subsets and ids:
            ids = _subsets(conn, ids, sel.recursively)
        if sel.having is not None and ids:
            ids = _having(conn, ids, sel.having)
        chosen.update(dict.fromkeys(ids))
    if not chosen:
        return [], 0
    listed = orjson.dumps(list(chosen)).decode()
    total = conn.execute("SELECT coalesce(sum(file_count), 0) FROM mc_datasets WHERE id IN "
                         "(SELECT value FROM json_each(?))", (listed,)).fetchone()[0]
    return list(chosen), total
