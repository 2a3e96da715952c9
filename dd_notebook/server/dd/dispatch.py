"""Reservation, release and the time-driven sweeps (spec §3.13, §3.14, §4.2–§4.4, §5, §6)."""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import time
from typing import Any

import orjson

from ..auth.users import User
from ..core.errors import bad_request, forbidden, not_found
from ..core.numbers import parse_int
from ..core.transactions import transaction
from .projects import ProjectStore
from .records import (
    HANDLE_COLUMNS,
    REPLICA_SELECT,
    handle_record,
    log_handle,
    log_project,
    replica_record,
)
from .rses import RSEStore, proximity

log = logging.getLogger(__name__)

_NEXT_VIRTUAL = ("SELECT id FROM handles WHERE project_id = ? AND state = 'initial' "
                 "ORDER BY attempts, id LIMIT 1")
_NEXT_WITH_REPLICA = (
    "SELECT h.id FROM handles h WHERE h.project_id = ? AND h.state = 'initial' AND EXISTS ("
    "SELECT 1 FROM replicas r JOIN rses s ON s.name = r.rse WHERE r.namespace = h.namespace "
    "AND r.name = h.name AND s.is_enabled = 1 AND s.is_available = 1) ORDER BY h.attempts, h.id LIMIT 1")


class Dispatcher:
    """Hands out and takes back file handles.

    Args:
        projects: Project store (shares the connection).
        rses: RSE store (proximity and replicas).
    """

    def __init__(self, projects: ProjectStore, rses: RSEStore) -> None:
        self.projects = projects
        self.rses = rses
        self.conn = projects.conn

    def next_file(self, user: User, project_id: int, worker_id: str, cpu_site: str | None) -> dict[str, Any]:
        """Reserve the next handle for ``worker_id`` and build the ``next_file`` reply."""
        row = self.projects.require(project_id)
        owner, state, attributes_text = row["owner"], row["state"], row["attributes"]
        users, roles = row["users"], row["roles"]
        if not (user.is_admin or user.username == owner or user.username in orjson.loads(users)
                or user.roles.intersection(orjson.loads(roles))):
            raise forbidden("Not authorized")
        if state not in ("active", "abandoned"):
            raise bad_request(f"Inactive project. State={state}")
        attributes = orjson.loads(attributes_text)
        if self.conn.execute("SELECT 1 FROM bulk_work WHERE project_id = ?", (project_id,)).fetchone():
            return {"handle": None, "reason": "retry", "retry": True}  # handles being restarted in chunks
        now = time.time()
        with transaction(self.conn) as c:
            if state == "abandoned":
                self.projects.set_active(project_id, now)
            found = c.execute(_NEXT_VIRTUAL if attributes.get("virtual") else _NEXT_WITH_REPLICA,
                              (project_id,)).fetchone()
            if found is not None:
                handle = handle_record(c.execute(
                    "UPDATE handles SET state = 'reserved', worker_id = ?, attempts = attempts + 1, "
                    f"reserved_since = ? WHERE id = ? RETURNING {HANDLE_COLUMNS}",
                    (worker_id, now, found["id"])).fetchone())
                log_handle(c, project_id, handle["namespace"], handle["name"], now,
                           {"event": "reserve", "old_state": "initial", "worker": worker_id, "state": "reserved"})
        if found is None:
            if self.projects.has_open_handles(project_id):
                return {"handle": None, "reason": "retry", "retry": True}
            return {"handle": None, "reason": "project inactive", "retry": False}
        handle["replicas"] = {} if attributes.get("virtual") else self._worker_replicas(handle, cpu_site)
        handle["project_attributes"] = orjson.Fragment(attributes_text)
        return {"handle": handle, "reason": "reserved", "retry": False}

    def _worker_replicas(self, handle: dict[str, Any], cpu_site: str | None) -> dict[str, Any]:
        cpu_map = self.rses.cpu_map(cpu_site)
        rows = self.conn.execute(
            REPLICA_SELECT + " WHERE r.namespace = ? AND r.name = ? AND r.available = 1 AND s.is_enabled = 1 "
            "AND s.is_available = 1 ORDER BY r.rse", (handle["namespace"], handle["name"]))
        return {r["rse"]: replica_record(r, proximity(cpu_map, r["rse"]), with_proximity=True) for r in rows}

    def release(self, user: User, handle_id: str, failed: bool, retry: bool, worker_id: str) -> dict[str, Any]:
        """Mark a reserved handle done, failed or back to initial (spec §3.14, §4.3)."""
        project_id, namespace, name = parse_handle_id(handle_id)
        project = self.projects.require(project_id)
        if not (user.is_admin or user.username == project["owner"]):
            raise forbidden("Not authorized")
        row = self.conn.execute("SELECT id, state, worker_id FROM handles WHERE project_id = ? AND namespace = ? "
                                "AND name = ?", (project_id, namespace, name)).fetchone()
        if row is not None and worker_id and worker_id != row["worker_id"]:
            raise forbidden("Not authorized: wrong worker_id")
        if row is None or row["state"] != "reserved":
            raise not_found("Handle not found or was not reserved")
        new_state = "done" if not failed else ("initial" if retry else "failed")
        now = time.time()
        with transaction(self.conn) as c:
            released = c.execute(f"UPDATE handles SET state = ?, worker_id = NULL WHERE id = ? RETURNING "
                                 f"{HANDLE_COLUMNS}", (new_state, row["id"])).fetchone()
            log_handle(c, project_id, namespace, name, now,
                       {"event": "failed" if failed else "done", "worker": row["worker_id"], "state": new_state,
                        "old_state": "reserved"})
            state = project["state"]
            if state == "active" and not self.projects.has_open_handles(project_id):
                any_failed = c.execute("SELECT EXISTS(SELECT 1 FROM handles WHERE project_id = ? AND state = "
                                       "'failed')", (project_id,)).fetchone()[0]
                final = "failed" if any_failed else "done"
                c.execute("UPDATE projects SET state = ?, ended_timestamp = ? WHERE id = ?",
                          (final, now, project_id))
                log_project(c, project_id, now, "state", {"event": "release", "state": final})
            elif state == "abandoned":
                self.projects.set_active(project_id, now)
        return handle_record(released)

    # ---- sweeps ------------------------------------------------------------------------------

    def sweep_worker_timeouts(self, now: float | None = None) -> int:
        """Release handles reserved longer than their project's worker timeout (spec §4.4).

        Each project is swept in its own savepoint. A project whose stored values
        cannot be read (a non-numeric ``worker_timeout``, attributes that are not
        a JSON object, handle attributes too deep to write back) is skipped and
        logged once per sweep; every other project is still swept. A ``timeouts``
        counter that is not a count (text, null, bool, negative, fractional or
        huge number, object) starts again at 1, as if absent.

        Returns:
            Number of handles released.
        """
        now = time.time() if now is None else now
        released = 0
        with transaction(self.conn) as c:
            projects = c.execute("SELECT id, worker_timeout, attributes FROM projects WHERE state = 'active' "
                                 "AND worker_timeout IS NOT NULL").fetchall()
            for project_id, worker_timeout, attributes_text in projects:
                c.execute("SAVEPOINT sweep_project")
                try:
                    released += self._release_timed_out(c, project_id, worker_timeout, attributes_text, now)
                except Exception as exc:  # one unreadable project must not stop the sweep
                    c.execute("ROLLBACK TO sweep_project")
                    log.warning("worker-timeout sweep skipped project %s: %s", project_id, exc)
                c.execute("RELEASE sweep_project")
        if released:
            log.info("worker timeout released %d handle(s)", released)
        return released

    def _release_timed_out(self, c: sqlite3.Connection, project_id: int, worker_timeout: Any,
                           attributes_text: Any, now: float) -> int:
        timeout = stored_seconds(worker_timeout, "worker_timeout")
        retry_flag = stored_object(attributes_text, "project attributes").get("retry_on_timeout", "True")
        new_state = "initial" if retry_flag == "True" else "failed"
        expired = c.execute(
            "SELECT id, namespace, name, worker_id, attributes FROM handles WHERE project_id = ? "
            "AND state = 'reserved' AND reserved_since < ?", (project_id, now - timeout)).fetchall()
        for hid, namespace, name, worker, attrs_text in expired:
            c.execute("UPDATE handles SET state = ?, worker_id = NULL, attributes = ? WHERE id = ?",
                      (new_state, counted_timeout(attrs_text, namespace, name), hid))
            log_handle(c, project_id, namespace, name, now,
                       {"event": "worker_timeout", "state": new_state, "worker": worker})
        return len(expired)

    def sweep_idle_projects(self, now: float | None = None) -> int:
        """Abandon active projects without activity for their idle timeout (spec §6.2).

        Activity is the newest handle-log record or project-log event (``last_activity``,
        which starts at creation); polls that reserve nothing are not activity.
        An ``idle_timeout`` stored as anything but a number (by another process)
        is ignored.
        """
        now = time.time() if now is None else now
        with transaction(self.conn) as c:
            count = c.execute(
                "UPDATE projects SET state = 'abandoned' WHERE state = 'active' "
                "AND typeof(idle_timeout) IN ('integer', 'real') "
                "AND created_timestamp + idle_timeout < ?1 AND last_activity + idle_timeout < ?1 "
                "AND COALESCE((SELECT t FROM handle_log WHERE project_id = projects.id ORDER BY id DESC LIMIT 1), 0) "
                "+ idle_timeout < ?1", (now,)).rowcount
        if count:
            log.info("idle timeout abandoned %d project(s)", count)
        return count


_ASCII_DIGITS = re.compile("[0-9]+")
#: Largest ``timeouts`` count the sweep keeps counting from (exact in every JSON reader).
MAX_TIMEOUT_COUNT = 2**53


def stored_seconds(value: Any, what: str) -> float:
    """Return a stored timeout as seconds; ValueError unless it is a finite non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} {value!r} is not a number of seconds")
    return float(value)


def stored_object(text: Any, what: str) -> dict[str, Any]:
    """Parse stored JSON that must be an object; ValueError otherwise."""
    try:
        value = orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError):
        raise ValueError(f"{what} are not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} are not a JSON object")
    return value


def timeout_count(value: Any) -> int:
    """The ``timeouts`` counter as a count: a JSON integer (or integral float) in
    ``[0, MAX_TIMEOUT_COUNT)``; anything else counts as 0 (the attribute is user-writable)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if not (0 <= value < MAX_TIMEOUT_COUNT) or value != int(value):
        return 0
    return int(value)


def counted_timeout(attributes_text: Any, namespace: str, name: str) -> str:
    """Return a handle's attributes with ``timeouts`` incremented, as JSON text.

    Raises:
        ValueError: the stored attributes are not a JSON object or cannot be written back.
    """
    attributes = stored_object(attributes_text, f"attributes of handle {namespace}:{name}")
    attributes["timeouts"] = timeout_count(attributes.get("timeouts")) + 1
    try:
        return orjson.dumps(attributes).decode()
    except TypeError as exc:
        raise ValueError(f"attributes of handle {namespace}:{name} cannot be written back: {exc}") from None


def parse_handle_id(handle_id: str) -> tuple[int, str, str]:
    """Split ``<project_id>:<namespace>:<name>``; 400 when malformed or the id is not a plain integer."""
    pid_text, _, did = handle_id.partition(":")
    namespace, sep, name = did.partition(":")
    if not sep or not namespace or not name or not _ASCII_DIGITS.fullmatch(pid_text.strip()):
        raise bad_request(f"Invalid handle_id {handle_id!r}: expected <project_id>:<namespace>:<name>")
    return parse_int(pid_text, "project id of handle_id"), namespace, name
