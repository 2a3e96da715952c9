"""Restarting handles (spec §3.8, §4.5, §5): which handles, resetting them, and undoing a reset cut short."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..auth.users import User
from ..core.errors import bad_request
from ..core.numbers import parse_int
from .projects import ProjectStore
from .records import log_handle, log_project
from .validation import split_did

__all__ = ["RestartPlan", "reset_handles", "undo_resets"]

_STATES = ("initial", "reserved", "done", "failed")


@dataclass
class RestartPlan:
    """A validated restart request: the project, and its handles by DID or by state."""

    project_id: int
    project_state: str
    dids: list[tuple[str, str]] | None
    states: list[str]
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, projects: ProjectStore, user: User, body: dict[str, Any]) -> RestartPlan:
        """Check a ``restart_handles`` body and the caller's right (owner or admin)."""
        if body.get("project_id") in (None, "", 0, "0"):
            raise bad_request("Project id must be specified")
        project_id = parse_int(body["project_id"], "project_id")
        row = projects.require_owner(project_id, user)
        if body.get("handles") is not None:
            if not isinstance(body["handles"], list):
                raise bad_request("handles must be a list of DIDs")
            dids = [split_did(d) for d in body["handles"]]
            return cls(project_id, row["state"], dids, [], {"event": "restart",
                                                           "dids": [f"{ns}:{n}" for ns, n in dids]})
        states = [s for s in _STATES if body.get(s) is True]
        return cls(project_id, row["state"], None, states, {"event": "restart", "handle_states": states})

    def select(self, conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
        """The selected handles ``(id, namespace, name)``, by DID order or by ``(namespace, name)``."""
        if self.dids is not None:
            return [tuple(r) for ns, n in self.dids for r in conn.execute(
                "SELECT id, namespace, name FROM handles WHERE project_id = ? AND namespace = ? AND name = ?",
                (self.project_id, ns, n))]
        return [tuple(r) for r in conn.execute(
            f"SELECT id, namespace, name FROM handles WHERE project_id = ? "
            f"AND state IN ({', '.join('?' * len(self.states))}) ORDER BY namespace, name",
            (self.project_id, *self.states))]

    def finish(self, conn: sqlite3.Connection, projects: ProjectStore, selected: list[tuple[int, str, str]],
               now: float) -> None:
        """Log the restart on the project and re-activate it when handles are open again."""
        summary = {**self.summary, "handles_reset": [{"did": f"{ns}:{n}"} for _, ns, n in selected]}
        if self.project_state != "active" and projects.has_open_handles(self.project_id):
            conn.execute("UPDATE projects SET state = 'active', ended_timestamp = NULL WHERE id = ?",
                         (self.project_id,))
            log_project(conn, self.project_id, now, "state", {**summary, "state": "active"})
        else:
            log_project(conn, self.project_id, now, "event", summary)


def reset_handles(conn: sqlite3.Connection, plan: RestartPlan, selected: list[tuple[int, str, str]],
                  now: float) -> None:
    """Reset the selected handles that are not ``initial`` now, logging each (caller holds the transaction).

    States are read again here, so a handle released since it was selected is
    reset from the state it has now (and one selected by state only if it still has one of them).
    """
    for hid, _, _ in selected:
        row = conn.execute("SELECT namespace, name, state, worker_id FROM handles WHERE id = ?", (hid,)).fetchone()
        if row is None or row["state"] == "initial" or (plan.dids is None and row["state"] not in plan.states):
            continue
        conn.execute("UPDATE handles SET state = 'initial', worker_id = NULL WHERE id = ?", (hid,))
        log_handle(conn, plan.project_id, row["namespace"], row["name"], now,
                   {"event": "reset", "worker": row["worker_id"], "state": "initial", "old_state": row["state"]})


def undo_resets(conn: sqlite3.Connection, project_id: int, log_start: int, limit: int | None) -> int:
    """Put back up to ``limit`` (None: all) handles reset by an unfinished restart (log records after ``log_start``).

    A handle that changed again since its reset is left as it is. Returns how
    many reset records were undone (and removed from the log).
    """
    records = conn.execute(
        "SELECT id, namespace, name, data FROM handle_log WHERE project_id = ? AND id > ? AND type = 'state' "
        "AND json_extract(data, '$.event') = 'reset' ORDER BY id DESC LIMIT ?",
        (project_id, log_start, -1 if limit is None else limit)).fetchall()
    for record in records:
        data = orjson.loads(record["data"])
        conn.execute("UPDATE handles SET state = ?, worker_id = ? WHERE project_id = ? AND namespace = ? "
                     "AND name = ? AND state = 'initial'",
                     (data.get("old_state"), data.get("worker"), project_id, record["namespace"], record["name"]))
        conn.execute("DELETE FROM handle_log WHERE id = ?", (record["id"],))
    return len(records)
