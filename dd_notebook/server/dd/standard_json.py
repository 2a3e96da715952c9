"""The standard (upstream-compatible) JSON of a project with its handles, written by SQLite.

Building one Python dict per handle and replica and serialising them costs
several times the columnar form in server time and memory at 10^6 handles.
Here SQLite writes each handle's JSON text itself, and Python only joins the
texts. The bytes are exactly those of ``orjson.dumps(store.record(...))``:

* integers and strings are rendered by SQLite (``json_quote`` escapes as
  orjson does for the names the server accepts, which hold no control
  characters), stored attribute and URL texts are copied as they are;
* floats are not: SQLite writes 15 significant digits where Python writes the
  shortest text that reads back the same number (``1714611192.123456``), so a
  handle with a ``reserved_since`` timestamp, or any text SQLite might render
  differently, is built by Python as before. Those are the few reserved
  handles of a project.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from .projects import ProjectStore
from .records import HANDLE_COLUMNS, REPLICA_SELECT, handle_record, replica_record

__all__ = ["project_json"]

#: Handle rows fetched per batch.
BATCH_ROWS = 5_000

_REPLICA_JSON = (
    "printf('{\"name\":%s,\"namespace\":%s,\"path\":%s,\"rse\":%s,\"url\":%s,\"urls\":%s,\"preference\":%s,"
    "\"available\":%s,\"rse_available\":%s}', json_quote(r.name), json_quote(r.namespace), json_quote(r.path), "
    "json_quote(r.rse), json_quote(r.url), r.urls, COALESCE(r.preference, 'null'), "
    "CASE WHEN r.available THEN 'true' ELSE 'false' END, CASE WHEN s.is_available THEN 'true' ELSE 'false' END)")

#: Rows SQLite can write exactly: no float, integer-typed numbers, text-typed strings.
_EXACT = ("h.reserved_since IS NULL AND typeof(h.attempts) = 'integer' AND typeof(h.namespace) = 'text' "
          "AND typeof(h.name) = 'text' AND typeof(h.state) = 'text' "
          "AND (h.worker_id IS NULL OR typeof(h.worker_id) = 'text') AND typeof(h.attributes) = 'text'")
#: ... and replicas whose preference is an integer (or null) and whose URL list is stored text.
_EXACT_REPLICAS = ("COALESCE(min(r.rse IS NULL OR (typeof(r.preference) IN ('integer', 'null') "
                   "AND typeof(r.urls) = 'text')), 1)")

_HANDLE_FORMAT = ('{"project_id":%d,"namespace":%s,"name":%s,"state":%s,"worker_id":%s,"attempts":%d,'
                  '"attributes":%s,"reserved_since":null')
_HANDLE_VALUES = ("h.project_id, json_quote(h.namespace), json_quote(h.name), json_quote(h.state), "
                  "json_quote(h.worker_id), h.attempts, h.attributes")


def _handles_sql(with_replicas: bool) -> str:
    """One row per handle, in ``(namespace, name)`` order: its JSON text (NULL when Python must build it), its id.

    With replicas, the handles are joined to their replicas in the order of
    both primary keys and grouped per handle, so no sort is needed.
    """
    if not with_replicas:
        return (f"SELECT CASE WHEN {_EXACT} THEN printf('{_HANDLE_FORMAT}}}', {_HANDLE_VALUES}) END, h.id "
                "FROM handles h WHERE h.project_id = ? ORDER BY h.namespace, h.name")
    replicas = (f"COALESCE(group_concat(CASE WHEN r.rse IS NOT NULL THEN json_quote(r.rse) || ':' || {_REPLICA_JSON} "
                "END, ','), '')")
    return (f"SELECT CASE WHEN {_EXACT} AND {_EXACT_REPLICAS} THEN printf('{_HANDLE_FORMAT},\"replicas\":{{%s}}}}', "
            f"{_HANDLE_VALUES}, {replicas}) END, h.id FROM handles h LEFT JOIN replicas r ON r.namespace = h.namespace "
            "AND r.name = h.name LEFT JOIN rses s ON s.name = r.rse WHERE h.project_id = ? "
            "GROUP BY h.namespace, h.name ORDER BY h.namespace, h.name")


_SQL = {flag: _handles_sql(flag) for flag in (False, True)}


def project_json(store: ProjectStore, project_id: int, with_files: bool, with_replicas: bool) -> bytes:
    """Return the bytes of ``orjson.dumps(store.record(row, with_files, with_replicas))``, written by SQLite.

    Args:
        store: Project store on a read-only snapshot (one consistent state).
        project_id: The project; 404 when it does not exist.
        with_files: Include ``file_handles``.
        with_replicas: Include ``file_handles`` with each handle's ``replicas``.
    """
    record = store.record(store.require(project_id))
    header = orjson.dumps(record)
    if not (with_files or with_replicas):
        return header
    parts: list[bytes] = [header[:-1], b',"file_handles":[']
    cursor = store.conn.cursor()
    cursor.row_factory = None
    cursor.execute(_SQL[with_replicas], (project_id,))
    first = True
    while rows := cursor.fetchmany(BATCH_ROWS):
        texts = [text if text is not None else _python_handle(store.conn, hid, with_replicas)
                 for text, hid in rows]
        if not first:
            parts.append(b",")
        parts.append(",".join(texts).encode())
        first = False
    parts.append(b"]}")
    return b"".join(parts)


def _python_handle(conn: sqlite3.Connection, handle_id: int, with_replicas: bool) -> str:
    """One handle's JSON built as :meth:`ProjectStore.handles` builds it (floats, unusual stored types)."""
    handle: dict[str, Any] = handle_record(conn.execute(f"SELECT {HANDLE_COLUMNS} FROM handles WHERE id = ?",
                                                        (handle_id,)).fetchone())
    if with_replicas:
        handle["replicas"] = {r["rse"]: replica_record(r) for r in conn.execute(
            REPLICA_SELECT + " WHERE r.namespace = ? AND r.name = ? ORDER BY r.rse",
            (handle["namespace"], handle["name"]))}
    return orjson.dumps(handle).decode()
