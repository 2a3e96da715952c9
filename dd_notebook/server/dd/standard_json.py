"""The standard (upstream-compatible) JSON of a project with its handles, written by SQLite.

Building one Python dict per handle and replica and serialising them costs
several times the columnar form in server time and memory at 10^6 handles.
Here SQLite writes each handle's JSON text itself and Python only joins the
texts, as bytes (no decode and encode round trip). The bytes are exactly
those of ``orjson.dumps(store.record(...))``:

* integers and strings are rendered by SQLite (``json_quote`` escapes as
  orjson does), stored attribute and URL texts are copied as they are, as
  the Python records embed them;
* the constant pieces of a replica's JSON that depend only on its RSE and
  availability (the quoted RSE name, ``available``, ``rse_available``) are
  written once per RSE, not once per replica;
* floats are not: SQLite writes 15 significant digits where Python writes the
  shortest text that reads back the same number (``1714611192.123456``). A
  value SQLite might render differently (a ``reserved_since`` timestamp, a
  stored number of an unexpected type, a replica on an unknown RSE) is written
  as the marker byte ``0x02``, which valid JSON text never holds raw, and the
  handle carrying it is built by Python as before. Those are the few reserved
  handles of a project.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from ..core.readers import text_factory
from .projects import ProjectStore
from .records import HANDLE_COLUMNS, REPLICA_SELECT, handle_record, replica_record

__all__ = ["handles_json", "project_json"]

#: Handle rows fetched per batch.
BATCH_ROWS = 5_000

#: Written by SQLite in place of a value only Python renders exactly.
_MARKER = b"\x02"
_SQL_MARKER = "char(2)"

#: One row per (RSE, availability): the texts around a replica's own values.
_RSE_PIECES = (
    "WITH s AS MATERIALIZED (SELECT rses.name, a.available, "
    "json_quote(rses.name) || ':{\"name\":' AS head, "
    "',\"rse\":' || json_quote(rses.name) || ',\"url\":' AS middle, "
    "',\"available\":' || a.text || ',\"rse_available\":' || "
    "CASE WHEN rses.is_available THEN 'true' ELSE 'false' END || '}' AS tail "
    "FROM rses, (SELECT 0 AS available, 'false' AS text UNION ALL SELECT 1, 'true') a) ")

#: ``"rse":{replica}``; the marker alone for a replica on an RSE the server does not know
#: (or of an availability other than 0 and 1), which Python builds.
_REPLICA_JSON = (
    f"CASE WHEN s.head IS NULL THEN {_SQL_MARKER} ELSE s.head || json_quote(r.name) || "
    "',\"namespace\":' || json_quote(r.namespace) || ',\"path\":' || json_quote(r.path) || s.middle || "
    f"json_quote(r.url) || ',\"urls\":' || CASE typeof(r.urls) WHEN 'text' THEN r.urls ELSE {_SQL_MARKER} END || "
    "',\"preference\":' || CASE typeof(r.preference) WHEN 'integer' THEN r.preference WHEN 'null' THEN 'null' "
    f"ELSE {_SQL_MARKER} END || s.tail END")

_HANDLE_FORMAT = ('{"project_id":%d,"namespace":%s,"name":%s,"state":%s,"worker_id":%s,"attempts":%s,'
                  '"attributes":%s,"reserved_since":%s')
_HANDLE_VALUES = (
    "h.project_id, json_quote(h.namespace), json_quote(h.name), json_quote(h.state), json_quote(h.worker_id), "
    f"CASE typeof(h.attempts) WHEN 'integer' THEN h.attempts ELSE {_SQL_MARKER} END, "
    f"CASE typeof(h.attributes) WHEN 'text' THEN h.attributes ELSE {_SQL_MARKER} END, "
    f"CASE WHEN h.reserved_since IS NULL THEN 'null' ELSE {_SQL_MARKER} END")


#: The project's handles, optionally only those in one state or not in one state.
_SELECTED = ("h.project_id = :project_id AND (:state IS NULL OR h.state = :state) "
             "AND (:not_state IS NULL OR h.state != :not_state)")


def _handles_sql(with_replicas: bool) -> str:
    """One row per handle, in ``(namespace, name)`` order: its JSON text, its id.

    With replicas, each handle's replicas are read by a correlated subquery on
    the replicas' primary key, in RSE order, so no sort and no grouping of a
    join is needed.
    """
    if not with_replicas:
        return (f"SELECT printf('{_HANDLE_FORMAT}}}', {_HANDLE_VALUES}), h.id "
                f"FROM handles h WHERE {_SELECTED} ORDER BY h.namespace, h.name")
    replicas = (f"(SELECT group_concat({_REPLICA_JSON}, ',') FROM replicas r "
                "LEFT JOIN s ON s.name = r.rse AND s.available = r.available "
                "WHERE r.namespace = h.namespace AND r.name = h.name)")
    return (f"{_RSE_PIECES}SELECT printf('{_HANDLE_FORMAT},\"replicas\":{{%s}}}}', {_HANDLE_VALUES}, "
            f"COALESCE({replicas}, '')), h.id FROM handles h WHERE {_SELECTED} ORDER BY h.namespace, h.name")


_SQL = {flag: _handles_sql(flag) for flag in (False, True)}


def project_json(store: ProjectStore, project_id: int, with_files: bool, with_replicas: bool) -> list[bytes]:
    """Return pieces whose concatenation is ``orjson.dumps(store.record(row, with_files, with_replicas))``.

    The pieces are written by SQLite, a batch of handles each, and sent as they
    are (:class:`~..core.http.PiecesResponse`).

    Args:
        store: Project store on a read-only snapshot (one consistent state).
        project_id: The project; 404 when it does not exist.
        with_files: Include ``file_handles``.
        with_replicas: Include ``file_handles`` with each handle's ``replicas``.
    """
    header = orjson.dumps(store.record(store.require(project_id)))
    if not (with_files or with_replicas):
        return [header]
    return [header[:-1], b',"file_handles":', *handles_json(store, project_id, with_replicas), b"}"]


def handles_json(store: ProjectStore, project_id: int, with_replicas: bool, state: str | None = None,
                 not_state: str | None = None) -> list[bytes]:
    """Return pieces whose concatenation is the JSON array of a project's handles, sorted by DID.

    The same bytes as ``orjson.dumps`` of :meth:`ProjectStore.handles`, filtered.

    Args:
        store: Project store on a read-only snapshot.
        project_id: The project (not checked here).
        with_replicas: Give each handle its ``replicas``.
        state: Only handles in this state.
        not_state: Only handles not in this state.
    """
    parts: list[bytes] = [b"["]
    with text_factory(store.conn, bytes) as conn:
        cursor = conn.cursor()
        cursor.row_factory = None
        cursor.execute(_SQL[with_replicas], {"project_id": project_id, "state": state, "not_state": not_state})
        while rows := cursor.fetchmany(BATCH_ROWS):
            batch = b",".join([text for text, _ in rows])
            if _MARKER in batch:
                batch = b",".join([text if _MARKER not in text else _python_handle(conn, hid, with_replicas)
                                   for text, hid in rows])
            if len(parts) > 1:
                parts.append(b",")
            parts.append(batch)
    parts.append(b"]")
    return parts


def _python_handle(conn: sqlite3.Connection, handle_id: int, with_replicas: bool) -> bytes:
    """One handle's JSON built as :meth:`ProjectStore.handles` builds it (floats, unusual stored types)."""
    with text_factory(conn, str):
        handle: dict[str, Any] = handle_record(conn.execute(f"SELECT {HANDLE_COLUMNS} FROM handles WHERE id = ?",
                                                            (handle_id,)).fetchone())
        if with_replicas:
            handle["replicas"] = {r["rse"]: replica_record(r) for r in conn.execute(
                REPLICA_SELECT + " WHERE r.namespace = ? AND r.name = ? ORDER BY r.rse",
                (handle["namespace"], handle["name"]))}
    return orjson.dumps(handle)
