"""Column-oriented project listings for dd-notebook's own client (content negotiation).

A client that sends ``Accept: application/vnd.dd-notebook.columns+json`` to the
``project`` endpoint gets one JSON object of equal-length column lists instead of
a list of handle objects: the same information in a fraction of the bytes and
parsing time on 10^5–10^6 handles. Every other client gets the standard JSON.
SQLite builds each column's JSON array itself, so no Python object is created
per handle or replica. Timestamps carry microsecond precision.
"""

from __future__ import annotations

from typing import Any

import orjson

from .projects import ProjectStore

COLUMNS_TYPE = "application/vnd.dd-notebook.columns+json"

_HANDLE_COLUMNS = {
    "namespace": "namespace",
    "name": "name",
    "state": "state",
    "worker_id": "worker_id",
    "attempts": "attempts",
    "attributes": "json(attributes)",
    "reserved_since": "CASE WHEN reserved_since IS NULL THEN NULL ELSE json(printf('%.6f', reserved_since)) END",
}
_REPLICA_COLUMNS = {
    "namespace": "r.namespace",
    "name": "r.name",
    "rse": "r.rse",
    "path": "r.path",
    "url": "r.url",
    "preference": "r.preference",
    "available": "json(CASE WHEN r.available THEN 'true' ELSE 'false' END)",
    "rse_available": "json(CASE WHEN s.is_available THEN 'true' ELSE 'false' END)",
}


def _arrays(columns: dict[str, str]) -> str:
    return ", ".join(f"json_group_array({expr})" for expr in columns.values())


_HANDLES_SQL = (f"SELECT {_arrays(_HANDLE_COLUMNS)} FROM (SELECT * FROM handles WHERE project_id = ? "
                "ORDER BY namespace, name)")
_REPLICAS_SQL = (f"SELECT {_arrays(_REPLICA_COLUMNS)} FROM handles h JOIN replicas r ON r.namespace = h.namespace "
                 "AND r.name = h.name LEFT JOIN rses s ON s.name = r.rse WHERE h.project_id = ?")


def project_columns(projects: ProjectStore, row: tuple, with_handles: bool, with_replicas: bool
                    ) -> dict[str, Any]:
    """Return ``{"project": ..., "handles": {column: [...]}, "replicas": {column: [...]}}``.

    Args:
        projects: The project store.
        row: The project's ``PROJECT_COLUMNS`` row.
        with_handles: Include the ``handles`` table (sorted by namespace, name).
        with_replicas: Include the ``replicas`` table (one row per replica of a project file).
    """
    result: dict[str, Any] = {"project": projects.record(row)}
    if with_handles or with_replicas:
        arrays = projects.conn.execute(_HANDLES_SQL, (row[0],)).fetchone()
        result["handles"] = {name: orjson.Fragment(a) for name, a in zip(_HANDLE_COLUMNS, arrays)}
    if with_replicas:
        arrays = projects.conn.execute(_REPLICAS_SQL, (row[0],)).fetchone()
        result["replicas"] = {name: orjson.Fragment(a) for name, a in zip(_REPLICA_COLUMNS, arrays)}
    return result
