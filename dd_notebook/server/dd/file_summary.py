"""Extension endpoint ``file_summary``: replicas and datasets of files before a project exists.

A project preview needs to know, for the files an MQL query selected, which
replicas the DD server knows (and whether they can be used) and which catalog
datasets hold them. The catalog does not carry DD replica state, and upstream
has no endpoint for it; this one answers both in one column-oriented reply::

    POST file_summary   {"dids": ["namespace:name", ...]}

    {"files": n,
     "rses": [{"name", "is_available", "is_tape", "is_enabled"}, ...],
     "replicas": {"file": [i, ...], "rse": [...], "available": [...]},
     "datasets": {"file": [i, ...], "dataset": ["ns:name", ...]} | null}

``file`` values are positions in the posted list. ``datasets`` is ``null`` when
the database holds no catalog (the embedded server always has one: catalog and
DD tables share its SQLite file). The endpoint is public, like ``project``;
the body is bounded to :data:`MAX_DIDS` DIDs and the lookup runs in a thread on
a read-only snapshot, so workers are served meanwhile.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from ..core.errors import bad_request

__all__ = ["MAX_DIDS", "file_summary", "parse_dids"]

#: Most DIDs one request may ask about.
MAX_DIDS = 1_000_000

_SPLIT = ("substr(j.value, 1, instr(j.value, ':') - 1)", "substr(j.value, instr(j.value, ':') + 1)")

# CROSS JOIN keeps the posted list as the outer loop, so every lookup is a primary-key or unique-index probe
# and the rows come out in the order of the list.
_REPLICAS_SQL = (
    "SELECT j.key, r.rse, r.available FROM json_each(?) j CROSS JOIN replicas r "
    f"ON r.namespace = {_SPLIT[0]} AND r.name = {_SPLIT[1]}")
_DATASETS_SQL = (
    "SELECT j.key, d.namespace || ':' || d.name FROM json_each(?) j CROSS JOIN mc_files f "
    f"ON f.namespace = {_SPLIT[0]} AND f.name = {_SPLIT[1]} "
    "CROSS JOIN mc_dataset_files df ON df.file_id = f.id CROSS JOIN mc_datasets d ON d.id = df.dataset_id")


def parse_dids(body: dict[str, Any]) -> list[str]:
    """Check a ``file_summary`` body and return its DIDs; 400 naming the problem otherwise."""
    unknown = sorted(set(body) - {"dids"})
    if unknown:
        raise bad_request(f"Unknown key(s) in file_summary request: {', '.join(unknown)}")
    dids = body.get("dids")
    if not isinstance(dids, list):
        raise bad_request('file_summary expects {"dids": ["namespace:name", ...]}')
    if len(dids) > MAX_DIDS:
        raise bad_request(f"too many DIDs: {len(dids):,} (at most {MAX_DIDS:,} per request)")
    for position, did in enumerate(dids):
        if not isinstance(did, str) or ":" not in did or did.startswith(":") or did.endswith(":"):
            raise bad_request(f"DID #{position} must be a string 'namespace:name', not {did!r:.80}")
    return dids


def _columns(rows: list[tuple[Any, ...]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    columns = list(zip(*rows)) if rows else [() for _ in names]
    return {name: list(values) for name, values in zip(names, columns)}


def _has_catalog(conn: sqlite3.Connection) -> bool:
    found = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                         "('mc_files', 'mc_dataset_files', 'mc_datasets')").fetchone()[0]
    return found == 3


def file_summary(conn: sqlite3.Connection, dids: list[str]) -> bytes:
    """Build the ``file_summary`` reply (JSON bytes) for ``dids`` on ``conn`` (a read-only snapshot)."""
    payload = orjson.dumps(dids).decode()
    rses = [{"name": n, "is_available": bool(a), "is_tape": bool(t), "is_enabled": bool(e)}
            for n, a, t, e in conn.execute(
                "SELECT name, is_available, is_tape, is_enabled FROM rses ORDER BY name")]
    replicas = _columns(conn.execute(_REPLICAS_SQL, (payload,)).fetchall(), ("file", "rse", "available"))
    replicas["available"] = [bool(v) for v in replicas["available"]]
    datasets = (_columns(conn.execute(_DATASETS_SQL, (payload,)).fetchall(), ("file", "dataset"))
                if _has_catalog(conn) else None)
    return orjson.dumps({"files": len(dids), "rses": rses, "replicas": replicas, "datasets": datasets})
