"""Column-oriented project listings for dd-notebook's own client (content negotiation).

A client that sends ``Accept: application/vnd.dd-notebook.columns+jsonl`` to the
``project`` endpoint gets the project as equal-length columns instead of a list
of handle objects: the same information in a fraction of the bytes and parsing
time on 10^5–10^6 handles. Every other client gets the standard JSON.

The body is newline-separated JSON: the first line is
``{"project": {...}, "tables": {"handles": [column, ...], "replicas": [...]},
"int_booleans": {"replicas": ["available", "rse_available"]}}``, then one line
per column (a JSON array), table by table in that order, so a client can parse
one column at a time. Columns listed in ``int_booleans`` carry 0/1. SQLite builds each column's JSON array
itself: no Python object is created per handle or replica. Timestamps carry
microsecond precision.
"""

from __future__ import annotations

import orjson

from .projects import ProjectStore

COLUMNS_TYPE = "application/vnd.dd-notebook.columns+jsonl"

_HANDLE_COLUMNS = {
    "namespace": "namespace",
    "name": "name",
    "state": "state",
    "worker_id": "worker_id",
    "attempts": "attempts",
    "attributes": None,
    "reserved_since": "CASE WHEN reserved_since IS NULL THEN NULL ELSE json(printf('%.6f', reserved_since)) END",
}
_REPLICA_COLUMNS = {
    "namespace": "r.namespace",
    "name": "r.name",
    "rse": "r.rse",
    "path": "r.path",
    "url": "r.url",
    "preference": "r.preference",
    "available": "r.available",
    "rse_available": "COALESCE(s.is_available, 0)",
}
#: Columns sent as 0/1 integers (SQLite has no boolean; this saves one JSON call per value).
INT_BOOLEANS = {"replicas": ["available", "rse_available"]}


def _arrays(columns: dict[str, str | None]) -> str:
    """One aggregate per column; ``None`` marks a column of stored JSON texts, concatenated as they are."""
    return ", ".join(f"json_group_array({expr})" if expr else
                     f"'[' || COALESCE(group_concat({name}, ','), '') || ']'" for name, expr in columns.items())


_HANDLES_SQL = (f"SELECT {_arrays(_HANDLE_COLUMNS)} FROM (SELECT * FROM handles WHERE project_id = ? "
                "ORDER BY namespace, name)")
_REPLICAS_SQL = (f"SELECT {_arrays(_REPLICA_COLUMNS)} FROM handles h JOIN replicas r ON r.namespace = h.namespace "
                 "AND r.name = h.name LEFT JOIN rses s ON s.name = r.rse WHERE h.project_id = ?")


def project_columns(projects: ProjectStore, row: tuple, with_handles: bool, with_replicas: bool) -> bytes:
    """Return the line-oriented columnar body of a project (see the module docstring).

    Args:
        projects: The project store.
        row: The project's ``PROJECT_COLUMNS`` row.
        with_handles: Include the ``handles`` table (sorted by namespace, name).
        with_replicas: Include the ``replicas`` table (one row per replica of a project file).
    """
    tables: dict[str, list[str]] = {}
    lines: list[bytes] = []
    if with_handles or with_replicas:
        tables["handles"] = list(_HANDLE_COLUMNS)
        lines.extend(a.encode() for a in projects.conn.execute(_HANDLES_SQL, (row[0],)).fetchone())
    if with_replicas:
        tables["replicas"] = list(_REPLICA_COLUMNS)
        lines.extend(a.encode() for a in projects.conn.execute(_REPLICAS_SQL, (row[0],)).fetchone())
    header = orjson.dumps({"project": projects.record(row), "tables": tables,
                           "int_booleans": {t: INT_BOOLEANS[t] for t in tables if t in INT_BOOLEANS}})
    return b"\n".join([header, *lines])
