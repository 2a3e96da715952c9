"""Small SQLite helpers shared by the catalog modules."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

__all__ = ["now", "write_transaction"]


def now() -> float:
    """Current time as float epoch seconds (the catalog's timestamp unit)."""
    return time.time()


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on any exception).

    Taking the write lock up front avoids a deadlock-prone upgrade from a read
    lock when another connection (the DD server) writes to the same file.
    """
    if conn.in_transaction:
        conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
