"""Array views of frames shared by the analysis functions: codes, nanoseconds, per-file keys, groups.

Everything here works on numpy arrays taken once from the frame, so the
analysis functions can stay vectorised on tens of millions of events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from ..frames import HANDLE_EVENTS, HANDLE_STATES

EVENT_CODE = {name: i for i, name in enumerate(HANDLE_EVENTS)}
STATE_CODE = {name: i for i, name in enumerate(HANDLE_STATES)}
NAT = np.iinfo(np.int64).min


def require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise ``KeyError`` naming the columns of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"{what} needs column(s) {missing}; got {list(frame.columns)}")


def codes(series: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Positions of the values in ``categories`` (-1 for missing or unknown), without copying when possible."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        if list(series.cat.categories) != list(categories):
            series = series.cat.set_categories(list(categories))
        return series.cat.codes.to_numpy()
    return pd.Categorical(series, categories=list(categories)).codes


def time_ns(series: pd.Series | pd.Index) -> np.ndarray:
    """Int64 nanoseconds since the epoch (UTC) of a datetime column; naive values are taken as UTC."""
    index = pd.DatetimeIndex(series)
    if index.tz is None:
        index = index.tz_localize("UTC")
    return index.as_unit("ns").asi8


def utc_index(ns: np.ndarray, name: str = "t") -> pd.DatetimeIndex:
    """Wrap int64 nanoseconds as a ``datetime64[ns, UTC]`` index."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("M8[ns]"), name=name).tz_localize("UTC")


def timestamp_ns(value: pd.Timestamp | str | float) -> int:
    """One instant as int64 nanoseconds (UTC); naive values are taken as UTC, numbers as epoch seconds."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return int(round(float(value) * 1e9))
    stamp = pd.Timestamp(value)
    if stamp.tz is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.as_unit("ns").value)


def to_timedelta_ns(value: str | pd.Timedelta | float) -> int:
    """A fixed duration (``"1min"``, ``Timedelta`` or seconds) in nanoseconds."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        step = int(round(float(value) * 1e9))
    else:
        step = pd.Timedelta(value).value
    if step <= 0:
        raise ValueError(f"duration must be positive, got {value!r}")
    return step


def time_order(t: np.ndarray) -> np.ndarray | slice:
    """Stable order that sorts ``t``; a no-op slice when it is already sorted."""
    if t.size > 1 and (t[1:] < t[:-1]).any():
        return np.argsort(t, kind="stable")
    return slice(None)


@dataclass(frozen=True)
class Files:
    """Per-row file keys of an events frame and the (project_id, did) of each key."""

    keys: np.ndarray
    project_id: np.ndarray
    did: np.ndarray

    @property
    def count(self) -> int:
        return len(self.did)

    def index(self) -> pd.MultiIndex:
        return pd.MultiIndex.from_arrays([self.project_id, self.did], names=["project_id", "did"])


def files_of(events: pd.DataFrame) -> Files:
    """Key every row by its file (project_id, did); DID codes are reused when ``did`` is categorical."""
    did = events["did"]
    if isinstance(did.dtype, pd.CategoricalDtype):
        did_codes = did.cat.codes.to_numpy().astype(np.int64)
        dids = np.asarray(did.cat.categories, dtype=object)
    else:
        did_codes, dids = pd.factorize(did.to_numpy(dtype=object))
        dids = np.asarray(dids, dtype=object)
    pids = events["project_id"].to_numpy(dtype=np.int64, na_value=-1) if "project_id" in events else None
    if pids is None or pids.size == 0 or (pids == pids[0]).all():
        pid = -1 if pids is None or pids.size == 0 else int(pids[0])
        return Files(did_codes, np.full(len(dids), pid, dtype=np.int64), dids)
    combined = (pids - pids.min()) * (len(dids) + 1) + (did_codes + 1)
    keys, uniques = pd.factorize(combined)
    unique_pids = uniques // (len(dids) + 1) + pids.min()
    unique_dids = uniques % (len(dids) + 1) - 1
    # np.where with three arguments returns one array (its stubs also allow the one-argument tuple form)
    did_labels = cast(np.ndarray, np.where(unique_dids >= 0, dids[np.maximum(unique_dids, 0)], None))
    return Files(keys, unique_pids, did_labels)


def per_file(files: Files, table: pd.DataFrame) -> np.ndarray:
    """Row positions in ``table`` (by project_id and did) for each file key, -1 when absent."""
    if "project_id" in table and not (files.project_id == -1).all():
        target = pd.MultiIndex.from_arrays(
            [table["project_id"].to_numpy(dtype=np.int64, na_value=-1), table["did"].to_numpy(dtype=object)]
        )
        return target.get_indexer(files.index())
    return pd.Index(table["did"].to_numpy(dtype=object)).get_indexer(files.did)


@dataclass(frozen=True)
class Groups:
    """Group code per row (-1 = no group) and the label of each code."""

    codes: np.ndarray
    labels: pd.Index


def _groups_from_values(values: pd.Series | np.ndarray, name: str) -> Groups:
    series = pd.Series(values, copy=False) if not isinstance(values, pd.Series) else values
    if isinstance(series.dtype, pd.CategoricalDtype):
        return Groups(series.cat.codes.to_numpy().astype(np.int64), pd.Index(series.cat.categories, name=name))
    if pd.api.types.is_integer_dtype(series.dtype) and len(series):
        ints = series.to_numpy(dtype=np.int64, na_value=np.iinfo(np.int64).min)
        valid = ints != np.iinfo(np.int64).min
        if valid.any():
            low, high = ints[valid].min(), ints[valid].max()
            if high - low < 10_000_000:
                group = np.where(valid, ints - low, -1)
                return Groups(group, pd.Index(np.arange(low, high + 1), name=name))
    group, uniques = pd.factorize(series.to_numpy(dtype=object), sort=True)
    return Groups(group.astype(np.int64), pd.Index(uniques, name=name))


def preferred_rse(replicas: pd.DataFrame) -> pd.DataFrame:
    """One replica per file: usable (replica and RSE available) first, then lowest ``preference``, then RSE name."""
    require(replicas, ["did", "rse"], "RSE grouping")
    usable = pd.Series(True, index=replicas.index)
    for flag in ("available", "rse_available"):
        if flag in replicas:
            usable &= replicas[flag].fillna(False).astype(bool)
    preference = replicas["preference"] if "preference" in replicas else pd.Series(0, index=replicas.index)
    ranked = replicas.assign(_down=~usable, _pref=preference.astype("Float64").fillna(np.inf))
    keys = [k for k in ("project_id", "did") if k in ranked]
    ranked = ranked.sort_values([*keys, "_down", "_pref", "rse"], kind="stable")
    return ranked.drop_duplicates(keys, keep="first")[[*keys, "rse"]]


def _file_table_column(table: pd.DataFrame, by: str, attr_prefix: str) -> pd.Series:
    for column in (by, attr_prefix + by):
        if column in table.columns:
            return table[column]
    if "attributes" in table.columns:
        return pd.Series([a.get(by) if a else None for a in table["attributes"]], index=table.index, dtype=object)
    raise KeyError(f"no column {by!r} or {attr_prefix + by!r} and no 'attributes' to take it from")


#: Group label of files without any replica when grouping by RSE.
NO_REPLICA = "no replica"


def _take(table_codes: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``table_codes[position]`` per file, -1 where the file is not in the table (position -1)."""
    if not len(table_codes):
        return np.full(len(position), -1, dtype=np.int64)
    return np.where(position >= 0, table_codes[np.maximum(position, 0)], -1)


def _rse_groups(files: Files, replicas: pd.DataFrame) -> Groups:
    """Preferred-RSE group per file key; files without a replica go to the :data:`NO_REPLICA` group."""
    if replicas.empty:
        return Groups(np.zeros(files.count, dtype=np.int64), pd.Index([NO_REPLICA], name="rse"))
    table = preferred_rse(replicas)
    position = per_file(files, table)
    rse_groups = _groups_from_values(table["rse"].reset_index(drop=True), "rse")
    per_key = _take(rse_groups.codes, position)
    if (per_key >= 0).all():
        return Groups(per_key, rse_groups.labels)
    labels = rse_groups.labels.append(pd.Index([NO_REPLICA], name="rse"))
    return Groups(np.where(per_key >= 0, per_key, len(labels) - 1), labels)


def groups_of(
    events: pd.DataFrame,
    by: str,
    *,
    handles: pd.DataFrame | None = None,
    replicas: pd.DataFrame | None = None,
    attr_prefix: str = "attr.",
) -> Groups:
    """Group every event row by an events column, the file's preferred RSE, or a handles column/attribute.

    Grouping by ``"rse"`` puts files without any replica (every file of a
    virtual project) in the group :data:`NO_REPLICA`.
    """
    if by in events.columns:
        return _groups_from_values(events[by], by)
    files = files_of(events)
    if by == "rse":
        if replicas is None:
            raise KeyError("grouping by 'rse' needs replicas=replicas_frame(...)")
        file_groups = _rse_groups(files, replicas)
    else:
        if handles is None:
            raise KeyError(f"{by!r} is not an events column; pass handles=handles_frame(...) to group by it")
        position = per_file(files, handles)
        values = _groups_from_values(_file_table_column(handles, by, attr_prefix).reset_index(drop=True), by)
        file_groups = Groups(_take(values.codes, position), values.labels)
    per_key = file_groups.codes
    return Groups(per_key[files.keys] if files.count else np.full(len(events), -1), file_groups.labels)


def count_by(group: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """Number of rows per group code among rows where ``mask`` holds (group -1 ignored)."""
    selected = group[mask]
    return np.bincount(selected[selected >= 0], minlength=size)[:size]

