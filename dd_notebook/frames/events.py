"""Handle log records (protocol §2.6) as an events frame: one row per handle transition.

Every throughput, failure and timeline computation in :mod:`dd_notebook.analysis`
starts from this frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from ._convert import category_codes, gc_paused, join_did, ns_to_utc, pluck_columns, seconds_to_ns, to_int, to_object
from ._schema import EVENT_COLUMNS, EVENT_DTYPE, HANDLE_EVENTS, HANDLE_STATE_DTYPE, HANDLE_STATES, empty_frame

_RESERVE = HANDLE_EVENTS.index("reserve")
_WORKER_TIMEOUT = HANDLE_EVENTS.index("worker_timeout")
_RESERVED = HANDLE_STATES.index("reserved")


def _labels(codes: np.ndarray, uniques: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


def _small_labels(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Factorize a low-cardinality column with sorted categories (``None`` -> -1)."""
    return pd.factorize(to_object(values), sort=True)


def _did_parts(did_codes: np.ndarray, dids: np.ndarray) -> tuple[pd.Categorical, pd.Categorical]:
    """Namespace and name categoricals derived from the unique DIDs (namespaces never contain ``:``)."""
    parts = [d.partition(":") for d in dids]
    ns_codes, ns_uniques = pd.factorize(to_object([p[0] for p in parts]), sort=True)
    name_codes, name_uniques = pd.factorize(to_object([p[2] for p in parts]))
    known = did_codes >= 0
    ns = np.where(known, ns_codes[did_codes], -1)
    name = np.where(known, name_codes[did_codes], -1)
    return _labels(ns, ns_uniques), _labels(name, name_uniques)


def _file_keys(project_ids: pd.api.extensions.ExtensionArray, did_codes: np.ndarray) -> np.ndarray:
    """One integer per (project_id, did); just the DID code when there is one project."""
    pids = project_ids.to_numpy(dtype=np.int64, na_value=-1)
    if pids.size == 0 or (pids == pids[0]).all():
        return did_codes
    combined = (pids - pids.min()) * (int(did_codes.max()) + 2) + (did_codes + 1)
    return pd.factorize(combined)[0]


def reservation_counts(event_codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Running number of ``reserve`` events per file, in row order (rows must be time-sorted)."""
    reserves = (event_codes == _RESERVE).astype(np.int64)
    return pd.Series(reserves).groupby(keys, sort=False).cumsum().to_numpy()


_DATA_FIELDS = ("event", "state", "old_state", "worker", "attempts")


def _record_columns(records: list[Mapping[str, Any]]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    top = pluck_columns(records, ("t", "project_id", "namespace", "name", "data"))
    data = pluck_columns([d if d is not None else {} for d in top["data"]], _DATA_FIELDS)
    return top, data


def _table_columns(table: Mapping[str, list[Any]],
                   project_id: Any) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    n = len(table["t"])
    top = {"t": table["t"], "namespace": table["namespace"], "name": table["name"],
           "project_id": table.get("project_id") or [project_id] * n}
    data = {field: table.get(field) or [None] * n for field in _DATA_FIELDS}
    return top, data


def events_frame(handle_log_records: Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> pd.DataFrame:
    """One row per handle transition, sorted by time (stable: same-time records keep their order).

    Parameters
    ----------
    handle_log_records
        Handle log records as served by the GUI ``handle_logs`` endpoint or
        written by :class:`dd_notebook.recorder.ProjectRecorder`:
        ``{"type": "state", "t": float, "project_id": int, "namespace": str,
        "name": str, "data": {"event", "state", "old_state", "worker", ...}}``;
        or the embedded server's columnar handle log
        ``{"project_id": int, "events": {"t": [...], "namespace": [...], "name": [...],
        "event": [...], "state": [...], "old_state": [...], "worker": [...]}}``.

    Returns
    -------
    pandas.DataFrame
        ``t`` (datetime64[ns, UTC]), ``project_id`` (Int64), ``namespace``,
        ``name``, ``did`` (categorical: each file appears in many rows),
        ``event`` (categorical ``create, reserve, done, failed, reset,
        worker_timeout``), ``old_state`` and ``state`` (categorical handle
        states), ``worker`` (categorical), ``attempt`` (Int64).

    Notes
    -----
    * ``worker_timeout`` records carry no ``old_state`` upstream; a timeout only
      ever releases a reserved handle, so ``old_state`` is filled with ``reserved``.
      ``create`` rows have no ``old_state``.
    * ``attempt`` is the number of reservations of the file up to and including
      the row (0 before the first ``reserve``), so a ``done``/``failed``/
      ``worker_timeout`` row carries the number of the attempt it ends. Records
      carrying ``data.attempts`` (the recorder writes it) use that value instead,
      which stays right when a log starts after the project did.
    """
    with gc_paused():
        if isinstance(handle_log_records, Mapping) and isinstance(handle_log_records.get("events"), Mapping):
            top, data = _table_columns(handle_log_records["events"], handle_log_records.get("project_id"))
        else:
            records = handle_log_records if isinstance(handle_log_records, list) else list(handle_log_records)
            top, data = _record_columns(cast(list[Mapping[str, Any]], records))
        if not top["t"]:
            return empty_frame(EVENT_COLUMNS)
        t_ns = seconds_to_ns(top["t"])
        project_ids = to_int(top["project_id"])
        did_codes, did_uniques = pd.factorize(to_object(join_did(top["namespace"], top["name"])))
        events = category_codes(data["event"], HANDLE_EVENTS, "handle event")
        states = category_codes(data["state"], HANDLE_STATES, "handle state")
        old_states = category_codes(data["old_state"], HANDLE_STATES, "handle state")
        worker_codes, workers = _small_labels(data["worker"])
        recorded = to_int(data["attempts"])
    old_states[(old_states < 0) & (events == _WORKER_TIMEOUT)] = _RESERVED

    order = np.argsort(t_ns, kind="stable") if (np.diff(t_ns) < 0).any() else slice(None)
    did_codes = did_codes[order]
    events = events[order]
    keys = _file_keys(project_ids[order], did_codes)
    attempt = recorded[order].to_numpy(dtype=np.int64, na_value=-1)
    missing = recorded[order].isna()
    if missing.any():
        attempt = np.where(missing, reservation_counts(events, keys), attempt)
    namespace, name = _did_parts(did_codes, did_uniques)
    return pd.DataFrame(
        {
            "t": ns_to_utc(t_ns[order]),
            "project_id": project_ids[order],
            "namespace": namespace,
            "name": name,
            "did": _labels(did_codes, did_uniques),
            "event": pd.Categorical.from_codes(events, dtype=EVENT_DTYPE),
            "old_state": pd.Categorical.from_codes(old_states[order], dtype=HANDLE_STATE_DTYPE),
            "state": pd.Categorical.from_codes(states[order], dtype=HANDLE_STATE_DTYPE),
            "worker": _labels(worker_codes[order], workers),
            "attempt": pd.array(attempt, dtype="Int64"),
        }
    )
