"""The one write-transaction helper of the server, for the DD, auth and catalog services.

A block runs all-or-nothing. Which transaction it runs in depends on the connection:

* the DD server's own connection, on the event loop (it carries a
  :class:`~.group_commit.GroupCommit`): a savepoint of the shared transaction
  of this loop turn, committed with the other requests of the turn;
* a connection that is already inside a transaction (the caller opened it): a
  savepoint of that transaction, so the caller decides when to commit, and a
  failing block leaves the caller's earlier work in place;
* any other connection: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any
  exception. Taking the write lock up front avoids a deadlock-prone upgrade
  from a read lock while another connection writes to the same file.

No helper ever commits a transaction its caller opened.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

__all__ = ["transaction"]


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one write transaction (or a savepoint of the caller's): all of it, or nothing.

    Args:
        conn: A connection to the server's file (autocommit or Python's default mode).

    Yields:
        The same connection.
    """
    group = getattr(conn, "group", None)
    if group is not None and group.applies():
        with group.request():
            yield conn
        return
    if conn.in_transaction:
        conn.execute("SAVEPOINT nested_block")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO nested_block")
            conn.execute("RELEASE nested_block")
            raise
        conn.execute("RELEASE nested_block")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
