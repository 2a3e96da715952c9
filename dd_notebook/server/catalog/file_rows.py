"""The trusted bulk insert of catalog file rows (declarations, chunked loads and the demo loader)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from .datasets import add_to_dataset
from .schema import add_hot_values, index_new_files

__all__ = ["FileRow", "insert_file_rows"]

FileRow = tuple[int, str, str, str, str | None, int | None, str | None, str, float]
"""``(id, fid, namespace, name, creator, size, checksums JSON, metadata JSON, created_timestamp)``."""

_INSERT = ("INSERT INTO mc_files(id, fid, namespace, name, creator, size, checksums, metadata, created_timestamp) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def insert_file_rows(conn: sqlite3.Connection, rows: Iterable[FileRow], links: Iterable[tuple[int, int]] = (),
                     dataset: int | None = None, member_ids: Iterable[int] = (),
                     hot: Iterable[tuple[int, int, Any, int]] | None = None, count_members: bool = True) -> None:
    """Trusted bulk path (also used by the demo loader): insert pre-validated rows with explicit ids.

    Call inside a write transaction. Without ``hot``, the rows must have ids above the current
    maximum (their hot values are then indexed from the stored JSON by id).

    Args:
        conn: Catalog connection.
        rows: :data:`FileRow` tuples.
        links: ``(parent_id, child_id)`` provenance pairs.
        dataset: Dataset id to add ``member_ids`` to.
        member_ids: Ids of files to add to ``dataset``.
        hot: The rows' ``mc_meta_values`` entries (see :func:`.schema.hot_values`); None derives them
            from the stored JSON.
        count_members: Count the new members into the dataset's ``file_count`` now (a chunked
            load counts them all at its end).
    """
    base = conn.execute("SELECT coalesce(max(id), 0) FROM mc_files").fetchone()[0]
    conn.executemany(_INSERT, rows)
    if hot is None:
        index_new_files(conn, base)
    else:
        add_hot_values(conn, list(hot))
    conn.executemany("INSERT OR IGNORE INTO mc_provenance(parent_id, child_id) VALUES (?, ?)", links)
    if dataset is not None:
        add_to_dataset(conn, dataset, member_ids, count=count_members)
