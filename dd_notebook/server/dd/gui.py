"""JSON endpoints of upstream's GUI server (spec §12), mounted under ``/dd/gui/P``.

They let tools written for production (which can read the handle log only
through the GUI server) run unchanged against the embedded server:
``handle_logs`` (handle-log records by time) and ``handle_state_counts``
(state counts with the derived states of initial handles).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import orjson
from starlette.responses import Response

from ..core.errors import bad_request
from ..core.service import Call, Endpoint
from .projects import ProjectStore
from .snapshots import SnapshotAnswers

_UNSAFE = set("<'>\\|")


def _project_id(call: Call) -> int:
    unknown = sorted(set(call.params) - {"project_id"})
    if unknown:
        raise bad_request(f"Unknown parameter(s): {', '.join(unknown)}")
    if any(_UNSAFE & set(str(v)) for v in call.params.values()):
        raise bad_request("Invalid characters in parameter value")
    return call.int_param("project_id", "Project id must be specified")


class GUIEndpoints:
    """The GUI JSON endpoints, answered off the event loop on one read-only snapshot each.

    Args:
        answers: Builds the answers on read-only snapshots.
    """

    def __init__(self, answers: SnapshotAnswers) -> None:
        self._answers = answers

    def table(self) -> dict[str, Endpoint]:
        """Endpoint name → function."""
        return {"handle_logs": self.handle_logs, "handle_state_counts": self.handle_state_counts}

    def handle_logs(self, call: Call) -> Awaitable[Response]:
        """Handle-log records of a project ordered by time."""
        project_id = _project_id(call)
        return self._answers.json(lambda store: handle_logs(store, project_id))

    def handle_state_counts(self, call: Call) -> Awaitable[Response]:
        """Counts per state; initial handles are counted as ``available``, ``found`` or ``not found``."""
        project_id = _project_id(call)
        return self._answers.json(lambda store: handle_state_counts(store, project_id))


def handle_logs(store: ProjectStore, project_id: int) -> list[dict[str, Any]]:
    """The ``state`` records of a project's handle log ordered by time (404 for an unknown project)."""
    store.require(project_id)
    return [{"type": kind, "t": t, "data": orjson.Fragment(data), "project_id": project_id, "namespace": ns,
             "name": n}
            for ns, n, t, kind, data in store.conn.execute(
                "SELECT namespace, name, t, type, data FROM handle_log WHERE project_id = ? AND type = 'state' "
                "ORDER BY t, id", (project_id,))]


def handle_state_counts(store: ProjectStore, project_id: int) -> dict[str, int]:
    """Counts per state with the derived states of initial handles (404 for an unknown project)."""
    store.require(project_id)
    counts = {"initial": 0, "reserved": 0, "done": 0, "failed": 0, "available": 0, "found": 0, "not found": 0}
    for state, n in store.conn.execute(
            "SELECT state, count(*) FROM handles WHERE project_id = ? AND state != 'initial' GROUP BY state",
            (project_id,)):
        counts[state] = n
    for derived, n in store.conn.execute(
            "SELECT CASE WHEN max(r.available = 1 AND s.is_available = 1) THEN 'available' "
            "WHEN count(r.rse) > 0 THEN 'found' ELSE 'not found' END AS derived, 1 "
            "FROM handles h LEFT JOIN replicas r ON r.namespace = h.namespace AND r.name = h.name "
            "LEFT JOIN rses s ON s.name = r.rse WHERE h.project_id = ? AND h.state = 'initial' "
            "GROUP BY h.id", (project_id,)):
        counts[derived] += n
    return counts
