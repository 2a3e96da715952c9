"""Completion rates: files done and failed per time bin, and an ETA from the recent rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..frames import HANDLE_EVENTS, HANDLE_STATES
from ._arrays import EVENT_CODE, NAT, STATE_CODE, codes, require, time_ns, timestamp_ns, to_timedelta_ns, utc_index

THROUGHPUT_COLUMNS = ("done", "failed", "worker_timeout", "done_per_s", "failed_per_s")


def throughput(events: pd.DataFrame, freq: str | pd.Timedelta = "1min", *, window: int = 5) -> pd.DataFrame:
    """Releases per fixed time bin and their rolling rate.

    Parameters
    ----------
    events
        An events frame.
    freq
        Bin width (a fixed duration such as ``"30s"``, ``"1min"``, ``"1h"``).
    window
        Number of bins in the rolling mean behind the ``*_per_s`` rates.

    Returns
    -------
    pandas.DataFrame
        Indexed by bin start ``t`` (UTC, every bin from the first to the last
        event, empty bins included), with counts ``done``, ``failed`` (failed
        releases, retried or not) and ``worker_timeout``, and rolling rates
        ``done_per_s`` and ``failed_per_s`` in files per second (failures
        include worker timeouts).
    """
    require(events, ["t", "event"], "throughput")
    step = to_timedelta_ns(freq)
    t = time_ns(events["t"])
    valid = t != NAT
    if not valid.any():
        empty = {c: np.array([], dtype=np.float64 if c.endswith("_per_s") else np.int64) for c in THROUGHPUT_COLUMNS}
        return pd.DataFrame(empty, index=utc_index(np.array([], dtype=np.int64)))
    event = codes(events["event"], HANDLE_EVENTS)
    t, event = t[valid], event[valid]
    origin = (int(t.min()) // step) * step
    bins = (t - origin) // step
    size = int(bins.max()) + 1
    counts = {
        name: np.bincount(bins[event == EVENT_CODE[name]], minlength=size)
        for name in ("done", "failed", "worker_timeout")
    }
    frame = pd.DataFrame(counts, index=utc_index(origin + np.arange(size, dtype=np.int64) * step))
    seconds = step / 1e9
    frame["done_per_s"] = frame["done"].rolling(window, min_periods=1).mean() / seconds
    failures = frame["failed"] + frame["worker_timeout"]
    frame["failed_per_s"] = failures.rolling(window, min_periods=1).mean() / seconds
    return frame


@dataclass(frozen=True)
class Eta:
    """Expected completion of a project, from its recent rate of finished files.

    Attributes
    ----------
    remaining
        Files still ``initial`` or ``reserved``.
    rate_per_s
        Net files finished (``done`` or permanently ``failed``) per second over the window.
    seconds_left
        ``remaining / rate_per_s``; ``0.0`` when nothing remains, ``None`` when the rate is not positive.
    eta
        ``as_of + seconds_left`` (UTC), or ``None``.
    as_of
        The moment the estimate refers to.
    window_s
        Length of the window the rate was measured over, in seconds.
    """

    remaining: int
    rate_per_s: float
    seconds_left: float | None
    eta: pd.Timestamp | None
    as_of: pd.Timestamp | None
    window_s: float


def eta(
    events: pd.DataFrame,
    *,
    handles: pd.DataFrame | None = None,
    window: str | pd.Timedelta = "15min",
    now: pd.Timestamp | str | None = None,
) -> Eta:
    """Estimate when the project finishes from the rate of the last ``window``.

    Parameters
    ----------
    events
        An events frame.
    handles
        A handles frame; when given, ``remaining`` is counted from it (exact even
        when the log starts late), otherwise from the events.
    window
        How far back the rate is measured.
    now
        Reference time (default: the last event). Pass ``pd.Timestamp.now("UTC")``
        for a live project, so that a stall lowers the rate.
    """
    require(events, ["t", "state", "old_state"], "eta")
    step = to_timedelta_ns(window)
    t = time_ns(events["t"])
    new = codes(events["state"], HANDLE_STATES)
    old = codes(events["old_state"], HANDLE_STATES)
    finished = (new >= STATE_CODE["done"]).view(np.int8) - (old >= STATE_CODE["done"]).view(np.int8)
    if handles is not None:
        remaining = int(handles["state"].isin(["initial", "reserved"]).sum())
    else:
        active = (new >= 0) & (new < STATE_CODE["done"])
        was_active = (old >= 0) & (old < STATE_CODE["done"])
        remaining = int(active.sum()) - int(was_active.sum())
    valid = t != NAT
    if now is not None:
        as_of = timestamp_ns(now)
    elif valid.any():
        as_of = int(t[valid].max())
    else:
        return Eta(remaining, 0.0, 0.0 if remaining == 0 else None, None, None, step / 1e9)
    in_window = valid & (t > as_of - step) & (t <= as_of)
    rate = float(finished[in_window].sum()) / (step / 1e9)
    as_of_ts = pd.Timestamp(as_of, tz="UTC")
    if remaining <= 0:
        return Eta(max(remaining, 0), rate, 0.0, as_of_ts, as_of_ts, step / 1e9)
    if rate <= 0:
        return Eta(remaining, rate, None, None, as_of_ts, step / 1e9)
    seconds_left = remaining / rate
    return Eta(remaining, rate, seconds_left, as_of_ts + pd.Timedelta(seconds=seconds_left), as_of_ts, step / 1e9)
