"""Completion rates: files done and failed per time bin, each divided by the time the bin really covers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import HANDLE_EVENTS
from ._arrays import EVENT_CODE, NAT, codes, require, time_ns, timestamp_ns, to_timedelta_ns, utc_index

THROUGHPUT_COLUMNS = ("done", "failed", "worker_timeout", "covered_s", "done_per_s", "failed_per_s")


def _empty() -> pd.DataFrame:
    columns = {c: np.array([], dtype=np.int64 if c in ("done", "failed", "worker_timeout") else np.float64)
               for c in THROUGHPUT_COLUMNS}
    return pd.DataFrame(columns, index=utc_index(np.array([], dtype=np.int64)))


def _rolling_rate(counts: pd.Series, covered: pd.Series, window: int) -> pd.Series:
    """Centred rolling sum of ``counts`` over the centred rolling sum of ``covered`` seconds (NaN where 0 s)."""
    total = counts.rolling(window, center=True, min_periods=1).sum()
    seconds = covered.rolling(window, center=True, min_periods=1).sum()
    return total / seconds.where(seconds > 0)


def throughput(
    events: pd.DataFrame,
    freq: str | pd.Timedelta = "1min",
    *,
    window: int = 5,
    until: pd.Timestamp | str | float | None = None,
) -> pd.DataFrame:
    """Releases per fixed time bin, and rates that account for partly covered bins.

    The observed span runs from the first event to the last event (or
    ``until``). The first and last bins usually cover only part of their
    width: each bin's ``covered_s`` is the part of it inside the span, and
    rates are counts divided by covered seconds, so a project that started
    or stopped mid-bin shows no apparent slowdown in its edge bins.

    The rolling rates are centred (no lag, so a short project's rate is not
    pulled towards the start): for every bin, the sum of the counts of the
    ``window`` bins around it divided by the sum of their covered seconds.
    Near either end the window holds fewer bins.

    Parameters
    ----------
    events
        An events frame.
    freq
        Bin width (a fixed duration such as ``"30s"``, ``"1min"``, ``"1h"``).
        Bins are aligned to multiples of ``freq`` since the epoch.
    window
        Number of bins in the centred rolling rates (an odd number centres exactly).
    until
        End of the observed span when later than the last event, e.g.
        ``pd.Timestamp.now("UTC")`` for a live project (adds the quiet time
        since the last event, and empty bins up to it).

    Returns
    -------
    pandas.DataFrame
        Indexed by bin start ``t`` (UTC, every bin of the span, empty bins
        included), with int64 counts ``done``, ``failed`` (failed releases,
        retried or not) and ``worker_timeout``, float ``covered_s`` (seconds of
        the bin inside the span; 0 only when the whole span is one instant)
        and rolling rates ``done_per_s`` and ``failed_per_s`` in files per
        second (failures include worker timeouts; NaN when no time is covered).
        An event exactly at the end of the last bin is counted in that bin.
    """
    require(events, ["t", "event"], "throughput")
    if window < 1:
        raise ValueError(f"window must be a positive number of bins, got {window!r}")
    step = to_timedelta_ns(freq)
    t = time_ns(events["t"])
    valid = t != NAT
    if not valid.any():
        return _empty()
    event = codes(events["event"], HANDLE_EVENTS)
    t, event = t[valid], event[valid]
    start, end = int(t.min()), int(t.max())
    if until is not None:
        end = max(end, timestamp_ns(until))
    origin = (start // step) * step
    size = max(1, -(-(end - origin) // step))
    bins = np.minimum((t - origin) // step, size - 1)
    counts = {
        name: np.bincount(bins[event == EVENT_CODE[name]], minlength=size)
        for name in ("done", "failed", "worker_timeout")
    }
    lefts = origin + np.arange(size, dtype=np.int64) * step
    covered = (np.minimum(lefts + step, end) - np.maximum(lefts, start)) / 1e9
    frame = pd.DataFrame(counts, index=utc_index(lefts))
    frame["covered_s"] = covered
    frame["done_per_s"] = _rolling_rate(frame["done"], frame["covered_s"], window)
    frame["failed_per_s"] = _rolling_rate(frame["failed"] + frame["worker_timeout"], frame["covered_s"], window)
    return frame
