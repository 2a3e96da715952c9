"""RSEs, replicas and the CPU/RSE proximity map (spec §3.16–§3.21, §3.25, §7)."""

from __future__ import annotations

import builtins
import sqlite3
from typing import Any

import orjson

from ..core.errors import HTTPError, bad_request, not_found
from ..core.transactions import transaction
from .records import REPLICA_SELECT, RSE_COLUMNS, replica_record, rse_record

RSE_FIELDS = ("name", "description", "is_available", "is_tape", "pin_url", "poll_url", "remove_prefix",
              "add_prefix", "pin_prefix", "preference", "is_enabled", "type")
UPDATE_KEYS = {
    "Description": "description", "Enabled": "is_enabled", "Available": "is_available", "Tape": "is_tape",
    "PinURL": "pin_url", "PollURL": "poll_url", "RemovePrefix": "remove_prefix", "AddPrefix": "add_prefix",
    "PinPrefix": "pin_prefix", "Preference": "preference", "Type": "type",
}
_BOOL_FIELDS = {"is_available", "is_tape", "is_enabled"}
_TEXT_FIELDS = {"description", "pin_url", "poll_url", "remove_prefix", "add_prefix", "pin_prefix", "type"}


def _column_value(field: str, value: Any) -> Any:
    """Check one RSE field value and convert it to its column value."""
    if value is None:
        return None
    if field in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise bad_request(f"{field} must be true, false or null")
        return int(value)
    if field == "preference":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise bad_request("preference must be an integer or null")
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"preference must be an integer or null, not {value!r}") from None
    if not isinstance(value, str):
        raise bad_request(f"{field} must be a string or null")
    return value


class RSEStore:
    """RSE, replica and proximity operations on one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, name: str) -> dict[str, Any] | None:
        """The RSE JSON or None."""
        row = self.conn.execute(f"SELECT {RSE_COLUMNS} FROM rses WHERE name = ?", (name,)).fetchone()
        return rse_record(row) if row else None

    def require(self, name: str) -> dict[str, Any]:
        """The RSE JSON; 404 ``RSE <name> not found`` otherwise."""
        rse = self.get(name)
        if rse is None:
            raise not_found(f"RSE {name} not found")
        return rse

    def list(self) -> list[dict[str, Any]]:
        """All RSEs (enabled or not), by name."""
        return [rse_record(r) for r in self.conn.execute(f"SELECT {RSE_COLUMNS} FROM rses ORDER BY name")]

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an RSE from a ``create_rse`` body; explicit nulls are stored (Q-RSENULL)."""
        name = body.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise bad_request("RSE name must be specified as a non-empty string without '/'")
        values = {f: _column_value(f, body.get(f)) for f in RSE_FIELDS if f not in ("name", "type")}
        interface = body.get("interface")
        values["type"] = interface if interface in ("native", "wlcg") else None
        with transaction(self.conn) as c:
            if c.execute("SELECT 1 FROM rses WHERE name = ?", (name,)).fetchone():
                raise HTTPError(409, "Already exists")
            c.execute(f"INSERT INTO rses({', '.join(RSE_FIELDS)}) VALUES ({', '.join('?' * len(RSE_FIELDS))})",
                      (name, *(values[f] for f in RSE_FIELDS[1:])))
        return self.require(name)

    def update(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply an ``update_rse`` body (capitalised keys; nulls ignored)."""
        name = body.get("Name")
        if not isinstance(name, str) or self.get(name) is None:
            raise not_found(f"RSE {name} not found")
        changes = {}
        for key, value in body.items():
            if key == "Name" or value is None:
                continue
            if key not in UPDATE_KEYS:
                raise bad_request(f"Bad key: {key}")
            changes[UPDATE_KEYS[key]] = _column_value(UPDATE_KEYS[key], value)
        if changes:
            with transaction(self.conn) as c:
                for column, value in changes.items():
                    c.execute(f"UPDATE rses SET {column} = ? WHERE name = ?", (value, name))
        return self.require(name)

    def delete(self, name: str) -> None:
        """Delete an RSE with its replicas and proximity rows."""
        if self.get(name) is None:
            raise not_found("RSE not found")
        with transaction(self.conn) as c:
            c.execute("DELETE FROM replicas WHERE rse = ?", (name,))
            c.execute("DELETE FROM proximity_map WHERE rse = ?", (name,))
            c.execute("DELETE FROM rses WHERE name = ?", (name,))

    def set_availability(self, name: str, available: bool) -> dict[str, Any]:
        """Set ``is_available`` of an RSE."""
        self.require(name)
        with transaction(self.conn) as c:
            c.execute("UPDATE rses SET is_available = ? WHERE name = ?", (int(available), name))
        return self.require(name)

    # ---- replicas ----------------------------------------------------------------------------

    def replica(self, namespace: str, name: str, rse: str) -> dict[str, Any] | None:
        """One replica JSON or None."""
        row = self.conn.execute(REPLICA_SELECT + " WHERE r.namespace = ? AND r.name = ? AND r.rse = ?",
                                (namespace, name, rse)).fetchone()
        return replica_record(row) if row else None

    def set_replica(self, namespace: str, name: str, rse: str, *, available: bool, path: str | None = None,
                    url: str | None = None, urls: builtins.list[str] | None = None,
                    preference: int = 0) -> dict[str, Any]:
        """Create or update a replica (admin extension ``replica_available``)."""
        self.require(rse)
        all_urls = list(urls or ([url] if url else []))
        with transaction(self.conn) as c:
            c.execute(
                "INSERT INTO replicas(namespace, name, rse, path, url, urls, preference, available) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(namespace, name, rse) DO UPDATE SET "
                "path = COALESCE(excluded.path, replicas.path), url = COALESCE(excluded.url, replicas.url), "
                "urls = CASE WHEN excluded.urls = '[]' THEN replicas.urls ELSE excluded.urls END, "
                "preference = excluded.preference, available = excluded.available",
                (namespace, name, rse, path, url or (all_urls[0] if all_urls else None),
                 orjson.dumps(all_urls).decode(), preference, int(available)))
        replica = self.replica(namespace, name, rse)
        assert replica is not None
        return replica

    def mark_unavailable(self, namespace: str, name: str, rse: str) -> dict[str, Any]:
        """Mark a replica unavailable (admin extension ``replica_unavailable``)."""
        if self.replica(namespace, name, rse) is None:
            raise not_found(f"Replica {namespace}:{name} on RSE {rse} not found")
        with transaction(self.conn) as c:
            c.execute("UPDATE replicas SET available = 0 WHERE namespace = ? AND name = ? AND rse = ?",
                      (namespace, name, rse))
        replica = self.replica(namespace, name, rse)
        assert replica is not None
        return replica

    # ---- proximity ---------------------------------------------------------------------------

    def proximity_rows(self) -> builtins.list[dict[str, Any]]:
        """The whole proximity map as ``{"cpu", "rse", "proximity"}`` rows."""
        return [{"cpu": c, "rse": r, "proximity": p} for c, r, p in
                self.conn.execute("SELECT cpu, rse, proximity FROM proximity_map ORDER BY cpu, rse")]

    def set_proximity(self, cpu: str, rse: str, proximity: int) -> None:
        """Insert or replace one proximity value."""
        with transaction(self.conn) as c:
            c.execute("INSERT OR REPLACE INTO proximity_map(cpu, rse, proximity) VALUES (?, ?, ?)",
                      (cpu, rse, proximity))

    def cpu_map(self, cpu: str | None) -> dict[str, int]:
        """Proximity values of ``cpu``; the ``DEFAULT`` cpu's map when the cpu is unknown (spec §7.4)."""
        rows = self.conn.execute("SELECT rse, proximity FROM proximity_map WHERE cpu = ?",
                                 (cpu or "DEFAULT",)).fetchall()
        if not rows:
            rows = self.conn.execute("SELECT rse, proximity FROM proximity_map WHERE cpu = 'DEFAULT'").fetchall()
        return dict(rows)


def proximity(cpu_map: dict[str, int], rse: str) -> int | None:
    """Lookup of one RSE in a cpu map: the RSE's value, else the map's ``DEFAULT``, else None."""
    value = cpu_map.get(rse)
    return cpu_map.get("DEFAULT") if value is None else value
