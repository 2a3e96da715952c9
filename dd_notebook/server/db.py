"""SQLite storage of the embedded server: connection set-up, schema and transactions.

One file holds everything (DD tables unprefixed, catalog tables prefixed ``mc_``).
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
import secrets
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from .group_commit import GroupCommit

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users(
    username TEXT PRIMARY KEY,
    name TEXT,
    email TEXT,
    flags TEXT NOT NULL DEFAULT '',
    digest_ha1 TEXT,
    auid TEXT);
CREATE TABLE IF NOT EXISTS roles(
    name TEXT PRIMARY KEY,
    description TEXT);
CREATE TABLE IF NOT EXISTS users_roles(
    username TEXT NOT NULL,
    role_name TEXT NOT NULL,
    PRIMARY KEY(username, role_name));
CREATE TABLE IF NOT EXISTS projects(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    state TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    created_timestamp REAL NOT NULL,
    ended_timestamp REAL,
    query TEXT,
    worker_timeout REAL,
    idle_timeout REAL,
    users TEXT NOT NULL DEFAULT '[]',
    roles TEXT NOT NULL DEFAULT '[]',
    last_activity REAL NOT NULL);
CREATE INDEX IF NOT EXISTS projects_state ON projects(state);
CREATE TABLE IF NOT EXISTS handles(
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    worker_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    attributes TEXT NOT NULL DEFAULT '{}',
    reserved_since REAL);
CREATE UNIQUE INDEX IF NOT EXISTS handles_did ON handles(project_id, namespace, name);
CREATE INDEX IF NOT EXISTS handles_queue ON handles(project_id, state, attempts, id);
CREATE TABLE IF NOT EXISTS rses(
    name TEXT PRIMARY KEY,
    description TEXT,
    is_available INTEGER,
    is_tape INTEGER,
    pin_url TEXT,
    poll_url TEXT,
    remove_prefix TEXT,
    add_prefix TEXT,
    pin_prefix TEXT,
    preference INTEGER,
    is_enabled INTEGER,
    type TEXT);
CREATE TABLE IF NOT EXISTS replicas(
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    rse TEXT NOT NULL,
    path TEXT,
    url TEXT,
    urls TEXT NOT NULL DEFAULT '[]',
    preference INTEGER DEFAULT 0,
    available INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY(namespace, name, rse)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS proximity_map(
    cpu TEXT NOT NULL,
    rse TEXT NOT NULL,
    proximity INTEGER NOT NULL,
    PRIMARY KEY(cpu, rse));
CREATE TABLE IF NOT EXISTS handle_log(
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    t REAL NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS handle_log_project ON handle_log(project_id, id);
CREATE TABLE IF NOT EXISTS project_log(
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    t REAL NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS project_log_project ON project_log(project_id, id);
INSERT OR IGNORE INTO proximity_map(cpu, rse, proximity) VALUES ('DEFAULT', 'DEFAULT', 100);
"""


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
        A connection in autocommit mode; use :func:`transaction` for writes.

    Raises:
        InsecureDatabaseError: the database is readable by others and cannot be made private.
    """
    path = Path(path)
    make_private(path)
    with private_umask():
        _make_private_dirs(path.parent)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, factory=Connection)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
        except BaseException:
            conn.close()
            raise
    make_private(path)
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one write transaction: all of it is committed, or nothing.

    On the server's own connection (which carries a group committer), on the
    event loop, the block runs in a savepoint of the shared transaction instead,
    committed with the other requests of the same event-loop turn.

    Args:
        conn: Connection from :func:`connect`.

    Yields:
        The same connection.
    """
    group = getattr(conn, "group", None)
    if group is not None and group.applies():
        with group.request():
            yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def get_secret(conn: sqlite3.Connection) -> str:
    """Return the token-signing secret of this database, creating it on first use.

    The secret lives in the database so that a restarted server keeps accepting
    the tokens it issued before.
    """
    row = conn.execute("SELECT value FROM settings WHERE key = 'token_secret'").fetchone()
    if row:
        return row[0]
    secret = secrets.token_urlsafe(48)
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO settings(key, value) VALUES ('token_secret', ?)", (secret,))
    return conn.execute("SELECT value FROM settings WHERE key = 'token_secret'").fetchone()[0]
