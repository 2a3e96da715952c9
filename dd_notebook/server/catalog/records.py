"""Wire shapes of catalog objects (metacat-and-auth §2.3–§2.4) from database rows.

Every column is read by its name: the SELECT lists here name each column
(``f.fid AS fid``), and a reader finds each name's position in the cursor's
description once per query, so a row is never read by an assumed position.
File rows are selected with :func:`file_columns` and turned into dicts or
straight into one JSON line by a :class:`FileRecords` (the stored metadata
text is embedded as is, without a parse/serialise round trip).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

__all__ = [
    "FileRecords",
    "dataset_columns",
    "dataset_dict",
    "file_columns",
    "namespace_columns",
    "namespace_dict",
    "named_rows",
]

#: Columns of every file object, in wire order.
_FILE_FIELDS = ("fid", "namespace", "name", "retired", "retired_by", "updated_by", "retired_timestamp",
                "updated_timestamp", "created_timestamp")
#: Columns left out of a file object when NULL.
_OPTIONAL_FIELDS = ("checksums", "size", "creator")
_PARENTS = ("(SELECT json_group_array(p.fid) FROM mc_provenance pc JOIN mc_files p ON p.id = pc.parent_id "
            "WHERE pc.child_id = f.id)")
_CHILDREN = ("(SELECT json_group_array(c.fid) FROM mc_provenance pc JOIN mc_files c ON c.id = pc.child_id "
             "WHERE pc.parent_id = f.id)")


def file_columns(with_metadata: bool, with_provenance: bool) -> str:
    """Return the SELECT list (over alias ``f``) that :class:`FileRecords` reads, each column named."""
    columns = [f"f.{name} AS {name}" for name in (*_FILE_FIELDS, *_OPTIONAL_FIELDS)]
    if with_metadata:
        columns.append("f.metadata AS metadata")
    if with_provenance:
        columns += [f"{_PARENTS} AS parents", f"{_CHILDREN} AS children"]
    return ", ".join(columns)


def _positions(description: Sequence[Sequence[Any]]) -> dict[str, int]:
    return {column[0]: index for index, column in enumerate(description)}


def _links(text: str | None) -> list[dict[str, str]]:
    return [{"fid": fid} for fid in orjson.loads(text or "[]")]


class FileRecords:
    """File objects from the rows of one query selected with :func:`file_columns`.

    Whether metadata and provenance are included follows from the columns the
    query selected. The reader is a closure over the columns' positions,
    found by name once: a catalog query may give 10^6 rows, and looking each
    value up by name made a query a quarter slower.

    Parameters
    ----------
    description
        The query's ``cursor.description``: where each named column is.
    """

    def __init__(self, description: Sequence[Sequence[Any]]) -> None:
        at = _positions(description)
        fid, namespace, name, retired, retired_by, updated_by, retired_t, updated_t, created_t = (
            at[field] for field in _FILE_FIELDS)
        checksums, size, creator = (at[field] for field in _OPTIONAL_FIELDS)
        metadata = at.get("metadata")
        provenance = (at["parents"], at["children"]) if "parents" in at else None

        def base(row: Sequence[Any], embed: Any) -> dict[str, Any]:
            out = {"fid": row[fid], "namespace": row[namespace], "name": row[name], "retired": bool(row[retired]),
                   "retired_by": row[retired_by], "updated_by": row[updated_by], "retired_timestamp": row[retired_t],
                   "updated_timestamp": row[updated_t], "created_timestamp": row[created_t]}
            if row[checksums] is not None:
                out["checksums"] = embed(row[checksums])
            if row[size] is not None:
                out["size"] = row[size]
            if row[creator] is not None:
                out["creator"] = row[creator]
            if metadata is not None:
                out["metadata"] = embed(row[metadata])
            if provenance is not None:
                out["parents"] = _links(row[provenance[0]])
                out["children"] = _links(row[provenance[1]])
            return out

        self._base = base

    def dict(self, row: Sequence[Any]) -> dict[str, Any]:
        """Return the file object of ``row``."""
        return self._base(row, orjson.loads)

    def json(self, row: Sequence[Any]) -> bytes:
        """Return the file object of ``row`` as compact JSON bytes (same content as :meth:`dict`).

        The stored JSON of ``checksums`` and ``metadata`` is embedded as is (``orjson.Fragment``).
        """
        return orjson.dumps(self._base(row, orjson.Fragment))


def named_rows(cursor: sqlite3.Cursor) -> Iterator[dict[str, Any]]:
    """Yield each row of ``cursor`` as ``{column name: value}``."""
    names = [column[0] for column in cursor.description]
    for row in cursor:
        yield dict(zip(names, row, strict=True))


_DATASET_FIELDS = ("namespace", "name", "frozen", "monotonic", "metadata", "creator", "created_timestamp",
                   "file_meta_requirements", "description", "file_count", "updated_timestamp", "updated_by")


def dataset_columns() -> str:
    """Return the SELECT list (over alias ``d``) that :func:`dataset_dict` reads, each column named."""
    return ", ".join(f"d.{name} AS {name}" for name in _DATASET_FIELDS)


def dataset_dict(row: dict[str, Any]) -> dict[str, Any]:
    """Return the dataset object of a row selected with :func:`dataset_columns` (see :func:`named_rows`)."""
    return {**row, "frozen": bool(row["frozen"]), "monotonic": bool(row["monotonic"]),
            "metadata": orjson.loads(row["metadata"] or "{}"),
            "file_meta_requirements": orjson.loads(row["file_meta_requirements"] or "{}")}


_NAMESPACE_FIELDS = ("name", "owner_user", "owner_role", "creator", "description", "created_timestamp")


def namespace_columns() -> str:
    """Return the SELECT list (over alias ``n``) that :func:`namespace_dict` reads, each column named."""
    return ", ".join(f"n.{name} AS {name}" for name in _NAMESPACE_FIELDS)


def namespace_dict(row: dict[str, Any]) -> dict[str, Any]:
    """Return the namespace object of a row selected with :func:`namespace_columns` (see :func:`named_rows`)."""
    return {name: row[name] for name in _NAMESPACE_FIELDS}
