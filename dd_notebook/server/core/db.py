"""The server's SQLite file: opening it with the server's pragmas, and keeping it private.

One file holds everything (DD tables unprefixed, catalog tables prefixed ``mc_``;
see :mod:`.schema`). Rows read by name: connections use :class:`sqlite3.Row`.
The file runs in WAL mode: readers never block the writer, and a committed
transaction survives a crash of the server process.

The file holds the token-signing secret and every user's digest hash, so it is
private to its owner: a missing data directory is created ``0700``, the
database and its ``-wal``/``-shm`` files ``0600`` (under umask ``077`` while
SQLite creates them, then checked with ``chmod``). An existing database that
other accounts can read is *fixed*, not refused: its permissions are set to
``0600`` and a warning names the file (another account may already have
copied it, so rotate passwords if the machine is shared). Only when the fix is
impossible (the file belongs to someone else) does :func:`connect` refuse,
with an :class:`InsecureDatabaseError` naming the ``chmod`` command to run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from .group_commit import GroupCommit
from .schema import create_schema

log = logging.getLogger(__name__)

#: Permission bits of the database files and of a data directory this module creates.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
_SIDE_FILES = ("", "-wal", "-shm", "-journal")
_UMASK_LOCK = threading.Lock()


class InsecureDatabaseError(RuntimeError):
    """The database can be read by other accounts and its permissions cannot be fixed."""


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Create files and directories without group/other bits while the block runs.

    The umask belongs to the whole process; the lock keeps two connects from
    interleaving, and files other threads create meanwhile only get stricter modes.
    """
    with _UMASK_LOCK:
        previous = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(previous)


def _make_private_dirs(directory: Path) -> None:
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=PRIVATE_DIR_MODE)


def make_private(path: str | Path) -> None:
    """Give the database ``path`` and its ``-wal``/``-shm``/``-journal`` files mode ``0600``.

    A file that other accounts could read is fixed and a warning names it.

    Args:
        path: The database file.

    Raises:
        InsecureDatabaseError: a file is readable by others and ``chmod`` is not allowed.
    """
    for suffix in _SIDE_FILES:
        side = Path(f"{path}{suffix}")
        try:
            mode = stat.S_IMODE(side.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077 == 0:
            continue
        try:
            os.chmod(side, PRIVATE_FILE_MODE)
        except OSError as exc:
            raise InsecureDatabaseError(
                f"the server database {side} can be read by other accounts (mode {mode:04o}) and its "
                f"permissions cannot be changed ({exc.strerror}); run: chmod 600 {side}") from None
        log.warning("the server database %s could be read by other accounts (mode %04o); its mode is now 0600. "
                    "It holds the token secret and password digests: if another account copied it, "
                    "change the passwords", side, mode)


class Connection(sqlite3.Connection):
    """A connection that may carry a group committer (see :mod:`.group_commit`)."""

    group: GroupCommit | None = None


def connect(path: str | Path) -> Connection:
    """Open ``path`` (created if missing, private to the user) with the server's pragmas and schema.

    Missing directories are created ``0700`` and the files ``0600``; an existing
    database readable by other accounts is made private with a warning (see the
    module docstring).

    Args:
        path: SQLite database file.

    Returns:
        A connection in autocommit mode whose rows read by column name; use
        :func:`~.transactions.transaction` for writes.

    Raises:
        InsecureDatabaseError: the database is readable by others and cannot be made private.
    """
    path = Path(path)
    make_private(path)
    with private_umask():
        _make_private_dirs(path.parent)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, factory=Connection)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA foreign_keys=OFF")
            create_schema(conn)
        except BaseException:
            conn.close()
            raise
    make_private(path)
    return conn
