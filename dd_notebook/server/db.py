"""SQLite storage of the embedded server: connection set-up, schema and transactions.

One file holds everything (DD tables unprefixed, catalog tables prefixed ``mc_``).
The file runs in WAL mode: readers never block the writer, and a committed
transaction survives a crash of the server process.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
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


class Connection(sqlite3.Connection):
    """A connection that may carry a group committer (see :mod:`.group_commit`)."""

    group: GroupCommit | None = None


def connect(path: str | Path) -> Connection:
    """Open ``path`` (created if missing) with the server's pragmas and schema.

    Args:
        path: SQLite database file.

    Returns:
        A connection in autocommit mode; use :func:`transaction` for writes.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, factory=Connection)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
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
