"""The DD endpoints that create and change projects (spec §3.3–§3.9), big ones in chunks (:mod:`.bulk`).

Each answers with the project read on a snapshot after the group commit
(:mod:`.snapshots`), written by SQLite in the standard JSON (:mod:`.standard_json`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..auth.users import User
from ..core.errors import bad_request
from ..core.http import JSON_TYPE, json_response
from ..core.service import Call
from .bulk import BulkWrites, recover
from .projects import ProjectStore, plan_create
from .restart import RestartPlan
from .snapshots import SnapshotAnswers
from .standard_json import project_json

__all__ = ["ProjectWriteEndpoints", "project_id_param"]


def project_id_param(call: Call, message: str = "Project id must be specified") -> int:
    """The ``project_id`` parameter; 400 with ``message`` when absent."""
    return call.int_param("project_id", message)


class ProjectWriteEndpoints:
    """``create_project``, ``copy_project``, ``delete_project``, ``cancel_project``, ``activate_project``,
    ``restart_handles``, ``restart_project``.

    Unfinished big writes a crash left behind are finished when this is built (:func:`.bulk.recover`).

    Args:
        projects: Project store on the server's write connection.
        answers: Builds the answers on snapshots.
    """

    def __init__(self, projects: ProjectStore, answers: SnapshotAnswers) -> None:
        recover(projects.conn)
        #: Creates, copies, deletes and restarts in chunks (``bulk.after_chunk`` observes the chunks).
        self.bulk = BulkWrites(projects, answers.commits)
        self._answers = answers
        self._projects = projects

    def _committed_project(self, project_id: int, with_replicas: bool) -> Awaitable[Response]:
        """The answer to a write: the project with its handles, read after the commit."""
        return self._answers.body(lambda store: project_json(store, project_id, True, with_replicas), JSON_TYPE,
                                  after_commit=True)

    def create_project(self, call: Call) -> Awaitable[Response]:
        """Create a project from a file list (any authenticated user).

        The body is parsed and validated in a worker thread; big projects are
        written in chunks and become visible when complete (:mod:`.bulk`).
        """
        user = call.user()

        async def create() -> Response:
            plan = await run_in_threadpool(lambda: plan_create(user.username, call.json_object()))
            self._projects.check_members(plan)
            return await self._committed_project(await self.bulk.create(plan), False)
        return create()

    def copy_project(self, call: Call) -> Awaitable[Response]:
        """Copy any project; the copy belongs to the caller (source read on a snapshot, written in chunks)."""
        user = call.user()
        body = call.json_object()

        async def copy() -> Response:
            plan = await self._answers.value(lambda conn: ProjectStore(conn, self._projects.users).plan_copy(
                user.username, body))
            return await self._committed_project(await self.bulk.create(plan), False)
        return copy()

    def delete_project(self, call: Call) -> Awaitable[Response]:
        """Delete a project (owner or admin): gone at once, its handles removed in chunks."""
        project_id = project_id_param(call)
        user = call.user()

        async def delete() -> Response:
            await self.bulk.delete(project_id, user)
            return json_response(None)
        return delete()

    def cancel_project(self, call: Call) -> Awaitable[Response]:
        """Cancel a project (owner or admin)."""
        project_id = project_id_param(call)
        return self._committed_project(self._projects.cancel(project_id, call.user()), True)

    def activate_project(self, call: Call) -> Awaitable[Response]:
        """Re-activate a project (owner or admin)."""
        project_id = project_id_param(call)
        return self._committed_project(self._projects.activate(project_id, call.user()), True)

    def restart_handles(self, call: Call) -> Awaitable[Response]:
        """Reset handles selected by DID or by state (owner or admin)."""
        body = call.json_object()
        if body.get("project_id") in (None, "", 0, "0"):
            raise bad_request("Project id must be specified")
        return self._restart(call.user(), body)

    def _restart(self, user: User, body: dict[str, Any]) -> Awaitable[Response]:
        plan = RestartPlan.from_body(self._projects, user, body)

        async def restart() -> Response:
            selected = await self._answers.value(plan.select)
            return await self._committed_project(await self.bulk.restart(plan, selected), True)
        return restart()

    def restart_project(self, call: Call) -> Awaitable[Response]:
        """Reset failed handles; ``force=yes`` also reserved ones, ``failed_only=no`` also done ones.

        Upstream this endpoint always fails; this is its evident intent (spec §3.9).
        """
        project_id = project_id_param(call)
        body = {"project_id": project_id, "failed": True, "reserved": call.flag("force"),
                "done": not call.flag("failed_only", "yes")}
        return self._restart(call.user(), body)
