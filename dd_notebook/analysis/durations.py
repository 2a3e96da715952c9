"""Reserve-to-release durations: one row per reservation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import HANDLE_EVENTS, HANDLE_STATE_DTYPE, HANDLE_STATES
from ._arrays import EVENT_CODE, NAT, codes, files_of, require, time_ns, utc_index

OUTCOMES = ("done", "failed", "worker_timeout", "reset")
OUTCOME_DTYPE = pd.CategoricalDtype(list(OUTCOMES))


def durations(events: pd.DataFrame, *, include_open: bool = False) -> pd.DataFrame:
    """Pair every ``reserve`` with the event that ends it and measure the time between.

    A reservation ends with the next event of the same file, which is one of
    ``done``, ``failed``, ``worker_timeout`` or ``reset`` (a restart of a
    reserved handle).

    Parameters
    ----------
    events
        An events frame in time order (as :func:`~dd_notebook.frames.events_frame` gives).
    include_open
        Also list reservations not ended yet (``released_at`` NaT,
        ``outcome`` and ``duration_s`` missing).

    Returns
    -------
    pandas.DataFrame
        ``project_id``, ``did``, ``worker``, ``attempt``, ``reserved_at``,
        ``released_at`` (UTC), ``outcome`` (categorical ``done, failed,
        worker_timeout, reset``), ``state`` (state after the release: a failed
        release back to ``initial`` was retried) and ``duration_s`` (float
        seconds), sorted by ``reserved_at``.
    """
    require(events, ["t", "did", "event", "state"], "durations")
    files = files_of(events)
    event = codes(events["event"], HANDLE_EVENTS)
    order = np.argsort(files.keys, kind="stable")
    key_sorted = files.keys[order]
    event_sorted = event[order]
    follows = np.zeros(len(order), dtype=bool)
    follows[:-1] = key_sorted[1:] == key_sorted[:-1]
    next_event = np.full(len(order), -1, dtype=event.dtype)
    next_event[:-1] = event_sorted[1:]
    closing = np.isin(next_event, [EVENT_CODE[o] for o in OUTCOMES]) & follows
    reserve = event_sorted == EVENT_CODE["reserve"]
    wanted = reserve & (closing | (include_open & ~follows))
    start_pos = np.flatnonzero(wanted)
    start_rows = order[start_pos]
    end_rows = np.where(closing[start_pos], order[np.minimum(start_pos + 1, len(order) - 1)], -1)
    by_time = np.argsort(start_rows, kind="stable")
    start_rows, end_rows = start_rows[by_time], end_rows[by_time]
    ended = end_rows >= 0

    t = time_ns(events["t"])
    last = np.maximum(end_rows, 0)
    start_t = t[start_rows]
    end_t = np.where(ended, t[last], NAT)
    outcome_codes = np.asarray([OUTCOMES.index(e) if e in OUTCOMES else -1 for e in HANDLE_EVENTS], dtype=np.int8)
    after = codes(events["state"], HANDLE_STATES)[last]
    taken = events.iloc[start_rows]
    data: dict[str, object] = {
        column: taken[column].array for column in ("project_id", "did", "worker", "attempt") if column in taken
    }
    data.update(
        reserved_at=utc_index(start_t).array,
        released_at=utc_index(end_t).array,
        outcome=pd.Categorical.from_codes(np.where(ended, outcome_codes[event[last]], -1), dtype=OUTCOME_DTYPE),
        state=pd.Categorical.from_codes(np.where(ended, after, -1), dtype=HANDLE_STATE_DTYPE),
        duration_s=np.where(ended, (end_t - start_t) / 1e9, np.nan),
    )
    return pd.DataFrame(data)
