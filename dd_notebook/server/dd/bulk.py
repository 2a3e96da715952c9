"""Writes that grow with a project (create, copy, delete, restart), in chunks that let others in.

SQLite has one writer, and the server's writes run on the event loop. One
transaction of 10^6 handles would stop every other client for seconds, so a
big write is cut into chunks of :attr:`BulkWrites.chunk_rows` rows: each chunk
is one savepoint of the group transaction, committed before the next one
starts, and the requests of other clients run between two chunks.

What dispatch may see in between is controlled by a ``bulk_work`` row, written
in the first short transaction:

* **create / copy**: the project's id is reserved (never reused), the handles
  are inserted in chunks under that id, and the ``projects`` row is written in
  the last short transaction. Until then the project does not exist for any
  request (404), so nothing can be reserved from a half-created project.
* **delete**: the ``projects`` row goes first (the project is gone at once),
  its handles and logs follow in chunks.
* **restart**: ``next_file`` of the project answers "retry" while its handles
  are reset in chunks; a failure puts every reset handle back as it was.

A request that fails midway removes what it wrote (a failed request writes
nothing). Work cut short by a crash is finished by :func:`recover` when the
server starts: unfinished creations are removed, deletions completed,
restarts undone.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable

from ..auth.users import User
from ..core.errors import HTTPError
from ..core.group_commit import GroupCommit
from ..core.transactions import transaction
from .projects import ProjectPlan, ProjectStore
from .records import log_project
from .restart import RestartPlan, reset_handles, undo_resets

log = logging.getLogger(__name__)

__all__ = ["BulkWrites", "recover"]

#: Rows written per chunk (about 20-40 ms of SQLite work on this machine).
CHUNK_ROWS = 2_000

#: Called after each committed chunk with the kind of work and the project id (progress, tests).
ChunkHook = Callable[[str, int], Awaitable[None]]


class BulkWrites:
    """Big writes on the server's connection, one committed chunk at a time.

    Args:
        projects: The project store on the server's write connection.
        commits: Its group committer (None: each chunk commits on its own).
        chunk_rows: Rows per chunk.
    """

    def __init__(self, projects: ProjectStore, commits: GroupCommit | None, chunk_rows: int = CHUNK_ROWS) -> None:
        self.projects = projects
        self.conn = projects.conn
        self.commits = commits
        self.chunk_rows = chunk_rows
        self.after_chunk: ChunkHook | None = None

    async def _commit(self, kind: str, project_id: int) -> None:
        if self.commits is not None:
            await self.commits.flush()
        await asyncio.sleep(0)
        if self.after_chunk is not None:
            await self.after_chunk(kind, project_id)

    def _begin(self, kind: str, project_id: int) -> None:
        running = self.conn.execute("SELECT kind FROM bulk_work WHERE project_id = ?", (project_id,)).fetchone()
        if running is not None:
            raise HTTPError(409, f"Project {project_id} is busy with a {running['kind']} of many handles; "
                                 "retry when it is done")
        log_start = self.conn.execute("SELECT COALESCE(max(id), 0) FROM handle_log").fetchone()[0]
        self.conn.execute("INSERT INTO bulk_work(project_id, kind, started, log_start) VALUES (?, ?, ?, ?)",
                          (project_id, kind, time.time(), log_start))

    def _end(self, project_id: int) -> None:
        self.conn.execute("DELETE FROM bulk_work WHERE project_id = ?", (project_id,))

    # ---- create ------------------------------------------------------------------------------

    async def create(self, plan: ProjectPlan) -> int:
        """Create the project of ``plan``; it becomes visible (and dispatchable) only when complete.

        Returns:
            The new project's id. The caller answers after the group commit.
        """
        if len(plan.handles) <= self.chunk_rows:
            return self.projects.insert(plan)
        with transaction(self.conn):
            project_id = reserve_project_id(self.conn)
            self._begin("create", project_id)
        try:
            await self._commit("create", project_id)
            for start in range(0, len(plan.handles), self.chunk_rows):
                with transaction(self.conn):
                    self.projects.insert_handles(project_id, plan.handles[start:start + self.chunk_rows])
                await self._commit("create", project_id)
            with transaction(self.conn):
                self.projects.insert_project(plan, project_id)
                self._end(project_id)
        except BaseException:
            await self._remove_after_failure(project_id)
            raise
        return project_id

    async def _remove_after_failure(self, project_id: int) -> None:
        try:
            await self.purge(project_id)
        except Exception:  # the bulk_work row stays; recover() removes the rest at the next start
            log.exception("could not remove the unfinished project %s; it is removed at the next start",
                          project_id)

    # ---- delete ------------------------------------------------------------------------------

    async def delete(self, project_id: int, user: User) -> None:
        """Delete a project: gone for every request at once, its handles and logs removed in chunks."""
        self.projects.require_owner(project_id, user)
        with transaction(self.conn) as c:
            c.execute("DELETE FROM projects WHERE id = ?", (project_id,))
            c.execute("DELETE FROM project_log WHERE project_id = ?", (project_id,))
            self._begin("delete", project_id)
        await self._commit("delete", project_id)
        try:
            await self.purge(project_id)
        except Exception:  # the project is gone for good; its invisible rows are removed at the next start
            log.exception("could not remove every handle of the deleted project %s; removed at the next start",
                          project_id)

    async def purge(self, project_id: int) -> None:
        """Remove the handles and logs of ``project_id`` in chunks, then its ``bulk_work`` row."""
        for table in ("handles", "handle_log"):
            while True:
                with transaction(self.conn) as c:
                    removed = c.execute(
                        f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE project_id = ? LIMIT ?)",
                        (project_id, self.chunk_rows)).rowcount
                await self._commit("purge", project_id)
                if removed < self.chunk_rows:
                    break
        with transaction(self.conn) as c:
            c.execute("DELETE FROM project_log WHERE project_id = ? AND NOT EXISTS "
                      "(SELECT 1 FROM projects WHERE id = ?)", (project_id, project_id))
            self._end(project_id)

    # ---- restart -----------------------------------------------------------------------------

    async def restart(self, plan: RestartPlan, selected: list[tuple[int, str, str]]) -> int:
        """Reset the ``selected`` handles to ``initial`` (spec §3.8); big selections in chunks, dispatch held meanwhile.

        Args:
            plan: The validated request.
            selected: The handles it selects (:meth:`RestartPlan.select`, possibly on a snapshot).

        Returns:
            The project id.
        """
        if len(selected) <= self.chunk_rows:
            with transaction(self.conn) as c:
                reset_handles(c, plan, selected, time.time())
                plan.finish(c, self.projects, selected, time.time())
            return plan.project_id
        with transaction(self.conn):
            self._begin("restart", plan.project_id)
            log_start = self.conn.execute("SELECT log_start FROM bulk_work WHERE project_id = ?",
                                          (plan.project_id,)).fetchone()[0]
        try:
            await self._commit("restart", plan.project_id)
            now = time.time()
            for start in range(0, len(selected), self.chunk_rows):
                with transaction(self.conn) as c:
                    reset_handles(c, plan, selected[start:start + self.chunk_rows], now)
                await self._commit("restart", plan.project_id)
            with transaction(self.conn) as c:
                plan.finish(c, self.projects, selected, now)
                self._end(plan.project_id)
        except BaseException:
            await self._undo_restart(plan.project_id, log_start)
            raise
        return plan.project_id

    async def _undo_restart(self, project_id: int, log_start: int) -> None:
        try:
            while True:
                with transaction(self.conn) as c:
                    undone = undo_resets(c, project_id, log_start, self.chunk_rows)
                await self._commit("undo", project_id)
                if undone < self.chunk_rows:
                    break
            with transaction(self.conn):
                self._end(project_id)
        except Exception:
            log.exception("could not undo the unfinished restart of project %s; it is undone at the next start",
                          project_id)


def reserve_project_id(conn: sqlite3.Connection) -> int:
    """Take the next project id for a project whose row is written later (ids are never reused).

    The caller holds the transaction.
    """
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'projects'").fetchone()
    highest = conn.execute("SELECT COALESCE(max(project_id), 0) FROM bulk_work WHERE kind = 'create'").fetchone()[0]
    project_id = max(row[0] if row is not None else 0, highest) + 1
    if row is None:
        conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('projects', ?)", (project_id,))
    else:
        conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'projects'", (project_id,))
    return project_id


def recover(conn: sqlite3.Connection) -> int:
    """Finish the big writes a crash cut short (at start-up, before any request; one transaction each).

    Unfinished creations are removed, deletions completed, restarts undone.

    Returns:
        Number of projects that needed it.
    """
    rows = conn.execute("SELECT project_id, kind, log_start FROM bulk_work ORDER BY project_id").fetchall()
    for project_id, kind, log_start in rows:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if kind == "restart":
                undo_resets(conn, project_id, log_start, None)
                log_project(conn, project_id, time.time(), "event", {"event": "restart_undone"})
            else:
                for table in ("handles", "handle_log"):
                    conn.execute(f"DELETE FROM {table} WHERE project_id = ?", (project_id,))
                conn.execute("DELETE FROM project_log WHERE project_id = ? AND NOT EXISTS "
                             "(SELECT 1 FROM projects WHERE id = ?)", (project_id, project_id))
            conn.execute("DELETE FROM bulk_work WHERE project_id = ?", (project_id,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        log.warning("finished the interrupted %s of project %s", kind, project_id)
    return len(rows)
