"""Catalog tables (prefixed ``mc_``), SQL functions and connection setup.

The catalog lives in the same SQLite file as the DD server, whose tables are
unprefixed. Layout:

* ``mc_files`` holds one row per file; ``metadata`` is compact JSON text and
  ``checksums`` a JSON object (or NULL). ``id`` is an internal integer key used by
  every link table; ``fid`` is the public file id.
* ``mc_dataset_files`` / ``mc_provenance`` / ``mc_dataset_children`` are
  ``WITHOUT ROWID`` link tables on integer ids, indexed both ways.
* ``mc_meta_keys`` + ``mc_meta_values`` form an inverted index of a few "hot"
  metadata keys (scalar values and array elements, typed by ``vtype``). The MQL
  compiler uses it to drive selective queries (``core.runs in A:B``) instead of
  scanning JSON; every other test runs on ``metadata`` with the JSON1 functions.
  ``mc_meta_stats`` counts files per hot value, so the compiler can compare the
  sizes of candidate drivers without scanning them.
  Rows are written when files are declared (the catalog has no metadata update
  API), and a key added later is back-filled by :func:`ensure_schema`.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..core.db import private_umask
from ..core.regex import compile_user_regex
from ..core.transactions import transaction

__all__ = [
    "DEFAULT_HOT_KEYS",
    "VTYPE_BOOL",
    "VTYPE_NUMBER",
    "VTYPE_STRING",
    "add_hot_values",
    "connect",
    "ensure_schema",
    "hot_key_ids",
    "hot_values",
    "index_new_files",
    "json_path",
    "register_functions",
]

#: Metadata keys indexed in ``mc_meta_values`` unless the caller chooses others: run numbers are
#: DUNE's most selective filter (ranges), tiers and campaigns the most common ones (rare values are
#: selective). Each indexed key costs one row per value at declaration time.
DEFAULT_HOT_KEYS: tuple[str, ...] = ("core.runs", "core.data_tier", "DUNE.campaign")

#: ``mc_meta_values.vtype`` codes: the value's JSON type class.
VTYPE_NUMBER = 0
VTYPE_STRING = 1
VTYPE_BOOL = 2

_DDL = """
CREATE TABLE IF NOT EXISTS mc_namespaces(
    name TEXT PRIMARY KEY,
    owner_user TEXT,
    owner_role TEXT,
    creator TEXT,
    description TEXT,
    created_timestamp REAL NOT NULL);
CREATE TABLE IF NOT EXISTS mc_datasets(
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    frozen INTEGER NOT NULL DEFAULT 0,
    monotonic INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL DEFAULT '{}',
    file_meta_requirements TEXT NOT NULL DEFAULT '{}',
    creator TEXT,
    description TEXT,
    created_timestamp REAL NOT NULL,
    updated_timestamp REAL,
    updated_by TEXT,
    file_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE(namespace, name));
CREATE TABLE IF NOT EXISTS mc_dataset_children(
    parent_id INTEGER NOT NULL,
    child_id INTEGER NOT NULL,
    PRIMARY KEY(parent_id, child_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mc_dataset_children_child ON mc_dataset_children(child_id, parent_id);
CREATE TABLE IF NOT EXISTS mc_files(
    id INTEGER PRIMARY KEY,
    fid TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    creator TEXT,
    size INTEGER,
    checksums TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_timestamp REAL,
    updated_timestamp REAL,
    updated_by TEXT,
    retired INTEGER NOT NULL DEFAULT 0,
    retired_timestamp REAL,
    retired_by TEXT,
    UNIQUE(namespace, name));
CREATE INDEX IF NOT EXISTS mc_files_created ON mc_files(created_timestamp, fid);
CREATE TABLE IF NOT EXISTS mc_dataset_files(
    dataset_id INTEGER NOT NULL,
    file_id INTEGER NOT NULL,
    PRIMARY KEY(dataset_id, file_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mc_dataset_files_file ON mc_dataset_files(file_id);
CREATE TABLE IF NOT EXISTS mc_provenance(
    parent_id INTEGER NOT NULL,
    child_id INTEGER NOT NULL,
    PRIMARY KEY(parent_id, child_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mc_provenance_child ON mc_provenance(child_id, parent_id);
CREATE TABLE IF NOT EXISTS mc_loading(
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS mc_meta_keys(
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS mc_meta_values(
    key_id INTEGER NOT NULL,
    vtype INTEGER NOT NULL,
    value NOT NULL,
    file_id INTEGER NOT NULL,
    PRIMARY KEY(key_id, vtype, value, file_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mc_meta_stats(
    key_id INTEGER NOT NULL,
    vtype INTEGER NOT NULL,
    value NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY(key_id, vtype, value)) WITHOUT ROWID;
"""

_TABLES = frozenset(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _DDL))

# Index the hot key ?2 (a bound JSON path; its id is ?3) of the files with id > ?1: scalar values and
# array elements; nested arrays and objects are not indexed. The statistics get one count per value.
_VALUES = """
SELECT ?3 AS key_id, CASE je.type WHEN 'text' THEN 1 WHEN 'true' THEN 2 WHEN 'false' THEN 2 ELSE 0 END AS vtype,
       je.value AS value, f.id AS file_id
FROM mc_files f, json_each(f.metadata, ?2) je
WHERE f.id > ?1 AND je.type IN ('integer', 'real', 'text', 'true', 'false')
  AND (je.key IS NULL OR typeof(je.key) = 'integer')
"""
_BACKFILL = f"INSERT OR IGNORE INTO mc_meta_values(key_id, vtype, value, file_id) {_VALUES}"
_BACKFILL_STATS = f"""
INSERT INTO mc_meta_stats(key_id, vtype, value, count)
SELECT key_id, vtype, value, count(*) FROM ({_VALUES}) WHERE 1 GROUP BY key_id, vtype, value
ON CONFLICT(key_id, vtype, value) DO UPDATE SET count = count + excluded.count
"""
_ADD_STATS = """
INSERT INTO mc_meta_stats(key_id, vtype, value, count) VALUES (?, ?, ?, ?)
ON CONFLICT(key_id, vtype, value) DO UPDATE SET count = count + excluded.count
"""


def json_path(key: str) -> str:
    """Return the SQLite JSON path of top-level metadata key ``key`` (keys contain dots)."""
    return '$."' + key + '"'


def ensure_schema(conn: sqlite3.Connection, hot_keys: Iterable[str] = DEFAULT_HOT_KEYS) -> None:
    """Create the catalog tables if absent and register ``hot_keys`` for indexing.

    A hot key added to an existing catalog is back-filled from the files' metadata.

    Args:
        conn: Open connection to the shared database file.
        hot_keys: Metadata keys to keep in the ``mc_meta_values`` inverted index.
    """
    hot_keys = list(hot_keys)
    if _schema_complete(conn, hot_keys):
        return
    with transaction(conn):  # never commits a transaction the caller has open
        for statement in _DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        known = {key for (key,) in conn.execute("SELECT key FROM mc_meta_keys")}
        for key in (key for key in hot_keys if key not in known):
            if '"' in key or "\\" in key:
                raise ValueError(f"invalid hot metadata key {key!r}")
            key_id = conn.execute("INSERT INTO mc_meta_keys(key) VALUES (?)", (key,)).lastrowid
            conn.execute(_BACKFILL, (0, json_path(key), key_id))
            conn.execute(_BACKFILL_STATS, (0, json_path(key), key_id))


def _schema_complete(conn: sqlite3.Connection, hot_keys: list[str]) -> bool:
    """True when every catalog table exists and every hot key is registered (a read, no write lock)."""
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not _TABLES <= tables:
        return False
    return set(hot_keys) <= set(hot_key_ids(conn))


def visible(alias: str) -> str:
    """SQL condition: file ``alias`` is not part of a load still being written (see ``files.declare_files``)."""
    return (f"NOT EXISTS (SELECT 1 FROM mc_loading l WHERE {alias}.id BETWEEN l.first_id AND l.last_id)")


def hot_key_ids(conn: sqlite3.Connection) -> dict[str, int]:
    """Return the indexed metadata keys and their ids."""
    return {key: key_id for key, key_id in conn.execute("SELECT key, id FROM mc_meta_keys")}


def index_new_files(conn: sqlite3.Connection, after_id: int) -> None:
    """Add the hot-key values of files with ``id > after_id`` to ``mc_meta_values`` and ``mc_meta_stats``."""
    for key, key_id in hot_key_ids(conn).items():
        conn.execute(_BACKFILL, (after_id, json_path(key), key_id))
        conn.execute(_BACKFILL_STATS, (after_id, json_path(key), key_id))


def add_hot_values(conn: sqlite3.Connection, values: list[tuple[int, int, Any, int]]) -> None:
    """Insert rows made by :func:`hot_values` and count them into ``mc_meta_stats``."""
    conn.executemany("INSERT OR IGNORE INTO mc_meta_values(key_id, vtype, value, file_id) VALUES (?, ?, ?, ?)",
                     values)
    counts = Counter((key_id, vtype, value) for key_id, vtype, value, _ in values)
    conn.executemany(_ADD_STATS, [(*entry, count) for entry, count in counts.items()])


def hot_values(metadata: Mapping[str, Any], file_id: int,
               hot_keys: Mapping[str, int]) -> Iterator[tuple[int, int, Any, int]]:
    """Yield the ``mc_meta_values`` rows of one file (same rule as the SQL back-fill).

    A scalar counts as itself, an array as its scalar elements; objects, nested
    arrays and nulls are not indexed.
    """
    for key, key_id in hot_keys.items():
        value = metadata.get(key)
        if value is None:
            continue
        for item in value if type(value) is list else (value,):
            kind = type(item)
            if kind is str:
                yield key_id, VTYPE_STRING, item, file_id
            elif kind is int or kind is float:
                yield key_id, VTYPE_NUMBER, item, file_id
            elif kind is bool:
                yield key_id, VTYPE_BOOL, int(item), file_id


def _regexp(pattern: str, flags: int, value: object) -> int:
    """SQL ``mc_regexp(pattern, flags, value)``: 1 when ``value`` is text and the pattern is found in it."""
    if not isinstance(value, str) or not isinstance(pattern, str):
        return 0
    return 1 if compile_user_regex(pattern, bool(int(flags) & re.IGNORECASE)).search(value) else 0


def register_functions(conn: sqlite3.Connection) -> None:
    """Register the SQL functions the compiled MQL uses (``mc_regexp``)."""
    conn.create_function("mc_regexp", 3, _regexp, deterministic=True)


def connect(db_path: str | Path, *, busy_timeout_ms: int = 30000, check_same_thread: bool = False,
            create_schema: bool = True) -> sqlite3.Connection:
    """Open the shared database with the catalog's settings.

    Args:
        db_path: SQLite file (created if missing) or ``":memory:"``.
        busy_timeout_ms: How long a statement waits for a lock held by another connection.
        check_same_thread: Passed to :func:`sqlite3.connect`; the web layer hands a
            connection from one worker thread to the next, so the default is False.
        create_schema: Create missing catalog tables.

    Returns:
        A connection in autocommit-off default mode with ``mc_regexp`` registered.
    """
    if str(db_path) != ":memory:" and not Path(db_path).exists():
        with private_umask():  # the file will hold the server's secrets too: create it private to the user
            conn = sqlite3.connect(str(db_path), check_same_thread=check_same_thread, timeout=busy_timeout_ms / 1000)
    else:
        conn = sqlite3.connect(str(db_path), check_same_thread=check_same_thread, timeout=busy_timeout_ms / 1000)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    register_functions(conn)
    if create_schema:
        ensure_schema(conn)
    return conn
