"""The numbers behind a report's verdict: counts, wall time, throughput and how good the ETA would have been."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import eta
from ..frames import HANDLE_STATES

FINISHED_STATES = ("done", "failed")
CHECKPOINTS = (0.25, 0.5, 0.75)

CHECKPOINT_COLUMNS = ("fraction", "files_finished", "at", "predicted_end", "real_end", "error_s", "error_pct",
                      "rate_per_h", "window_s", "covered_s", "basis")


@dataclass(frozen=True)
class Verdict:
    """Headline numbers of one project.

    Attributes
    ----------
    project_id, state
        From the project.
    counts
        Handles per state (from the server's current handles).
    total, remaining
        All handles; handles still ``initial`` or ``reserved``.
    finished
        Whether no handle remains to be processed.
    started
        Project creation (or the first event).
    ended
        When the last file finished, for a finished project with events; else ``None``.
    wall_s
        ``ended - started`` (a running project: up to its last event).
    files_per_h
        Files finished (done or failed) per hour of wall time.
    """

    project_id: int
    state: str
    counts: dict[str, int]
    total: int
    remaining: int
    finished: bool
    started: pd.Timestamp | None
    ended: pd.Timestamp | None
    wall_s: float | None
    files_per_h: float | None

    @property
    def done(self) -> int:
        """Handles ``done``."""
        return self.counts.get("done", 0)

    @property
    def failed(self) -> int:
        """Handles ``failed`` (for good)."""
        return self.counts.get("failed", 0)


def _finished_delta(events: pd.DataFrame) -> np.ndarray:
    """+1 where an event finishes a file, -1 where it un-finishes one (a reset); ``create`` rows never count."""
    new = events["state"].isin(FINISHED_STATES).to_numpy(dtype=np.int64)
    old = events["old_state"].isin(FINISHED_STATES).to_numpy(dtype=np.int64)
    return np.where(events["event"].to_numpy(dtype=object) == "create", 0, new - old)


def real_end(events: pd.DataFrame | None, finished: bool) -> pd.Timestamp | None:
    """When the last file of a finished project finished (``None`` while files remain or without events)."""
    if not finished or events is None or events.empty:
        return None
    rows = events[events["event"].isin(FINISHED_STATES) & events["state"].isin(FINISHED_STATES)]
    return rows["t"].max() if len(rows) else None


def verdict(project: Mapping[str, Any], handles: pd.DataFrame, events: pd.DataFrame | None) -> Verdict:
    """The headline numbers of a project from its current handles and (optionally) its events."""
    value_counts = handles["state"].value_counts()
    counts = {state: int(value_counts.get(state, 0)) for state in HANDLE_STATES}
    total = sum(counts.values())
    remaining = counts["initial"] + counts["reserved"]
    finished = remaining == 0 and total > 0
    created = project.get("created_timestamp")
    started = pd.Timestamp(created, unit="s", tz="UTC") if isinstance(created, (int, float)) else None
    if started is None and events is not None and len(events):
        started = events["t"].min()
    ended = real_end(events, finished)
    last = ended if ended is not None else (events["t"].max() if events is not None and len(events) else None)
    wall_s = (last - started).total_seconds() if started is not None and last is not None else None
    done_or_failed = counts["done"] + counts["failed"]
    files_per_h = done_or_failed / (wall_s / 3600.0) if wall_s and wall_s > 0 else None
    return Verdict(int(project.get("project_id", -1)), str(project.get("state", "?")), counts, total, remaining,
                   finished, started, ended, wall_s, files_per_h)


def eta_checkpoints(
    events: pd.DataFrame,
    total: int,
    end: pd.Timestamp | None,
    *,
    window: str | pd.Timedelta = "15min",
    fractions: Sequence[float] = CHECKPOINTS,
) -> pd.DataFrame:
    """The ETA the toolkit would have shown when a share of the files had finished, against the real end.

    For each fraction ``f`` the events are cut at the moment the
    ``ceil(f * total)``-th file finished and :func:`dd_notebook.analysis.eta`
    is computed on what was known then.

    Parameters
    ----------
    events
        The project's events frame (time-sorted).
    total
        Number of files of the project.
    end
        When the project really finished (``None`` while it runs: errors stay empty).
    window
        The ETA's rate window.
    fractions
        Shares of finished files to check at.

    Returns
    -------
    pandas.DataFrame
        One row per fraction: ``fraction``, ``files_finished``, ``at`` (moment of
        the check, NaT when not reached), ``predicted_end``, ``real_end``,
        ``error_s`` (predicted minus real, seconds), ``error_pct`` (error in % of
        the time that really remained), ``rate_per_h``, ``window_s`` and, when the
        analysis provides them, ``covered_s`` and ``basis``.
    """
    finished = np.cumsum(_finished_delta(events)) if len(events) else np.array([], dtype=np.int64)
    times = events["t"]
    rows: list[dict[str, Any]] = []
    for fraction in fractions:
        target = max(1, math.ceil(fraction * total))
        reached = np.flatnonzero(finished >= target)
        row: dict[str, Any] = dict.fromkeys(CHECKPOINT_COLUMNS)
        row.update(fraction=float(fraction), files_finished=target, real_end=end)
        if len(reached):
            at = times.iloc[int(reached[0])]
            estimate = eta(events[times <= at], window=window)
            row.update(at=at, predicted_end=estimate.eta, rate_per_h=estimate.rate_per_s * 3600.0,
                       window_s=estimate.window_s, covered_s=getattr(estimate, "covered_s", None),
                       basis=getattr(estimate, "basis", None))
            if estimate.eta is not None and end is not None:
                error = (estimate.eta - end).total_seconds()
                really_left = (end - at).total_seconds()
                row.update(error_s=error, error_pct=100.0 * error / really_left if really_left > 0 else None)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(CHECKPOINT_COLUMNS))
    for column in ("at", "predicted_end", "real_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
