"""File handles and replicas of a project as DataFrames (one row per handle / per replica).

Two input shapes give identical frames:

* the dict form the seed client returns: a project dict with ``file_handles``
  (protocol §2.1/§2.2), or a plain list of handle dicts;
* the columnar form the embedded server offers for big listings::

      {"project": {...project fields...},
       "handles": {"namespace": [...], "name": [...], "state": [...], "worker_id": [...],
                   "attempts": [...], "reserved_since": [...], "attributes": [...]},
       "replicas": {"namespace": [...], "name": [...], "rse": [...], "path": [...], "url": [...],
                    "preference": [...], "available": [...], "rse_available": [...]}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

import numpy as np
import pandas as pd

from ._convert import (
    attribute_columns,
    gc_paused,
    join_did,
    pluck_columns,
    to_bool,
    to_fixed_category,
    to_int,
    to_object,
    to_str,
    to_utc,
)
from ._schema import HANDLE_COLUMNS, HANDLE_STATE_DTYPE, REPLICA_COLUMNS, empty_frame

log = logging.getLogger(__name__)

ProjectOrHandles = Mapping[str, Any] | Sequence[Mapping[str, Any]]

_HANDLE_FIELDS = ("namespace", "name", "state", "worker_id", "attempts", "reserved_since", "attributes")
_REPLICA_FIELDS = ("namespace", "name", "rse", "path", "url", "preference", "available", "rse_available")


def is_columnar(obj: Any) -> TypeGuard[Mapping[str, Any]]:
    """Tell whether ``obj`` is the columnar project form (``{"project", "handles", ...}``)."""
    return isinstance(obj, Mapping) and isinstance(obj.get("handles"), Mapping)


def _columns_of(table: Mapping[str, Sequence[Any]], fields: Sequence[str], what: str) -> tuple[dict[str, Any], int]:
    """Check a columnar table: every list has the same length; absent optional fields become ``None``."""
    lengths = {k: len(v) for k, v in table.items() if v is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"columnar {what} lists differ in length: {lengths}")
    n = next(iter(lengths.values()), 0)
    columns = {f: table.get(f) if table.get(f) is not None else [None] * n for f in fields}
    return columns, n


def _project_id_column(columns: Mapping[str, Any], n: int, project: Mapping[str, Any] | None) -> list[Any]:
    given = columns.get("project_id")
    if given is not None:
        return list(given)
    return [project.get("project_id") if project else None] * n


def _handle_table(source: ProjectOrHandles) -> tuple[dict[str, Any], int]:
    """Turn any accepted input into equal-length column lists of handle fields."""
    if is_columnar(source):
        table = source["handles"]
        columns, n = _columns_of(table, (*_HANDLE_FIELDS, "project_id"), "handles")
        columns["project_id"] = _project_id_column(table, n, source.get("project"))
        return columns, n
    if isinstance(source, Mapping):
        if "file_handles" not in source:
            raise ValueError("project has no 'file_handles': fetch it with with_files=True")
        records = source["file_handles"] or []
        project = source
    else:
        records = list(source)
        project = None
    with gc_paused():
        columns = pluck_columns(records, (*_HANDLE_FIELDS, "project_id"))
    if project is not None and None in columns["project_id"]:
        columns["project_id"] = [project.get("project_id") if p is None else p for p in columns["project_id"]]
    return columns, len(records)


def handles_frame(
    project_or_handles: ProjectOrHandles,
    *,
    expand_attributes: bool | Sequence[str] = False,
    attr_prefix: str = "attr.",
) -> pd.DataFrame:
    """One row per file handle.

    Parameters
    ----------
    project_or_handles
        A project dict with ``file_handles`` (``get_project(..., with_files=True)``),
        a list of handle dicts, or the columnar form (see the module docstring).
    expand_attributes
        ``True`` adds one column per file-attribute key seen; a list of keys adds
        only those. Columns are named ``attr_prefix + key`` and typed from their
        values (``Int64``, ``float64``, ``boolean``, ``str`` or ``object``).
    attr_prefix
        Prefix of expanded attribute columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``project_id`` (Int64), ``namespace``, ``name``, ``did`` (str),
        ``state`` (categorical ``initial, reserved, done, failed``), ``worker_id``
        (str), ``attempts`` (Int64), ``reserved_since`` (datetime64[ns, UTC]),
        ``timeouts`` (Int64: the [2.0] worker-timeout counter, 0 when absent),
        ``attributes`` (the raw dicts), then any expanded attribute columns.
    """
    columns, n = _handle_table(project_or_handles)
    if n == 0:
        out = empty_frame(HANDLE_COLUMNS)
        for key in (expand_attributes if isinstance(expand_attributes, (list, tuple)) else []):
            out[attr_prefix + key] = pd.Series([], dtype=object)
        return out
    attributes = columns["attributes"]
    with gc_paused():
        data: dict[str, Any] = {
            "project_id": to_int(columns["project_id"]),
            "namespace": to_str(columns["namespace"]),
            "name": to_str(columns["name"]),
            "did": to_str(join_did(columns["namespace"], columns["name"])),
            "state": to_fixed_category(columns["state"], HANDLE_STATE_DTYPE, "handle state"),
            "worker_id": to_str(columns["worker_id"]),
            "attempts": to_int(columns["attempts"]),
            "reserved_since": to_utc(columns["reserved_since"]),
            "timeouts": to_int([a.get("timeouts", 0) if a else 0 for a in attributes]),
            "attributes": to_object(attributes),
        }
        data.update(attribute_columns(attributes, expand_attributes, attr_prefix))
    return pd.DataFrame(data, copy=False)


def _replica_table(source: ProjectOrHandles) -> tuple[dict[str, Any], int]:
    """Turn any accepted input into equal-length column lists of replica fields."""
    if is_columnar(source):
        table = source.get("replicas")
        if table is None:
            log.warning("columnar project carries no replicas table: fetch it with replicas")
            return {}, 0
        columns, n = _columns_of(table, (*_REPLICA_FIELDS, "project_id"), "replicas")
        columns["project_id"] = _project_id_column(table, n, source.get("project"))
        return columns, n
    if isinstance(source, Mapping):
        if "file_handles" not in source:
            raise ValueError("project has no 'file_handles': fetch it with with_files=True, with_replicas=True")
        handles = source["file_handles"] or []
        default_pid = source.get("project_id")
    else:
        handles = list(source)
        default_pid = None
    if handles and not any("replicas" in h for h in handles):
        log.warning("handles carry no replicas: fetch the project with with_replicas=True")
    with gc_paused():
        per_handle = [list((h.get("replicas") or {}).values()) for h in handles]
        records = [r for reps in per_handle for r in reps]
        counts = np.fromiter(map(len, per_handle), dtype=np.int64, count=len(per_handle))
        handle_pids = [h.get("project_id", default_pid) for h in handles]
        columns = pluck_columns(records, _REPLICA_FIELDS)
        columns["project_id"] = np.repeat(np.asarray(handle_pids, dtype=object), counts).tolist()
    return columns, len(records)


def replicas_frame(project_or_handles: ProjectOrHandles) -> pd.DataFrame:
    """One row per (handle, replica).

    Parameters
    ----------
    project_or_handles
        A project dict fetched with ``with_files=True, with_replicas=True``, a
        list of handle dicts carrying ``replicas``, or the columnar form.

    Returns
    -------
    pandas.DataFrame
        Columns ``project_id`` (Int64), ``namespace``, ``name``, ``did``, ``rse``,
        ``path``, ``url`` (str), ``preference`` (Int64), ``available`` and
        ``rse_available`` (boolean). Rows follow the input order.
    """
    columns, n = _replica_table(project_or_handles)
    if n == 0:
        return empty_frame(REPLICA_COLUMNS)
    with gc_paused():
        data = {
            "project_id": to_int(columns["project_id"]),
            "namespace": to_str(columns["namespace"]),
            "name": to_str(columns["name"]),
            "did": to_str(join_did(columns["namespace"], columns["name"])),
            "rse": to_str(columns["rse"]),
            "path": to_str(columns["path"]),
            "url": to_str(columns["url"]),
            "preference": to_int(columns["preference"]),
            "available": to_bool(columns["available"]),
            "rse_available": to_bool(columns["rse_available"]),
        }
    return pd.DataFrame(data, copy=False)
