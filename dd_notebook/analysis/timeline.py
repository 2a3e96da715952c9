"""Handle counts per state over time, exact at every event."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..frames import HANDLE_STATES
from ._arrays import codes, require, time_ns, time_order, utc_index


def state_timeline(events: pd.DataFrame, *, initial_counts: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Number of handles in each state right after every event.

    Each event moves one handle from ``old_state`` to ``state``: it adds one to
    ``state`` and removes one from ``old_state`` (a ``create`` has no old state,
    so it only adds to ``initial``). The counts are the cumulative sums of those
    per-event deltas, so the result is exact at every event and costs a few
    vectorised passes.

    Parameters
    ----------
    events
        An events frame (:func:`dd_notebook.frames.events_frame`).
    initial_counts
        Counts before the first event, for logs that start after the project
        did (e.g. a recorder attached late), as ``{state: count}``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``t`` (one row per event, time-sorted, duplicates kept), with
        int64 columns ``initial``, ``reserved``, ``done``, ``failed``.
    """
    require(events, ["t", "state", "old_state"], "state_timeline")
    t = time_ns(events["t"])
    order = time_order(t)
    new = codes(events["state"], HANDLE_STATES)[order]
    old = codes(events["old_state"], HANDLE_STATES)[order]
    base = initial_counts or {}
    unknown = set(base) - set(HANDLE_STATES)
    if unknown:
        raise ValueError(f"unknown states in initial_counts: {sorted(unknown)}")
    columns = {}
    for code, state in enumerate(HANDLE_STATES):
        delta = (new == code).view(np.int8) - (old == code).view(np.int8)
        counts = np.cumsum(delta, dtype=np.int64)
        if base.get(state):
            counts += int(base[state])
        columns[state] = counts
    return pd.DataFrame(columns, index=utc_index(t[order]), copy=False)


def resample_timeline(timeline: pd.DataFrame, freq: str | pd.Timedelta) -> pd.DataFrame:
    """Counts at the end of each time bin (carried forward through bins without events)."""
    if timeline.empty:
        return timeline.copy()
    return timeline.resample(freq).last().ffill().astype(np.int64)
