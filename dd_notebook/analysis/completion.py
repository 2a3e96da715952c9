"""Expected completion of a project: the rate of finished files over the time the log really covers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..frames import HANDLE_EVENTS, HANDLE_STATES
from ._arrays import EVENT_CODE, NAT, STATE_CODE, codes, require, time_ns, timestamp_ns, to_timedelta_ns
from ._display import duration_text, eta_html, eta_text, files_text

#: Shortest span (seconds) a rate is measured over; below it there is no rate.
MIN_COVERED_S = 1.0


@dataclass(frozen=True, repr=False)
class Eta:
    """Expected completion of a project, from its recent rate of finished files.

    Attributes
    ----------
    remaining
        Files still ``initial`` or ``reserved``.
    rate_per_s
        Net files finished (``done`` or permanently ``failed``) per second over
        ``covered_s``; NaN when the log covers too little time to measure a rate
        (see ``basis``).
    seconds_left
        ``remaining / rate_per_s``; ``0.0`` when nothing remains, ``None`` when
        there is no positive rate.
    eta
        ``as_of + seconds_left`` (UTC), or ``None``.
    as_of
        The moment the estimate refers to.
    window_s
        Length of the window asked for, in seconds.
    covered_s
        Seconds the rate is really measured over: the window clipped to the
        span of the log (a project younger than the window is measured over
        its age), or, for a finished project, its active span from the first
        event to the last file finishing.
    finished_in_window
        Net files finished within ``covered_s`` (the numerator of the rate).
    basis
        One sentence saying what the rate is based on, or why there is none.
    """

    remaining: int
    rate_per_s: float
    seconds_left: float | None
    eta: pd.Timestamp | None
    as_of: pd.Timestamp | None
    window_s: float
    covered_s: float = 0.0
    finished_in_window: int = 0
    basis: str = ""

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict."""
        return asdict(self)

    def __repr__(self) -> str:
        return eta_text(self)

    def _repr_html_(self) -> str:
        return eta_html(self)


def finished_delta(event: np.ndarray, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """+1 for an event that finishes a file, -1 for one that un-finishes it (a reset), else 0.

    ``create`` rows never count: a server creates files ``initial``, and a
    recorder's baseline ``create`` of a file found already finished says
    nothing about when it finished.
    """
    done = STATE_CODE["done"]
    delta = (new >= done).view(np.int8) - (old >= done).view(np.int8)
    delta[event == EVENT_CODE["create"]] = 0
    return delta


def _no_rate(remaining: int, as_of: pd.Timestamp | None, window_s: float, covered_s: float, finished: int,
             basis: str) -> Eta:
    left = 0.0 if remaining <= 0 else None
    return Eta(max(remaining, 0), float("nan"), left, as_of if left == 0.0 else None, as_of, window_s,
               covered_s, finished, basis)


def estimate(
    t: np.ndarray,
    delta: np.ndarray,
    remaining: int,
    *,
    window_ns: int,
    now_ns: int | None = None,
    start_ns: int | None = None,
) -> Eta:
    """:class:`Eta` from event times (int64 ns, NaT allowed), finished deltas and the remaining count."""
    window_s = window_ns / 1e9
    valid = t != NAT
    if not valid.any():
        as_of = pd.Timestamp(now_ns, tz="UTC") if now_ns is not None else None
        return _no_rate(remaining, as_of, window_s, 0.0, 0, "no events in the log: no rate")
    times = t[valid]
    first = int(times.min())
    origin = min(first, start_ns) if start_ns is not None else first
    as_of_ns = now_ns if now_ns is not None else int(times.max())
    as_of = pd.Timestamp(as_of_ns, tz="UTC")
    if remaining <= 0:
        return _finished(t, delta, valid, origin, as_of, window_s)
    clipped = as_of_ns - window_ns < origin
    lower = origin if clipped else as_of_ns - window_ns
    covered_s = max(as_of_ns - lower, 0) / 1e9
    after_lower = t >= lower if clipped else t > lower
    finished = int(delta[valid & after_lower & (t <= as_of_ns)].sum())
    if covered_s < MIN_COVERED_S:
        return _no_rate(remaining, as_of, window_s, covered_s, finished,
                        f"no rate yet: the log covers only {duration_text(covered_s)} before the estimate's time "
                        f"(at least {duration_text(MIN_COVERED_S)} needed)")
    span = (f"in the last {duration_text(covered_s)} (window {duration_text(window_s)}"
            f"{', clipped to the age of the log' if clipped else ''})")
    rate = finished / covered_s
    if rate <= 0:
        return Eta(remaining, rate, None, None, as_of, window_s, covered_s, finished,
                   f"{files_text(finished)} finished {span}: no ETA while nothing finishes")
    seconds_left = remaining / rate
    return Eta(remaining, rate, seconds_left, as_of + pd.Timedelta(seconds=seconds_left), as_of, window_s,
               covered_s, finished, f"{files_text(finished)} finished {span}")


def _finished(t: np.ndarray, delta: np.ndarray, valid: np.ndarray, origin: int, as_of: pd.Timestamp,
              window_s: float) -> Eta:
    """A project with nothing left: its rate over the active span, first event to last file finishing."""
    finishing = valid & (delta > 0)
    finished = int(delta[valid].sum())
    if not finishing.any():
        return _no_rate(0, as_of, window_s, 0.0, finished,
                        "nothing remains, and no file finished within the log: no rate")
    covered_s = (int(t[finishing].max()) - origin) / 1e9
    if covered_s < MIN_COVERED_S:
        return _no_rate(0, as_of, window_s, covered_s, finished,
                        f"nothing remains; the log's active span of {duration_text(covered_s)} is too short "
                        "for a rate")
    return Eta(0, finished / covered_s, 0.0, as_of, as_of, window_s, covered_s, finished,
               f"{files_text(finished)} finished over the project's active span of {duration_text(covered_s)} "
               "(first event to last file finished); nothing remains")


def remaining_files(new: np.ndarray, old: np.ndarray) -> int:
    """Files ``initial`` or ``reserved`` after the last event, from the per-event state changes."""
    active = (new >= 0) & (new < STATE_CODE["done"])
    was_active = (old >= 0) & (old < STATE_CODE["done"])
    return int(active.sum()) - int(was_active.sum())


def eta(
    events: pd.DataFrame,
    *,
    handles: pd.DataFrame | None = None,
    window: str | pd.Timedelta = "15min",
    now: pd.Timestamp | str | None = None,
    start: pd.Timestamp | str | float | None = None,
) -> Eta:
    """Estimate when the project finishes from the rate of the last ``window``.

    The rate is the number of files finished in the window divided by the
    time the window really covers: the window ``(as_of - window, as_of]``
    clipped to start no earlier than the log does, so a project one minute old
    is measured over that minute, not over 15 minutes of which 14 did not
    exist. For a finished project (nothing ``initial`` or ``reserved`` left)
    the rate is taken over its active span, from the first event to the last
    file finishing. A span shorter than :data:`MIN_COVERED_S` (e.g. a single
    event) gives no rate (NaN) and no ETA; ``basis`` says why.

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
    start
        When the log starts covering the project, if earlier than its first
        event (e.g. the project's creation time for a log that is complete from
        then on but holds no ``create`` records). By default the log starts at
        its first event: a server log begins with the files' ``create``
        records, a recorder's log at its first poll -- counting from the
        project's creation would dilute the rate of a recorder attached late.

    Returns
    -------
    Eta
        With ``covered_s``, ``finished_in_window`` and ``basis`` telling what
        the rate is measured over.
    """
    require(events, ["t", "state", "old_state"], "eta")
    new = codes(events["state"], HANDLE_STATES)
    old = codes(events["old_state"], HANDLE_STATES)
    event = codes(events["event"], HANDLE_EVENTS) if "event" in events else np.full(len(new), -1, np.int8)
    if handles is not None:
        remaining = int(handles["state"].isin(["initial", "reserved"]).sum())
    else:
        remaining = remaining_files(new, old)
    return estimate(
        time_ns(events["t"]),
        finished_delta(event, new, old),
        remaining,
        window_ns=to_timedelta_ns(window),
        now_ns=timestamp_ns(now) if now is not None else None,
        start_ns=timestamp_ns(start) if start is not None else None,
    )
