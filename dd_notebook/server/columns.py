"""Column-oriented project listings for dd-notebook's own client (content negotiation).

A client that sends ``Accept: application/vnd.dd-notebook.columns+json`` to the
``project`` endpoint gets one JSON object of equal-length column lists instead of
a list of handle objects: the same information, a fraction of the bytes and
parsing time on 10^5–10^6 handles. Every other client gets the standard JSON.
"""

from __future__ import annotations

from typing import Any

import orjson

from .projects import ProjectStore

COLUMNS_TYPE = "application/vnd.dd-notebook.columns+json"


def project_columns(projects: ProjectStore, row: tuple, with_handles: bool, with_replicas: bool
                    ) -> dict[str, Any]:
    """Return ``{"project": ..., "handles": {column: [...]}, "replicas": {column: [...]}}``.

    Args:
        projects: The project store.
        row: The project's ``PROJECT_COLUMNS`` row.
        with_handles: Include the ``handles`` table.
        with_replicas: Include the ``replicas`` table (one row per replica of a project file).
    """
    project_id = row[0]
    result: dict[str, Any] = {"project": projects.record(row)}
    if not (with_handles or with_replicas):
        return result
    rows = projects.conn.execute(
        "SELECT namespace, name, state, worker_id, attempts, attributes, reserved_since FROM handles "
        "WHERE project_id = ? ORDER BY namespace, name", (project_id,)).fetchall()
    names = ("namespace", "name", "state", "worker_id", "attempts", "attributes", "reserved_since")
    columns = dict(zip(names, map(list, zip(*rows)))) if rows else {n: [] for n in names}
    columns["attributes"] = orjson.Fragment(b"[" + b",".join(a.encode() for a in columns["attributes"]) + b"]")
    result["handles"] = columns
    if with_replicas:
        replica_rows = projects.conn.execute(
            "SELECT r.namespace, r.name, r.rse, r.path, r.url, r.preference, r.available, "
            "COALESCE(s.is_available, 0) FROM handles h JOIN replicas r ON r.namespace = h.namespace "
            "AND r.name = h.name LEFT JOIN rses s ON s.name = r.rse WHERE h.project_id = ? "
            "ORDER BY r.namespace, r.name, r.rse", (project_id,)).fetchall()
        replica_names = ("namespace", "name", "rse", "path", "url", "preference", "available", "rse_available")
        replicas = (dict(zip(replica_names, map(list, zip(*replica_rows)))) if replica_rows
                    else {n: [] for n in replica_names})
        replicas["available"] = [bool(v) for v in replicas["available"]]
        replicas["rse_available"] = [bool(v) for v in replicas["rse_available"]]
        result["replicas"] = replicas
    return result
