"""``df.dd``: a DataFrame accessor for handles and events frames (opt-in: ``import dd_notebook.pandas``).

Examples
--------
>>> import dd_notebook.pandas  # registers the accessor
>>> events.dd.throughput("1min")
>>> events.dd.failure_rates("worker")
>>> events.dd.plot_timeline()
>>> handles.dd.state_counts()

The accessor checks in its constructor that the frame is an events frame
(:func:`dd_notebook.frames.events_frame`) or a handles frame
(:func:`dd_notebook.frames.handles_frame`), and raises ``AttributeError``
naming the missing columns otherwise -- so ``hasattr(df, "dd")`` tells
whether a frame fits.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.axes import Axes

from . import analysis, plots
from .frames import HANDLE_STATES

EVENT_REQUIRED = ("t", "did", "event", "old_state", "state")
HANDLE_REQUIRED = ("did", "state", "attempts")


@pd.api.extensions.register_dataframe_accessor("dd")
class DDAccessor:
    """Data Dispatcher analysis and plots on an events or handles frame.

    Attributes
    ----------
    kind
        ``"events"`` or ``"handles"``.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        columns = set(frame.columns)
        missing_events = [c for c in EVENT_REQUIRED if c not in columns]
        missing_handles = [c for c in HANDLE_REQUIRED if c not in columns]
        if not missing_events:
            self.kind = "events"
        elif not missing_handles:
            self.kind = "handles"
        else:
            raise AttributeError(
                "the .dd accessor needs an events frame (missing columns: "
                f"{', '.join(missing_events)}) or a handles frame (missing columns: {', '.join(missing_handles)})"
            )
        self._frame = frame

    def _events(self, what: str) -> pd.DataFrame:
        if self.kind != "events":
            missing = [c for c in EVENT_REQUIRED if c not in self._frame.columns]
            raise AttributeError(f".dd.{what} needs an events frame; missing columns: {', '.join(missing)}")
        return self._frame

    # -- analysis ---------------------------------------------------------------------------

    def state_counts(self) -> pd.Series:
        """Current number of handles per state (from the last event for an events frame)."""
        if self.kind == "handles":
            return self._frame["state"].value_counts().reindex(list(HANDLE_STATES), fill_value=0)
        timeline = analysis.state_timeline(self._frame)
        last = timeline.iloc[-1] if len(timeline) else pd.Series(0, index=list(HANDLE_STATES))
        return last.rename("count").rename_axis("state")

    def throughput(self, freq: str | pd.Timedelta = "1min", *, window: int = 5) -> pd.DataFrame:
        """See :func:`dd_notebook.analysis.throughput`."""
        return analysis.throughput(self._events("throughput"), freq, window=window)

    def timeline(self, **kwargs: Any) -> pd.DataFrame:
        """See :func:`dd_notebook.analysis.state_timeline`."""
        return analysis.state_timeline(self._events("timeline"), **kwargs)

    def failure_rates(self, by: str = "worker", **kwargs: Any) -> pd.DataFrame:
        """See :func:`dd_notebook.analysis.failure_rates`."""
        return analysis.failure_rates(self._events("failure_rates"), by, **kwargs)

    def worker_timeouts(self, by: str = "worker", **kwargs: Any) -> pd.Series:
        """See :func:`dd_notebook.analysis.worker_timeout_counts`."""
        return analysis.worker_timeout_counts(self._events("worker_timeouts"), by, **kwargs)

    def durations(self, **kwargs: Any) -> pd.DataFrame:
        """See :func:`dd_notebook.analysis.durations`."""
        return analysis.durations(self._events("durations"), **kwargs)

    def retry_counts(self) -> pd.DataFrame:
        """See :func:`dd_notebook.analysis.retry_counts`."""
        return analysis.retry_counts(self._events("retry_counts"))

    def permanent_failures(self) -> pd.DataFrame:
        """See :func:`dd_notebook.analysis.permanent_failures` (works on both kinds)."""
        return analysis.permanent_failures(self._frame)

    def eta(self, **kwargs: Any) -> analysis.Eta:
        """See :func:`dd_notebook.analysis.eta`."""
        return analysis.eta(self._events("eta"), **kwargs)

    def summary(self, **kwargs: Any) -> analysis.ProjectSummary:
        """See :func:`dd_notebook.analysis.project_summary`."""
        if self.kind == "events":
            return analysis.project_summary(events=self._frame, **kwargs)
        return analysis.project_summary(handles=self._frame, **kwargs)

    # -- plots ------------------------------------------------------------------------------

    def plot_throughput(self, freq: str | pd.Timedelta = "1min", *, window: int = 5, ax: Axes | None = None) -> Axes:
        """See :func:`dd_notebook.plots.plot_throughput`."""
        return plots.plot_throughput(self._events("plot_throughput"), freq, window=window, ax=ax)

    def plot_timeline(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """See :func:`dd_notebook.plots.plot_state_timeline`."""
        return plots.plot_state_timeline(self._events("plot_timeline"), ax=ax, **kwargs)

    def plot_failure_rates(self, by: str = "worker", *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Failure rates grouped ``by`` (see :meth:`failure_rates`).

        Drawn by :func:`~dd_notebook.plots.plot_failure_rates`.
        """
        return plots.plot_failure_rates(self.failure_rates(by, **kwargs), ax=ax)

    def plot_durations(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """See :func:`dd_notebook.plots.plot_durations`."""
        return plots.plot_durations(self._events("plot_durations"), ax=ax, **kwargs)
