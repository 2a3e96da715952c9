"""Project and handle bookkeeping of the embedded DD server (spec §3.3–§3.12, §4.5, §5)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import orjson

from ..auth.users import User, UserStore
from ..core.errors import bad_request, forbidden, not_found
from ..core.numbers import parse_int
from ..core.transactions import transaction
from .records import (
    HANDLE_COLUMNS,
    PROJECT_COLUMNS,
    REPLICA_SELECT,
    handle_record,
    log_project,
    project_record,
    replica_record,
)
from .validation import (
    MAX_FILE_NAME_BYTES,
    file_spec,
    optional_object,
    optional_string,
    string_list,
    timeout_seconds,
)


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


@dataclass
class ProjectPlan:
    """A validated project to create: its row's values and its handles ``(namespace, name, attributes JSON)``.

    ``event`` is logged on the new project (a copy records its source).
    """

    owner: str
    attributes: dict[str, Any]
    query: str | None
    worker_timeout: float | None
    idle_timeout: float | None
    users: list[str]
    roles: list[str]
    handles: list[tuple[str, str, str]]
    event: dict[str, Any] | None = None


def plan_create(owner: str, body: dict[str, Any]) -> ProjectPlan:
    """Validate a ``create_project`` body completely (no database needed, so it may run in a thread).

    Raises:
        HTTPError: 400 naming the first problem.
    """
    files = body.get("files")
    if not isinstance(files, list):
        raise bad_request("files must be a list of file specifications")
    handles: list[tuple[str, str, str]] = []
    for spec in files:
        if type(spec) is str:  # the common "namespace:name" form, checked without building a list
            ns, _, name = spec.partition(":")
            if (ns and name and ":" not in name and len(spec) <= MAX_FILE_NAME_BYTES and spec.isascii()
                    and spec.isprintable()):  # else file_spec names the problem
                handles.append((ns, name, "{}"))
                continue
        ns, name, attributes = file_spec(spec)
        handles.append((ns, name, _dumps(attributes) if attributes else "{}"))
    if len({(ns, name) for ns, name, _ in handles}) != len(handles):
        seen: set[tuple[str, str]] = set()
        for ns, name, _ in handles:
            if (ns, name) in seen:
                raise bad_request(f"Duplicate file in the list: {ns}:{name}")
            seen.add((ns, name))
    attributes = optional_object(body, "project_attributes")
    query = optional_string(body, "query")
    worker_timeout = timeout_seconds(body.get("worker_timeout"), "worker_timeout")
    idle_timeout = timeout_seconds(body.get("idle_timeout"), "idle_timeout")
    users, roles = string_list(body, "users"), string_list(body, "roles")
    return ProjectPlan(owner, attributes, query, worker_timeout, idle_timeout, users, roles, handles)


class ProjectStore:
    """All project operations on one connection.

    Args:
        conn: Connection from :func:`dd_notebook.server.db.connect`.
        users: The user store (project ``users``/``roles`` must exist).
    """

    def __init__(self, conn: sqlite3.Connection, users: UserStore) -> None:
        self.conn = conn
        self.users = users

    # ---- reading -----------------------------------------------------------------------------

    def row(self, project_id: int) -> sqlite3.Row | None:
        """Return the ``PROJECT_COLUMNS`` row of a project, or None."""
        return self.conn.execute(f"SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?",
                                 (project_id,)).fetchone()

    def require(self, project_id: int) -> sqlite3.Row:
        """Return the project row; 404 ``Project not found`` otherwise."""
        row = self.row(project_id)
        if row is None:
            raise not_found("Project not found")
        return row

    def require_owner(self, project_id: int, user: User) -> sqlite3.Row:
        """Return the project row when ``user`` is its owner or an admin (404/403 otherwise)."""
        row = self.require(project_id)
        if not (user.is_admin or user.username == row["owner"]):
            raise forbidden("Forbidden")
        return row

    def is_active(self, project_id: int, state: str) -> bool:
        """The computed ``active`` flag: state active and a handle left to process."""
        return state == "active" and self.has_open_handles(project_id)

    def has_open_handles(self, project_id: int) -> bool:
        """True when some handle of the project is ``initial`` or ``reserved``."""
        return self.conn.execute(
            "SELECT 1 FROM handles WHERE project_id = ? AND state IN ('initial', 'reserved') LIMIT 1",
            (project_id,)).fetchone() is not None

    def handles(self, project_id: int, with_replicas: bool, states: tuple[str, ...] | None = None
                ) -> list[dict[str, Any]]:
        """Handles of a project sorted by ``(namespace, name)``, optionally with replicas."""
        sql = f"SELECT {HANDLE_COLUMNS} FROM handles WHERE project_id = ?"
        args: list[Any] = [project_id]
        if states is not None:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args.extend(states)
        handles = [handle_record(r) for r in self.conn.execute(sql + " ORDER BY namespace, name", args)]
        if with_replicas:
            replicas: dict[tuple[str, str], dict[str, Any]] = {}
            for r in self.conn.execute(
                    REPLICA_SELECT + " JOIN handles h ON h.namespace = r.namespace AND h.name = r.name "
                    "WHERE h.project_id = ? ORDER BY r.namespace, r.name, r.rse", (project_id,)):
                replicas.setdefault((r["namespace"], r["name"]), {})[r["rse"]] = replica_record(r)
            for h in handles:
                h["replicas"] = replicas.get((h["namespace"], h["name"]), {})
        return handles

    def record(self, row: sqlite3.Row, with_files: bool = False, with_replicas: bool = False) -> dict[str, Any]:
        """Project JSON for ``row``; ``file_handles`` when files or replicas are asked for."""
        record = project_record(row, self.is_active(row["id"], row["state"]))
        if with_files or with_replicas:
            record["file_handles"] = self.handles(row["id"], with_replicas)
        return record

    def listing(self, owner: str | None, state: str | None, not_state: str | None,
                attributes: dict[str, Any] | None, with_files: bool, with_replicas: bool
                ) -> list[dict[str, Any]]:
        """Projects matching exact filters, by ascending id (``projects`` endpoint)."""
        sql = f"SELECT {PROJECT_COLUMNS} FROM projects WHERE 1 = 1"
        args: list[Any] = []
        for column, op, value in (("owner", "=", owner), ("state", "=", state), ("state", "!=", not_state)):
            if value is not None:
                sql += f" AND {column} {op} ?"
                args.append(value)
        rows = self.conn.execute(sql + " ORDER BY id", args).fetchall()
        if attributes:
            rows = [r for r in rows if _contains(orjson.loads(r["attributes"]), attributes)]
        return [self.record(r, with_files, with_replicas) for r in rows]

    # ---- creating ----------------------------------------------------------------------------

    def plan_copy(self, owner: str, body: dict[str, Any]) -> ProjectPlan:
        """Validate a ``copy_project`` body and read the source project: what the copy will hold (spec §3.4)."""
        if body.get("project_id") in (None, "", 0):
            raise bad_request("Project id must be specified")
        source_id = parse_int(body["project_id"], "project_id")
        source = self.require(source_id)
        project_overrides = optional_object(body, "project_attributes")
        file_overrides = optional_object(body, "file_attributes")
        worker_timeout = _copied_timeout(body.get("worker_timeout"), source["worker_timeout"], "worker_timeout")
        idle_timeout = _copied_timeout(body.get("idle_timeout"), source["idle_timeout"], "idle_timeout")
        attributes = {**orjson.loads(source["attributes"]), **project_overrides}
        handles = []
        for ns, name, attrs in self.conn.execute(
                "SELECT namespace, name, attributes FROM handles WHERE project_id = ? ORDER BY id", (source_id,)):
            handles.append((ns, name, _dumps({**orjson.loads(attrs), **file_overrides}) if file_overrides else attrs))
        event = {"event": "copied", "source": source_id, "override": {"project": attributes, "file": file_overrides}}
        return ProjectPlan(owner, attributes, source["query"], worker_timeout, idle_timeout, [], [], handles, event)

    def check_members(self, plan: ProjectPlan) -> None:
        """400 naming the users and roles of ``plan`` that do not exist."""
        unknown_users = sorted(set(plan.users) - self.users.existing_users(plan.users))
        if unknown_users:
            raise bad_request(f"Unknown user(s) in users: {', '.join(unknown_users)}")
        unknown_roles = sorted(set(plan.roles) - self.users.existing_roles(plan.roles))
        if unknown_roles:
            raise bad_request(f"Unknown role(s) in roles: {', '.join(unknown_roles)}")

    def insert(self, plan: ProjectPlan) -> int:
        """Create the project of ``plan`` with all its handles in one transaction; return its id."""
        with transaction(self.conn):
            project_id = self.insert_project(plan)
            self.insert_handles(project_id, plan.handles)
        return project_id

    def insert_project(self, plan: ProjectPlan, project_id: int | None = None) -> int:
        """Insert the project row of ``plan`` (with ``project_id`` when reserved before); return its id.

        The caller holds the transaction.
        """
        now = time.time()
        cursor = self.conn.execute(
            "INSERT INTO projects(id, owner, state, attributes, created_timestamp, query, worker_timeout, "
            "idle_timeout, users, roles, last_activity) VALUES (?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)",
            (project_id, plan.owner, _dumps(plan.attributes), now, plan.query, plan.worker_timeout,
             plan.idle_timeout, _dumps(plan.users), _dumps(plan.roles), now))
        assert cursor.lastrowid is not None
        if plan.event is not None:
            log_project(self.conn, cursor.lastrowid, time.time(), "event", plan.event)
        return cursor.lastrowid

    def insert_handles(self, project_id: int, handles: list[tuple[str, str, str]]) -> None:
        """Insert ``(namespace, name, attributes JSON)`` handles in ``initial`` with their creation log records.

        The caller holds the transaction.
        """
        now = time.time()
        self.conn.executemany(
            "INSERT INTO handles(project_id, namespace, name, state, attempts, attributes) "
            "VALUES (?, ?, ?, 'initial', 0, ?)", [(project_id, ns, n, a) for ns, n, a in handles])
        self.conn.executemany(
            "INSERT INTO handle_log(project_id, namespace, name, t, type, data) VALUES (?, ?, ?, ?, 'state', ?)",
            [(project_id, ns, n, now, '{"event":"create","state":"initial"}') for ns, n, _ in handles])

    # ---- managing ----------------------------------------------------------------------------

    def cancel(self, project_id: int, user: User) -> int:
        """Cancel a project from any state (handles untouched); return its id."""
        row = self.require_owner(project_id, user)
        if row["state"] != "cancelled":
            now = time.time()
            with transaction(self.conn):
                self.conn.execute("UPDATE projects SET state = 'cancelled', ended_timestamp = ? WHERE id = ?",
                                  (now, project_id))
                log_project(self.conn, project_id, now, "state", {"event": "cancel", "state": "cancelled"})
        return project_id

    def activate(self, project_id: int, user: User) -> int:
        """Set a project ``active`` again (``ended_timestamp`` kept, Q-ENDED); return its id."""
        row = self.require_owner(project_id, user)
        if row["state"] != "active":
            with transaction(self.conn):
                self.set_active(project_id, time.time())
        return project_id

    def set_active(self, project_id: int, now: float) -> None:
        """Re-activate a project and log it (caller holds the transaction)."""
        self.conn.execute("UPDATE projects SET state = 'active' WHERE id = ?", (project_id,))
        log_project(self.conn, project_id, now, "state", {"event": "activate", "state": "active"})

    # ---- extension reads ---------------------------------------------------------------------

    def handle(self, project_id: int, namespace: str, name: str) -> dict[str, Any] | None:
        """One handle with its replicas, or None."""
        row = self.conn.execute(f"SELECT {HANDLE_COLUMNS} FROM handles WHERE project_id = ? AND namespace = ? "
                                "AND name = ?", (project_id, namespace, name)).fetchone()
        if row is None:
            return None
        handle = handle_record(row)
        handle["replicas"] = {r["rse"]: replica_record(r) for r in self.conn.execute(
            REPLICA_SELECT + " WHERE r.namespace = ? AND r.name = ? ORDER BY r.rse", (namespace, name))}
        return handle

    def handle_log(self, project_id: int) -> list[dict[str, Any]]:
        """All handle-log records of a project ordered by ``(namespace, name, t)``."""
        self.require(project_id)
        return [{"type": kind, "t": t, "data": orjson.Fragment(data), "project_id": project_id,
                 "namespace": ns, "name": n}
                for ns, n, t, kind, data in self.conn.execute(
                    "SELECT namespace, name, t, type, data FROM handle_log WHERE project_id = ? "
                    "ORDER BY namespace, name, t, id", (project_id,)).fetchall()]

    def handle_log_page(self, project_id: int, after: int, limit: int) -> tuple[list[dict[str, Any]], int, bool]:
        """Handle-log records of a project after cursor ``after``, ordered by record id, at most ``limit``.

        The cursor is the id of the last record a client has received (0 before
        the first). Record ids only grow while the project exists, so "ids
        greater than the cursor" are exactly the records added since.

        Returns:
            ``(records, next_cursor, more)``: the records as :meth:`handle_log`
            gives them, the cursor to send next time (unchanged when nothing is
            new) and whether more records are waiting beyond ``limit``.
        """
        self.require(project_id)
        check_log_cursor(self.conn, after)
        rows = self.conn.execute(
            "SELECT id, namespace, name, t, type, data FROM handle_log WHERE project_id = ? AND id > ? "
            "ORDER BY id LIMIT ?", (project_id, after, limit)).fetchall()
        cursor = rows[-1]["id"] if rows else after
        more = len(rows) == limit and log_has_more(self.conn, project_id, cursor)
        return ([{"type": kind, "t": t, "data": orjson.Fragment(data), "project_id": project_id,
                  "namespace": ns, "name": n} for _, ns, n, t, kind, data in rows], cursor, more)


#: Most handle-log records one incremental answer holds (``project_handles_log?after=``).
MAX_LOG_PAGE = 100_000


def check_log_cursor(conn: sqlite3.Connection, after: int) -> None:
    """400 unless ``after`` can be a cursor of this server's handle log (0 up to the newest record id)."""
    newest = conn.execute("SELECT COALESCE(max(id), 0) FROM handle_log").fetchone()[0]
    if after < 0 or after > newest:
        raise bad_request(f"Invalid cursor after={after}: not a position in this server's handle log "
                          f"(0 to {newest}); start again from after=0")


def log_has_more(conn: sqlite3.Connection, project_id: int, cursor: int, state_only: bool = False) -> bool:
    """Whether the project has handle-log records (only ``state`` ones if asked) after ``cursor``."""
    return conn.execute("SELECT 1 FROM handle_log WHERE project_id = ? AND id > ? AND (? = 0 OR type = 'state') "
                        "LIMIT 1", (project_id, cursor, int(state_only))).fetchone() is not None


def _contains(attributes: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """JSON containment of scalar values, as PostgreSQL's ``@>`` for ``{"k": v}``."""
    for key, value in wanted.items():
        if key not in attributes:
            return False
        have = attributes[key]
        if type(have) is not type(value) and not (isinstance(have, (int, float)) and isinstance(value, (int, float))
                                                  and not isinstance(have, bool) and not isinstance(value, bool)):
            return False
        if have != value:
            return False
    return True


def _copied_timeout(value: Any, original: float | None, key: str) -> float | None:
    if value is None or value == "default":
        return original
    if value in ("no timeout", "none", "None"):
        return None
    return timeout_seconds(value, key)

