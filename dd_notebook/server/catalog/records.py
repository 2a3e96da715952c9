"""Wire shapes of catalog objects (metacat-and-auth §2.3–§2.4) from database rows.

File rows are selected with :func:`file_columns` and turned into dicts by
:func:`file_dict` or straight into one JSON line by :func:`file_json` (the
stored metadata text is embedded as is, without a parse/serialise round trip).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

__all__ = [
    "dataset_columns",
    "dataset_dict",
    "file_columns",
    "file_dict",
    "file_json",
    "namespace_columns",
    "namespace_dict",
]

_BASE = ("f.fid, f.namespace, f.name, f.retired, f.retired_by, f.updated_by, f.retired_timestamp, "
         "f.updated_timestamp, f.created_timestamp, f.checksums, f.size, f.creator")
_PARENTS = ("(SELECT json_group_array(p.fid) FROM mc_provenance pc JOIN mc_files p ON p.id = pc.parent_id "
            "WHERE pc.child_id = f.id)")
_CHILDREN = ("(SELECT json_group_array(c.fid) FROM mc_provenance pc JOIN mc_files c ON c.id = pc.child_id "
             "WHERE pc.parent_id = f.id)")


def file_columns(with_metadata: bool, with_provenance: bool) -> str:
    """Return the SELECT list (over alias ``f``) that :func:`file_dict` and :func:`file_json` read."""
    columns = _BASE
    if with_metadata:
        columns += ", f.metadata"
    if with_provenance:
        columns += f", {_PARENTS}, {_CHILDREN}"
    return columns


def _links(text: str | None) -> list[dict[str, str]]:
    return [{"fid": fid} for fid in orjson.loads(text or "[]")]


def file_dict(row: Sequence[Any], with_metadata: bool, with_provenance: bool) -> dict[str, Any]:
    """Return the file object of a row selected with :func:`file_columns`."""
    out: dict[str, Any] = {
        "fid": row[0], "namespace": row[1], "name": row[2], "retired": bool(row[3]),
        "retired_by": row[4], "updated_by": row[5], "retired_timestamp": row[6],
        "updated_timestamp": row[7], "created_timestamp": row[8],
    }
    if row[9] is not None:
        out["checksums"] = orjson.loads(row[9])
    if row[10] is not None:
        out["size"] = row[10]
    if row[11] is not None:
        out["creator"] = row[11]
    position = 12
    if with_metadata:
        out["metadata"] = orjson.loads(row[position])
        position += 1
    if with_provenance:
        out["parents"] = _links(row[position])
        out["children"] = _links(row[position + 1])
    return out


def file_json(row: Sequence[Any], with_metadata: bool, with_provenance: bool) -> bytes:
    """Return the file object of a row as compact JSON bytes (same content as :func:`file_dict`).

    The stored JSON of ``checksums`` and ``metadata`` is embedded as is (``orjson.Fragment``).
    """
    out: dict[str, Any] = {
        "fid": row[0], "namespace": row[1], "name": row[2], "retired": bool(row[3]),
        "retired_by": row[4], "updated_by": row[5], "retired_timestamp": row[6],
        "updated_timestamp": row[7], "created_timestamp": row[8],
    }
    if row[9] is not None:
        out["checksums"] = orjson.Fragment(row[9])
    if row[10] is not None:
        out["size"] = row[10]
    if row[11] is not None:
        out["creator"] = row[11]
    if with_metadata:
        out["metadata"] = orjson.Fragment(row[12])
    if with_provenance:
        position = 13 if with_metadata else 12
        out["parents"] = _links(row[position])
        out["children"] = _links(row[position + 1])
    return orjson.dumps(out)


_DATASET = ("d.namespace, d.name, d.frozen, d.monotonic, d.metadata, d.creator, d.created_timestamp, "
                   "d.file_meta_requirements, d.description, d.file_count, d.updated_timestamp, d.updated_by")


def dataset_columns() -> str:
    """Return the SELECT list (over alias ``d``) that :func:`dataset_dict` reads."""
    return _DATASET


def dataset_dict(row: Sequence[Any]) -> dict[str, Any]:
    """Return the dataset object of a row selected with :func:`dataset_columns`."""
    return {
        "namespace": row[0], "name": row[1], "frozen": bool(row[2]), "monotonic": bool(row[3]),
        "metadata": orjson.loads(row[4] or "{}"), "creator": row[5], "created_timestamp": row[6],
        "file_meta_requirements": orjson.loads(row[7] or "{}"), "description": row[8],
        "file_count": row[9], "updated_timestamp": row[10], "updated_by": row[11],
    }


def namespace_columns() -> str:
    """Return the SELECT list (over alias ``n``) that :func:`namespace_dict` reads."""
    return "n.name, n.owner_user, n.owner_role, n.creator, n.description, n.created_timestamp"


def namespace_dict(row: Sequence[Any]) -> dict[str, Any]:
    """Return the namespace object of a row selected with :func:`namespace_columns`."""
    return {"name": row[0], "owner_user": row[1], "owner_role": row[2], "creator": row[3],
            "description": row[4], "created_timestamp": row[5]}
