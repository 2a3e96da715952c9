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
                  "s.is_available, s.is_enabled FROM replicas r LEFT JOIN rses s ON s.name = r.rse")
ACTIVE_HANDLE_STATES = ("initial", "reserved")


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def project_record(row: tuple, active: bool) -> dict[str, Any]:
    """Project JSON (without handles) from a ``PROJECT_COLUMNS`` row."""
    (pid, owner, state, attributes, created, ended, query, wt, it, users, roles) = row
    return {
        "project_id": pid,
        "owner": owner,
        "state": state,
        "retry_count": None,
        "attributes": orjson.Fragment(attributes),
        "created_timestamp": created,
        "ended_timestamp": ended,
        "active": active,
        "query": query,
        "worker_timeout": wt,
        "idle_timeout": it,
        "users": orjson.loads(users),
        "roles": orjson.loads(roles),
    }


def handle_record(row: tuple) -> dict[str, Any]:
    """Handle JSON from a ``HANDLE_COLUMNS`` row."""
    return {
        "project_id": row[0],
        "namespace": row[1],
        "name": row[2],
        "state": row[3],
        "worker_id": row[4],
        "attempts": row[5],
        "attributes": orjson.Fragment(row[6]),
        "reserved_since": row[7],
    }


def replica_record(row: tuple, preference: Any = None, with_proximity: bool = False) -> dict[str, Any]:
    """Replica JSON from a ``REPLICA_SELECT`` row.

    Args:
        row: The row.
        preference: Proximity value replacing the stored preference (``next_file``).
        with_proximity: Add the ``proximity`` key (``next_file`` reply only).
    """
    ns, name, rse, path, url, urls, stored_pref, available, rse_available, _enabled = row
    record = {
        "name": name,
        "namespace": ns,
        "path": path,
        "rse": rse,
        "url": url,
        "urls": orjson.Fragment(urls),
        "preference": preference if with_proximity else stored_pref,
        "available": bool(available),
        "rse_available": bool(rse_available),
    }
    if with_proximity:
        record["proximity"] = preference
    return record


def rse_record(row: tuple) -> dict[str, Any]:
    """RSE JSON from an ``RSE_COLUMNS`` row."""
    (name, description, is_available, is_tape, pin_url, poll_url, remove_prefix, add_prefix,
     pin_prefix, preference, is_enabled, rse_type) = row
    return {
        "name": name,
        "description": description,
        "is_available": _bool(is_available),
        "is_tape": _bool(is_tape),
        "pin_url": pin_url,
        "poll_url": poll_url,
        "remove_prefix": remove_prefix,
        "add_prefix": add_prefix,
        "pin_prefix": pin_prefix,
        "preference": preference,
        "is_enabled": _bool(is_enabled),
        "type": rse_type,
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
