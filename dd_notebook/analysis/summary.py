"""One-call project summary built from the handles and events frames in one vectorised pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..frames import HANDLE_EVENTS, HANDLE_STATES
from ._arrays import EVENT_CODE, NAT, STATE_CODE, codes, files_of, require, time_ns, timestamp_ns, to_timedelta_ns
from ._display import summary_html, summary_text
from .completion import Eta, estimate, finished_delta, remaining_files


@dataclass(frozen=True, repr=False)
class ProjectSummary:
    """Headline numbers of a project. Missing inputs leave their fields ``None``.

    Displays as a few readable lines (``repr``/``str``) and, in Jupyter, as an
    HTML card with the state counts as a coloured bar and the ETA with what it
    is based on.

    Attributes
    ----------
    project_id, owner, project_state
        From the project dict, when given.
    n_files
        Number of handles.
    state_counts
        ``{state: count}`` for ``initial, reserved, done, failed``.
    fraction_done, fraction_finished
        Share of files ``done``, and ``done`` or ``failed``.
    permanently_failed
        Files whose state is ``failed``.
    reservations, failed_releases, worker_timeouts, resets
        Event counts from the handle log.
    files_retried
        Files reserved more than once.
    n_workers
        Distinct workers seen in the log.
    first_event, last_event
        Time span of the log (UTC).
    median_duration_s
        Median reserve-to-release time of successful (``done``) reservations.
    eta
        :class:`~dd_notebook.analysis.Eta` from the recent rate.
    """

    project_id: int | None = None
    owner: str | None = None
    project_state: str | None = None
    n_files: int | None = None
    state_counts: dict[str, int] = field(default_factory=dict)
    fraction_done: float | None = None
    fraction_finished: float | None = None
    permanently_failed: int | None = None
    reservations: int | None = None
    failed_releases: int | None = None
    worker_timeouts: int | None = None
    resets: int | None = None
    files_retried: int | None = None
    n_workers: int | None = None
    first_event: pd.Timestamp | None = None
    last_event: pd.Timestamp | None = None
    median_duration_s: float | None = None
    eta: Eta | None = None

    def to_dict(self) -> dict[str, Any]:
        """Flat dict: state counts as ``n_<state>``; the ETA as ``rate_per_s``, ``eta_seconds_left``, ``eta``,
        ``eta_covered_s``, ``eta_finished_in_window`` and ``eta_basis`` (present when there is an ETA)."""
        flat = asdict(self)
        counts = flat.pop("state_counts")
        estimate_fields = flat.pop("eta")
        for state in HANDLE_STATES:
            flat[f"n_{state}"] = counts.get(state)
        if estimate_fields is not None:
            flat["rate_per_s"] = estimate_fields["rate_per_s"]
            flat["eta_seconds_left"] = estimate_fields["seconds_left"]
            flat["eta"] = estimate_fields["eta"]
            flat["eta_covered_s"] = estimate_fields["covered_s"]
            flat["eta_finished_in_window"] = estimate_fields["finished_in_window"]
            flat["eta_basis"] = estimate_fields["basis"]
        return flat

    def to_series(self) -> pd.Series:
        """The flat dict as an object Series (handy for display)."""
        return pd.Series(self.to_dict(), dtype=object, name=self.project_id)

    def __repr__(self) -> str:
        return summary_text(self)

    def _repr_html_(self) -> str:
        return summary_html(self)


def _bincount(values: np.ndarray, size: int) -> np.ndarray:
    """Counts of the codes ``0..size-1`` in ``values`` (negative codes = missing, ignored)."""
    return np.bincount(values[values >= 0], minlength=size)[:size]


def _last_row(keys: np.ndarray, rows: np.ndarray, size: int) -> np.ndarray:
    """Per key, the largest of ``rows`` carrying it (-1 for keys without rows)."""
    last = np.full(size, -1, dtype=np.int64)
    np.maximum.at(last, keys[rows], rows)
    return last


def _done_durations(t: np.ndarray, event: np.ndarray, keys: np.ndarray, size: int) -> np.ndarray:
    """Reserve-to-``done`` durations (s) of a time-ordered log, the same as ``durations()`` gives for a valid log.

    A ``done`` follows the reservation it ends, so its reservation is its file's
    latest ``reserve`` before it. For the usual file whose latest ``reserve``
    overall comes before its ``done`` events this needs no sort; only files
    reserved again after a ``done`` (a reset of finished files) are paired by
    sorting their own rows.
    """
    done_rows = np.flatnonzero(event == EVENT_CODE["done"])
    if not done_rows.size:
        return np.array([], dtype=np.float64)
    reserve_rows = np.flatnonzero(event == EVENT_CODE["reserve"])
    last_reserve = _last_row(keys, reserve_rows, size)[keys[done_rows]]
    hard = np.zeros(size, dtype=bool)
    hard[keys[done_rows[last_reserve > done_rows]]] = True
    easy = (last_reserve >= 0) & (last_reserve < done_rows) & ~hard[keys[done_rows]]
    found = [(t[done_rows[easy]] - t[last_reserve[easy]]) / 1e9]
    if hard.any():
        rows = np.flatnonzero(hard[keys])
        rows = rows[np.argsort(keys[rows], kind="stable")]
        pair = ((keys[rows[1:]] == keys[rows[:-1]]) & (event[rows[:-1]] == EVENT_CODE["reserve"])
                & (event[rows[1:]] == EVENT_CODE["done"]))
        found.append((t[rows[1:][pair]] - t[rows[:-1][pair]]) / 1e9)
    return np.concatenate(found)


def _event_fields(events: pd.DataFrame, remaining: int | None, *, window: str | pd.Timedelta,
                  now: pd.Timestamp | str | None) -> tuple[dict[str, Any], np.ndarray, int]:
    """Every number the summary takes from the log, from one set of code arrays.

    Returns the summary fields, the state counts after the last event and the
    number of files whose last event left them ``failed``.
    """
    require(events, ["t", "did", "event", "state", "old_state"], "project_summary")
    t = time_ns(events["t"])
    event = codes(events["event"], HANDLE_EVENTS)
    new = codes(events["state"], HANDLE_STATES)
    old = codes(events["old_state"], HANDLE_STATES)
    files = files_of(events)
    counts = _bincount(event, len(HANDLE_EVENTS))
    reserves = np.bincount(files.keys[event == EVENT_CODE["reserve"]], minlength=files.count)
    valid_t = t[t != NAT]
    done = _done_durations(t, event, files.keys, files.count)
    fields: dict[str, Any] = {
        "reservations": int(counts[EVENT_CODE["reserve"]]),
        "failed_releases": int(counts[EVENT_CODE["failed"]]),
        "worker_timeouts": int(counts[EVENT_CODE["worker_timeout"]]),
        "resets": int(counts[EVENT_CODE["reset"]]),
        "files_retried": int((reserves > 1).sum()),
        "n_workers": _distinct(events["worker"]) if "worker" in events else None,
        "first_event": pd.Timestamp(int(valid_t.min()), tz="UTC") if valid_t.size else None,
        "last_event": pd.Timestamp(int(valid_t.max()), tz="UTC") if valid_t.size else None,
        "median_duration_s": float(np.median(done)) if done.size else None,
        "eta": estimate(t, finished_delta(event, new, old),
                        remaining if remaining is not None else remaining_files(new, old),
                        window_ns=to_timedelta_ns(window), now_ns=timestamp_ns(now) if now is not None else None),
    }
    state_counts = _bincount(new, len(HANDLE_STATES)) - _bincount(old, len(HANDLE_STATES))
    last = _last_row(files.keys, np.arange(len(events), dtype=np.int64), files.count)
    failed_files = int((new[last[last >= 0]] == STATE_CODE["failed"]).sum())
    return fields, state_counts, failed_files


def _distinct(values: pd.Series) -> int:
    """Number of distinct non-missing values (unused categories not counted)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return int((_bincount(values.cat.codes.to_numpy(), len(values.cat.categories)) > 0).sum())
    return int(values.nunique())


def _single_project_id(frames: tuple[pd.DataFrame | None, ...]) -> int | None:
    ids: set[int] = set()
    for frame in frames:
        if frame is not None and "project_id" in frame and len(frame):
            values = frame["project_id"].to_numpy(dtype=np.float64, na_value=np.nan)
            values = values[~np.isnan(values)]
            if values.size and values.min() == values.max():
                ids.add(int(values[0]))
            else:
                ids.update(int(v) for v in np.unique(values))
    return ids.pop() if len(ids) == 1 else None


def project_summary(
    handles: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    *,
    project: Mapping[str, Any] | None = None,
    window: str | pd.Timedelta = "15min",
    now: pd.Timestamp | str | None = None,
) -> ProjectSummary:
    """Summarise a project from whatever is at hand.

    All numbers from the log come from one pass over the frame's categorical
    codes (no per-function recomputation), so a summary of 10^7 events takes
    well under two seconds.

    Parameters
    ----------
    handles
        A handles frame (current states; the most exact source of counts).
    events
        An events frame in time order (rates, retries, timeouts, durations, ETA).
    project
        The project dict (id, owner, state).
    window, now
        Passed to :func:`~dd_notebook.analysis.eta`: the rate is measured over
        the last ``window`` before ``now``, clipped to the time the log covers.
    """
    handle_states = codes(handles["state"], HANDLE_STATES) if handles is not None else None
    remaining = None
    if handle_states is not None:
        remaining = int(((handle_states == STATE_CODE["initial"]) | (handle_states == STATE_CODE["reserved"])).sum())
    log: dict[str, Any] = {}
    state_counts, failed_files = None, 0
    if events is not None and len(events):
        log, state_counts, failed_files = _event_fields(events, remaining, window=window, now=now)
    if handle_states is not None:
        state_counts = _bincount(handle_states, len(HANDLE_STATES))
    counts = {s: int(n) for s, n in zip(HANDLE_STATES, state_counts)} if state_counts is not None else {}
    n_files = sum(counts.values()) if counts else None
    fields: dict[str, Any] = {"state_counts": counts, "n_files": n_files, **log}
    if project is not None:
        fields.update(project_id=project.get("project_id"), owner=project.get("owner"),
                      project_state=project.get("state"))
    else:
        fields["project_id"] = _single_project_id((handles, events))
    if n_files:
        fields["fraction_done"] = counts["done"] / n_files
        fields["fraction_finished"] = (counts["done"] + counts["failed"]) / n_files
    if handles is not None:
        fields["permanently_failed"] = counts.get("failed", 0)
    elif events is not None:
        fields["permanently_failed"] = failed_files
    return ProjectSummary(**fields)
