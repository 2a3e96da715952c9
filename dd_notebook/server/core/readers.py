"""Read-only connections for big listings, used off the event loop.

Listings of 10^5 handles take a second or more to build; on the server's own
connection they would hold up every worker meanwhile. They run in a thread on
one of these connections instead, inside a read transaction, so the listing is
one consistent snapshot of committed data.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ReadConnections", "text_factory"]


@contextlib.contextmanager
def text_factory(conn: sqlite3.Connection, factory: Callable[[bytes], Any]) -> Iterator[sqlite3.Connection]:
    """Within the block, text values of ``conn`` are made by ``factory``, then as before.

    With ``bytes``, a text SQLite wrote that goes into a response body as it is
    (JSON built by SQLite) is taken as its UTF-8 bytes: no decode into ``str``
    and no encode back.
    """
    previous = conn.text_factory
    conn.text_factory = factory
    try:
        yield conn
    finally:
        conn.text_factory = previous


class ReadConnections:
    """A small pool of read-only connections to the server's SQLite file.

    Args:
        db_path: The SQLite file.
        size: Number of connections (listings that may be built at the same time).
    """

    def __init__(self, db_path: str, size: int = 2) -> None:
        self.db_path = db_path
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        for _ in range(size):
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False,
                                   isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=10000")
            self._idle.put(conn)
        self.size = size

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection inside a read transaction (one consistent snapshot)."""
        conn = self._idle.get()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        finally:
            self._idle.put(conn)

    def close(self) -> None:
        """Close every connection."""
        for _ in range(self.size):
            self._idle.get().close()
