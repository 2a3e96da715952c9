"""Rows of the DD tables turned into the JSON shapes of the wire protocol (spec §2).

Attribute objects are stored as JSON text and embedded as ``orjson.Fragment``
so that large listings are serialised without parsing them again.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

PROJECT_COLUMNS = ("id, owner, state, attributes, created_timestamp, ended_timestamp, query, "
                   "worker_timeout, idle_timeout, users, roles")
HANDLE_COLUMNS = "project_id, namespace, name, state, worker_id, attempts, attributes, reserved_since"
RSE_COLUMNS = ("name, description, is_available, is_tape, pin_url, poll_url, remove_prefix, add_prefix, "
               "pin_prefix, preference, is_enabled, type")
REPLICA_SELECT = ("SELECT r.namespace, r.name, r.rse, r.path, r.url, r.urls, r.preference, r.available, "
                  "s.is_available AS rse_available, s.is_enabled AS rse_enabled "
                  "FROM replicas r LEFT JOIN rses s ON s.name = r.rse")
ACTIVE_HANDLE_STATES = ("initial", "reserved")


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def project_record(row: sqlite3.Row, active: bool) -> dict[str, Any]:
    """Project JSON (without handles) from a ``PROJECT_COLUMNS`` row."""
    return {
        "project_id": row["id"],
        "owner": row["owner"],
        "state": row["state"],
        "retry_count": None,
        "attributes": orjson.Fragment(row["attributes"]),
        "created_timestamp": row["created_timestamp"],
        "ended_timestamp": row["ended_timestamp"],
        "active": active,
        "query": row["query"],
        "worker_timeout": row["worker_timeout"],
        "idle_timeout": row["idle_timeout"],
        "users": orjson.loads(row["users"]),
        "roles": orjson.loads(row["roles"]),
    }


def handle_record(row: sqlite3.Row) -> dict[str, Any]:
    """Handle JSON from a ``HANDLE_COLUMNS`` row."""
    return {
        "project_id": row["project_id"],
        "namespace": row["namespace"],
        "name": row["name"],
        "state": row["state"],
        "worker_id": row["worker_id"],
        "attempts": row["attempts"],
        "attributes": orjson.Fragment(row["attributes"]),
        "reserved_since": row["reserved_since"],
    }


def replica_record(row: sqlite3.Row, preference: Any = None, with_proximity: bool = False) -> dict[str, Any]:
    """Replica JSON from a ``REPLICA_SELECT`` row.

    Args:
        row: The row.
        preference: Proximity value replacing the stored preference (``next_file``).
        with_proximity: Add the ``proximity`` key (``next_file`` reply only).
    """
    record = {
        "name": row["name"],
        "namespace": row["namespace"],
        "path": row["path"],
        "rse": row["rse"],
        "url": row["url"],
        "urls": orjson.Fragment(row["urls"]),
        "preference": preference if with_proximity else row["preference"],
        "available": bool(row["available"]),
        "rse_available": bool(row["rse_available"]),
    }
    if with_proximity:
        record["proximity"] = preference
    return record


def rse_record(row: sqlite3.Row) -> dict[str, Any]:
    """RSE JSON from an ``RSE_COLUMNS`` row."""
    return {
        "name": row["name"],
        "description": row["description"],
        "is_available": _bool(row["is_available"]),
        "is_tape": _bool(row["is_tape"]),
        "pin_url": row["pin_url"],
        "poll_url": row["poll_url"],
        "remove_prefix": row["remove_prefix"],
        "add_prefix": row["add_prefix"],
        "pin_prefix": row["pin_prefix"],
        "preference": row["preference"],
        "is_enabled": _bool(row["is_enabled"]),
        "type": row["type"],
    }


def log_handle(conn: sqlite3.Connection, project_id: int, namespace: str, name: str, t: float,
               data: dict[str, Any]) -> None:
    """Append one ``state`` record to the handle log."""
    conn.execute("INSERT INTO handle_log(project_id, namespace, name, t, type, data) VALUES (?, ?, ?, ?, 'state', ?)",
                 (project_id, namespace, name, t, orjson.dumps(data).decode()))


def log_project(conn: sqlite3.Connection, project_id: int, t: float, kind: str, data: dict[str, Any]) -> None:
    """Append one record to the project log and count it as project activity."""
    conn.execute("INSERT INTO project_log(project_id, t, type, data) VALUES (?, ?, ?, ?)",
                 (project_id, t, kind, orjson.dumps(data).decode()))
    touch_project(conn, project_id, t)


def touch_project(conn: sqlite3.Connection, project_id: int, t: float) -> None:
    """Record activity on a project (used by the idle-timeout sweep)."""
    conn.execute("UPDATE projects SET last_activity = ? WHERE id = ?", (t, project_id))
