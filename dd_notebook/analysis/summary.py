"""One-call project summary built from the handles and events frames."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..frames import HANDLE_STATES
from .durations import durations
from .failures import permanent_failures, retry_counts
from .throughput import Eta, eta
from .timeline import state_timeline


@dataclass(frozen=True)
class ProjectSummary:
    """Headline numbers of a project. Missing inputs leave their fields ``None``.

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
        """Flat dict (state counts as ``n_<state>``, ETA fields as ``eta_*``)."""
        flat = asdict(self)
        counts = flat.pop("state_counts")
        estimate = flat.pop("eta")
        for state in HANDLE_STATES:
            flat[f"n_{state}"] = counts.get(state)
        if estimate is not None:
            flat["rate_per_s"] = estimate["rate_per_s"]
            flat["eta_seconds_left"] = estimate["seconds_left"]
            flat["eta"] = estimate["eta"]
        return flat

    def to_series(self) -> pd.Series:
        """The flat dict as an object Series (handy for display)."""
        return pd.Series(self.to_dict(), dtype=object, name=self.project_id)


def _state_counts(handles: pd.DataFrame | None, events: pd.DataFrame | None) -> dict[str, int]:
    if handles is not None:
        counts = handles["state"].value_counts()
        return {state: int(counts.get(state, 0)) for state in HANDLE_STATES}
    if events is not None and len(events):
        last = state_timeline(events).iloc[-1]
        return {state: int(last[state]) for state in HANDLE_STATES}
    return {}


def _event_fields(events: pd.DataFrame) -> dict[str, Any]:
    counts = events["event"].value_counts()
    retries = retry_counts(events)
    times = events["t"]
    done = durations(events)
    done = done.loc[done["outcome"] == "done", "duration_s"]
    return {
        "reservations": int(counts.get("reserve", 0)),
        "failed_releases": int(counts.get("failed", 0)),
        "worker_timeouts": int(counts.get("worker_timeout", 0)),
        "resets": int(counts.get("reset", 0)),
        "files_retried": int((retries["reservations"] > 1).sum()),
        "n_workers": int(events["worker"].nunique()) if "worker" in events else None,
        "first_event": times.min() if len(times) else None,
        "last_event": times.max() if len(times) else None,
        "median_duration_s": float(np.median(done)) if len(done) else None,
    }


def project_summary(
    handles: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
    *,
    project: Mapping[str, Any] | None = None,
    window: str | pd.Timedelta = "15min",
    now: pd.Timestamp | str | None = None,
) -> ProjectSummary:
    """Summarise a project from whatever is at hand.

    Parameters
    ----------
    handles
        A handles frame (current states; the most exact source of counts).
    events
        An events frame (rates, retries, timeouts, durations, ETA).
    project
        The project dict (id, owner, state).
    window, now
        Passed to :func:`~dd_notebook.analysis.eta`.
    """
    counts = _state_counts(handles, events)
    n_files = sum(counts.values()) if counts else None
    fields: dict[str, Any] = {"state_counts": counts, "n_files": n_files}
    if project is not None:
        fields.update(project_id=project.get("project_id"), owner=project.get("owner"),
                      project_state=project.get("state"))
    else:
        ids: set[int] = set()
        for frame in (handles, events):
            if frame is not None and "project_id" in frame:
                ids.update(frame["project_id"].dropna().unique().tolist())
        if len(ids) == 1:
            fields["project_id"] = int(ids.pop())
    if n_files:
        fields["fraction_done"] = counts["done"] / n_files
        fields["fraction_finished"] = (counts["done"] + counts["failed"]) / n_files
    if handles is not None:
        fields["permanently_failed"] = len(permanent_failures(handles))
    elif events is not None:
        fields["permanently_failed"] = len(permanent_failures(events))
    if events is not None and len(events):
        fields.update(_event_fields(events))
        fields["eta"] = eta(events, handles=handles, window=window, now=now)
    return ProjectSummary(**fields)
