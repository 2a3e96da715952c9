"""The tables of the server's SQLite file: one definition of each, for every service.

The DD server's tables are unprefixed; the catalog's tables (prefixed ``mc_``)
are defined by :mod:`dd_notebook.server.catalog.schema`. The storage tables
(``rses``, ``replicas``) belong to the DD server, and the catalog writes
replica rows into them when a loader declares files with replicas, so both
create them from :data:`STORAGE_TABLES`.
"""

from __future__ import annotations

import sqlite3

__all__ = ["DD_TABLES", "STORAGE_TABLES", "create_schema", "create_storage_tables"]

#: RSEs and the replicas of files on them.
STORAGE_TABLES = """
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
"""

#: Settings, users and roles, projects, handles, the proximity map, the logs, and the big writes
#: in progress (``bulk_work``: a project being created, deleted or restarted in chunks).
DD_TABLES = """
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
CREATE TABLE IF NOT EXISTS bulk_work(
    project_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    started REAL NOT NULL,
    log_start INTEGER NOT NULL DEFAULT 0);
INSERT OR IGNORE INTO proximity_map(cpu, rse, proximity) VALUES ('DEFAULT', 'DEFAULT', 100);
"""


def create_storage_tables(conn: sqlite3.Connection) -> None:
    """Create ``rses`` and ``replicas`` if they are missing (in the caller's transaction, if any).

    Args:
        conn: Any connection to the server's file.
    """
    for statement in STORAGE_TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every DD table that is missing, in one write transaction.

    Args:
        conn: A connection in autocommit mode.
    """
    conn.executescript("BEGIN IMMEDIATE;" + STORAGE_TABLES + DD_TABLES + "COMMIT;")
