"""Replicas of catalog files in the DD server's tables ``rses`` and ``replicas``.

The DD server owns these tables (one definition, :data:`~..core.schema.STORAGE_TABLES`);
the catalog only creates them if absent and inserts rows when a loader is
given replicas. Existing RSE rows are never overwritten.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from ..core.schema import create_storage_tables

__all__ = ["RSE", "Replica", "add_replicas", "add_rses", "ensure_dd_tables", "insert_replica_rows",
           "replica_rows"]



@dataclass(frozen=True)
class RSE:
    """One storage element as the DD server describes it (booleans stored as 0/1)."""

    name: str
    description: str
    is_tape: bool = False
    is_available: bool = True
    is_enabled: bool = True
    preference: int = 0
    pin_url: str | None = None
    poll_url: str | None = None
    remove_prefix: str | None = None
    add_prefix: str | None = None
    pin_prefix: str | None = None
    type: str | None = None


Replica = tuple[str, str, str, str | None, Sequence[str], int, bool]
"""``(namespace, name, rse, path, urls (preferred first), preference, available)``."""


def ensure_dd_tables(conn: sqlite3.Connection) -> None:
    """Create ``rses`` and ``replicas`` exactly as the DD server does, if they are missing."""
    create_storage_tables(conn)


def add_rses(conn: sqlite3.Connection, rses: Iterable[RSE]) -> None:
    """Insert RSEs that do not exist yet (an existing row, possibly edited by the DD server, wins)."""
    conn.executemany(
        "INSERT OR IGNORE INTO rses(name, description, is_available, is_tape, pin_url, poll_url, remove_prefix, "
        "add_prefix, pin_prefix, preference, is_enabled, type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(r.name, r.description, int(r.is_available), int(r.is_tape), r.pin_url, r.poll_url, r.remove_prefix,
          r.add_prefix, r.pin_prefix, r.preference, int(r.is_enabled), r.type) for r in rses])


def replica_rows(replicas: Iterable[Replica]) -> list[tuple[object, ...]]:
    """Turn replicas into ``replicas`` table rows (``urls`` as a JSON list, ``url`` = the preferred one)."""
    return [(ns, name, rse, path, urls[0] if urls else None, orjson.dumps(list(urls)).decode(), preference,
             int(available)) for ns, name, rse, path, urls, preference, available in replicas]


def insert_replica_rows(conn: sqlite3.Connection, rows: Iterable[tuple[object, ...]]) -> None:
    """Insert or replace rows made by :func:`replica_rows`."""
    conn.executemany("INSERT OR REPLACE INTO replicas(namespace, name, rse, path, url, urls, preference, available) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def add_replicas(conn: sqlite3.Connection, replicas: Iterable[Replica]) -> None:
    """Insert or replace replica rows."""
    insert_replica_rows(conn, replica_rows(replicas))
