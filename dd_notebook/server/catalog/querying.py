"""Run MQL file queries: compile once, then stream rows as dicts or as json-seq bytes.

Compilation (parse, dataset lookup, planning) happens when the function is
called, so every query error is raised before the first result; rows are then
fetched lazily in batches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from .errors import MQLCompilationError
from .mql import nodes
from .mql.compiler import CompiledQuery, compile_query
from .mql.parser import parse
from .records import FileRecords, file_columns
from .schema import hot_key_ids

__all__ = ["add_query_results", "compile_mql", "execute", "query_dicts", "query_json_seq", "query_summary"]

#: Rows fetched from SQLite per batch.
FETCH_ROWS = 1000
#: Bytes of json-seq text gathered before a chunk is handed to the web server.
CHUNK_BYTES = 100_000
_RS = b"\x1e"


def compile_mql(conn: sqlite3.Connection, mql: str | nodes.FileQuery, *, namespace: str | None = None,
                include_retired: bool = False, limit: int | None = None) -> CompiledQuery:
    """Parse (unless ``mql`` is already a syntax tree) and compile an MQL file query for ``conn``.

    Raises:
        MQLSyntaxError: the text does not parse.
        MQLCompilationError: the query cannot be translated.
        CatalogNotFound: a named dataset does not exist.
    """
    tree = parse(mql, namespace) if isinstance(mql, str) else mql
    return compile_query(conn, tree, include_retired=include_retired, hot_keys=hot_key_ids(conn), limit=limit)


#: Texts of the SQLite errors that mean "statement beyond SQLite's compile-time limits".
_TOO_COMPLEX = ("parser stack overflow", "expression tree is too large", "too many terms in compound select",
                "too many sql variables", "too many from clause terms", "at most 64 tables in a join",
                "pattern too complex", "string or blob too big", "too many columns")


def execute(conn: sqlite3.Connection, sql: str, params: Any) -> sqlite3.Cursor:
    """Run a compiled query's statement; a statement beyond SQLite's limits raises :class:`MQLCompilationError`.

    Raises:
        MQLCompilationError: SQLite refused the statement as too deep or too big
            (its parser stack holds about 100 nested sub-queries and brackets, an
            expression at most 1000 levels, a compound select 500 members).
    """
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if any(text in str(exc).lower() for text in _TOO_COMPLEX):
            raise MQLCompilationError(
                "query is too complex for the catalog's SQL engine (limits: about 100 levels of nested "
                "sub-queries and brackets after compilation, expressions 1000 levels deep, 500 union members); "
                "nest fewer parents()/children()/sub-queries or split the query") from None
        raise


def _rows(cursor: sqlite3.Cursor) -> Iterator[list[Any]]:
    try:
        while True:
            batch = cursor.fetchmany(FETCH_ROWS)
            if not batch:
                return
            yield batch
    finally:
        cursor.close()


def query_dicts(conn: sqlite3.Connection, mql: str | nodes.FileQuery, *, namespace: str | None = None,
                with_metadata: bool = False, with_provenance: bool = False, include_retired: bool = False,
                limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Run a file query and return a lazy iterator of file objects (metacat-and-auth §2.3).

    Args:
        conn: Catalog connection.
        mql: Query text (or a parsed syntax tree).
        namespace: Default namespace for names without one.
        with_metadata: Include ``metadata``.
        with_provenance: Include ``parents`` and ``children`` (lists of ``{"fid"}``).
        include_retired: Keep retired files.
        limit: Return at most this many files.

    Raises:
        MQLError, CatalogNotFound: at call time, before any row is produced.
    """
    compiled = compile_mql(conn, mql, namespace=namespace, include_retired=include_retired, limit=limit)
    cursor = execute(conn, compiled.select(file_columns(with_metadata, with_provenance)), compiled.params)
    records, batches = FileRecords(cursor.description), _rows(cursor)

    def generate() -> Iterator[dict[str, Any]]:
        for batch in batches:
            for row in batch:
                yield records.dict(row)

    return generate()


def query_json_seq(conn: sqlite3.Connection, mql: str | nodes.FileQuery, *, namespace: str | None = None,
                   with_metadata: bool = False, with_provenance: bool = False, include_retired: bool = False,
                   limit: int | None = None) -> Iterator[bytes]:
    """Like :func:`query_dicts`, but yield ``application/json-seq`` chunks (``RS json LF`` records).

    The first chunk is yielded as soon as the first batch of rows is ready; later
    chunks gather about :data:`CHUNK_BYTES`.
    """
    compiled = compile_mql(conn, mql, namespace=namespace, include_retired=include_retired, limit=limit)
    cursor = execute(conn, compiled.select(file_columns(with_metadata, with_provenance)), compiled.params)
    records, batches = FileRecords(cursor.description), _rows(cursor)

    def generate() -> Iterator[bytes]:
        pending: list[bytes] = []
        size = 0
        first = True
        for batch in batches:
            for row in batch:
                record = records.json(row)
                pending.append(_RS + record + b"\n")
                size += len(record) + 2
            if first or size >= CHUNK_BYTES:
                yield b"".join(pending)
                pending, size, first = [], 0, False
        if pending:
            yield b"".join(pending)

    return generate()


def query_summary(conn: sqlite3.Connection, mql: str, kind: str, *, namespace: str | None = None,
                  include_retired: bool = False) -> Any:
    """Return ``{"count", "total_size"}`` (``kind="count"``) or the sorted metadata keys (``kind="keys"``).

    Raises:
        ValueError: ``kind`` is neither ``count`` nor ``keys``.
    """
    compiled = compile_mql(conn, mql, namespace=namespace, include_retired=include_retired)
    if kind == "count":
        inner = compiled.select("f.size")
        count, total = execute(conn, f"SELECT count(*), coalesce(sum(q.size), 0) FROM ({inner}) q",
                               compiled.params).fetchone()
        return {"count": count, "total_size": total}
    if kind == "keys":
        inner = compiled.select("f.metadata")
        sql = f"SELECT DISTINCT je.key FROM ({inner}) q, json_each(q.metadata) je ORDER BY 1"
        return [key for (key,) in execute(conn, sql, compiled.params)]
    raise ValueError(f"summary must be count or keys, not {kind!r}")


def add_query_results(conn: sqlite3.Connection, compiled: CompiledQuery, dataset_id: int) -> int:
    """Add every file of a compiled query to a dataset; return how many were new. Call in a write transaction."""
    inner = compiled.select("f.id")
    params = {**compiled.params, "target_dataset": dataset_id}
    before = conn.total_changes
    execute(conn, f"INSERT OR IGNORE INTO mc_dataset_files(dataset_id, file_id) SELECT :target_dataset, q.id "
                  f"FROM ({inner}) q", params)
    added = conn.total_changes - before
    if added:
        conn.execute("UPDATE mc_datasets SET file_count = file_count + ? WHERE id = ?", (added, dataset_id))
    return added
