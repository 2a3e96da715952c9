"""Group commit: the requests handled in one turn of the event loop share one COMMIT.

Endpoints run one after the other on the event loop. Instead of committing
each request's transaction on its own (the COMMIT is the most expensive step of
a dispatch request), every request runs inside a SAVEPOINT of one open
transaction: a failing request rolls back to its savepoint and leaves nothing
behind, the others keep their changes. At the end of the loop turn one COMMIT
makes all of them durable, and only then are their responses sent. A client
therefore never sees an answer whose changes a crash could still undo.

The connection's automatic WAL checkpoint is turned off: it runs inside the
COMMIT that crosses its threshold, on the event loop, and after a big write
(or while a long listing holds an old snapshot) it can copy hundreds of
megabytes back into the database at once. A passive checkpoint runs instead
in a worker thread on its own connection whenever the WAL has grown by
:data:`CHECKPOINT_BYTES`; it never blocks the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

#: WAL growth (bytes) after which a passive checkpoint is started off the loop (SQLite's default is 1000 pages).
CHECKPOINT_BYTES = 4 * 1024 * 1024


class CommitFailed(Exception):
    """The group's COMMIT failed; every change of the group was rolled back."""


class GroupCommit:
    """Shares one transaction between the requests of one event-loop turn.

    Args:
        conn: The server's connection (autocommit mode).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.open = False
        self._pending: asyncio.Future[None] | None = None
        self._db_path = conn.execute("PRAGMA database_list").fetchone()[2]
        self._checkpointing = threading.Lock()
        if self._db_path:
            conn.execute("PRAGMA wal_autocheckpoint=0")

    @staticmethod
    def applies() -> bool:
        """True on the event loop's thread; writes made anywhere else commit at once."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    @contextlib.contextmanager
    def request(self) -> Iterator[sqlite3.Connection]:
        """Run one request's writes in a savepoint of the shared transaction."""
        if not self.open:
            self.conn.execute("BEGIN IMMEDIATE")
            self.open = True
        self.conn.execute("SAVEPOINT request")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK TO request")
            self.conn.execute("RELEASE request")
            raise
        self.conn.execute("RELEASE request")

    async def flush(self) -> None:
        """Wait until the shared transaction (if any) is committed.

        Raises:
            CommitFailed: the COMMIT failed and the group's changes are gone.
        """
        if not self.open:
            return
        if self._pending is None:
            loop = asyncio.get_running_loop()
            self._pending = loop.create_future()
            loop.call_soon(self._commit)
        await asyncio.shield(self._pending)

    def _commit(self) -> None:
        pending, self._pending = self._pending, None
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.exception("group commit failed; rolling back")
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            if pending is not None:
                pending.set_exception(CommitFailed(str(exc)))
        else:
            if pending is not None:
                pending.set_result(None)
            self._maybe_checkpoint()
        finally:
            self.open = False

    def _maybe_checkpoint(self) -> None:
        """Start a passive checkpoint in a thread when the WAL is big and none is running."""
        if not self._db_path:
            return
        try:
            size = os.stat(self._db_path + "-wal").st_size
        except OSError:
            return
        if size >= CHECKPOINT_BYTES and self._checkpointing.acquire(blocking=False):
            threading.Thread(target=self._checkpoint, name="dd-wal-checkpoint", daemon=True).start()

    def _checkpoint(self) -> None:
        try:
            conn = sqlite3.connect(self._db_path, timeout=10, check_same_thread=False)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            log.warning("background WAL checkpoint failed; the next one retries", exc_info=True)
        finally:
            self._checkpointing.release()
