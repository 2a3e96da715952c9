"""Big catalog loads written in committed chunks, invisible until the last one.

A ``declare_files`` of 10^5 files in one transaction holds SQLite's write
lock for seconds, and the DD server's next write (dispatch) waits for it
meanwhile. A load bigger than :data:`LOAD_CHUNK_FILES` is therefore written
in chunks, each its own short transaction, so other writers get the lock in
between. Its id range is recorded in ``mc_loading`` first, and every read of
``mc_files`` skips the ids of a load still in that table
(:func:`.schema.visible`); the last short transaction removes the row and
counts the files into their dataset, so the load appears all at once.

A load that fails is removed again (:func:`remove_load`); one cut short by a
crash is removed when the server starts (:func:`recover_loads`). The
statistics of hot metadata values (``mc_meta_stats``, used only to plan
queries) are corrected as the rows are removed.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence

import orjson

from ..core.transactions import transaction
from .file_rows import FileRow, insert_file_rows
from .replicas import Replica, add_replicas
from .schema import hot_key_ids, hot_values

__all__ = ["LOAD_CHUNK_FILES", "load_in_chunks", "recover_loads", "remove_load"]

log = logging.getLogger(__name__)

#: Files per committed chunk (a few tens of milliseconds of write lock); a load of more is written in chunks.
LOAD_CHUNK_FILES = 2_000
#: Pause after each chunk (seconds), so that a writer waiting in SQLite's busy handler gets the lock.
CHUNK_PAUSE_S = 0.01


def after_chunk(chunk: int) -> None:
    """Called with the chunk number after each committed chunk (tests replace it to hold or break a load)."""




def load_in_chunks(conn: sqlite3.Connection, rows: Sequence[FileRow], links: Sequence[tuple[int, int]],
                   dataset: int | None, replicas: Sequence[Sequence[Replica]]) -> None:
    """Write the rows of a load whose id range is already in ``mc_loading``, then make it visible.

    Args:
        conn: Catalog connection, not inside a transaction.
        rows: ``mc_files`` rows with consecutive ids, in id order.
        links: ``(parent_id, child_id)`` provenance pairs.
        dataset: Dataset the files join (counted in at the end), or None.
        replicas: Each file's replicas, in the order of ``rows``.

    Raises:
        Exception: whatever a chunk raised, after the load was removed again.
    """
    first_id, last_id = rows[0][0], rows[-1][0]
    keys = hot_key_ids(conn)
    by_child: dict[int, list[tuple[int, int]]] = {}
    for parent, child in links:
        by_child.setdefault((child - first_id) // LOAD_CHUNK_FILES, []).append((parent, child))
    try:
        for number, start in enumerate(range(0, len(rows), LOAD_CHUNK_FILES)):
            chunk = rows[start:start + LOAD_CHUNK_FILES]
            hot = [value for row in chunk for value in hot_values(orjson.loads(row[7]), row[0], keys)]
            with transaction(conn):
                insert_file_rows(conn, chunk, by_child.get(number, []), dataset, [row[0] for row in chunk], hot,
                                 count_members=False)
                chunk_replicas = [r for file_replicas in replicas[start:start + LOAD_CHUNK_FILES]
                                  for r in file_replicas]
                if chunk_replicas:
                    add_replicas(conn, chunk_replicas)
            after_chunk(number)
            time.sleep(CHUNK_PAUSE_S)
        with transaction(conn):
            if dataset is not None:
                conn.execute("UPDATE mc_datasets SET file_count = file_count + ? WHERE id = ?", (len(rows), dataset))
            conn.execute("DELETE FROM mc_loading WHERE first_id = ?", (first_id,))
    except Exception:
        remove_load(conn, first_id, last_id)
        raise


def remove_load(conn: sqlite3.Connection, first_id: int, last_id: int) -> None:
    """Remove the files of an unfinished load (ids ``first_id..last_id``), all that hangs on them, and its mark."""
    span = (first_id, last_id)
    with transaction(conn):
        stats = conn.execute("SELECT count(*), key_id, vtype, value FROM mc_meta_values WHERE file_id BETWEEN ? AND ? "
                             "GROUP BY key_id, vtype, value", span).fetchall()
        conn.executemany("UPDATE mc_meta_stats SET count = count - ? WHERE key_id = ? AND vtype = ? AND value = ?",
                         [tuple(row) for row in stats])
        conn.execute("DELETE FROM mc_meta_stats WHERE count <= 0")
        conn.execute("DELETE FROM mc_meta_values WHERE file_id BETWEEN ? AND ?", span)
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'replicas'").fetchone():
            conn.execute("DELETE FROM replicas WHERE (namespace, name) IN "
                         "(SELECT namespace, name FROM mc_files WHERE id BETWEEN ? AND ?)", span)
        conn.execute("DELETE FROM mc_provenance WHERE child_id BETWEEN ? AND ? OR parent_id BETWEEN ? AND ?",
                     span + span)
        conn.execute("DELETE FROM mc_dataset_files WHERE file_id BETWEEN ? AND ?", span)
        conn.execute("DELETE FROM mc_files WHERE id BETWEEN ? AND ?", span)
        conn.execute("DELETE FROM mc_loading WHERE first_id = ?", (first_id,))


def recover_loads(conn: sqlite3.Connection) -> int:
    """Remove the loads a crash cut short (run once, when the server starts); return how many there were."""
    unfinished = conn.execute("SELECT first_id, last_id FROM mc_loading").fetchall()
    for first_id, last_id in unfinished:
        log.warning("removing catalog files %d..%d of a load cut short", first_id, last_id)
        remove_load(conn, first_id, last_id)
    return len(unfinished)
