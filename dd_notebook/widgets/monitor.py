"""``ProjectMonitor``: a live panel that follows one running project.

>>> monitor = ProjectMonitor(client, 42, interval=5, gui_url=srv.gui_url)   # doctest: +SKIP
>>> monitor.start()          # refreshes every 5 s until the project ends   # doctest: +SKIP
>>> monitor                  # last line of a cell shows the panel          # doctest: +SKIP

It shows the counts per state with a progress bar, the current throughput and
an ETA that says what it is based on, a throughput plot and a state-over-time
plot, the latest failures, a "stalled" flag (files reserved, nothing finished
for ``stall_after``), the time of the last update, and a clear line when the
server cannot be reached (polling goes on and recovers by itself). The data
come from :class:`dd_notebook.live.LiveProject`, which reads only the handle
log records added since the previous poll.

Threads and the event loop
--------------------------
In a kernel, :meth:`ProjectMonitor.start` runs an asyncio task on the kernel's
loop (captured when the monitor is built): the blocking HTTP requests and the
plot rendering run in a worker thread (``loop.run_in_executor``), the widget
updates happen on the loop, batched with ``hold_sync()``. **An asyncio monitor
pauses while one of your own cells runs** (the loop is busy running it) and
catches up when the cell finishes. Outside a running loop (a script, a plain
console), :meth:`~ProjectMonitor.start` uses a daemon thread instead, which
updates the widgets directly (trait updates from a thread are delivered). The
monitor stops by itself after the refresh that sees the project ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure

from ..analysis import state_timeline
from ..frames import HANDLE_STATES
from ..live import LiveProject, LiveState
from ..plots import plot_state_timeline, plot_throughput
from ..recorder import ProjectRecorder
from ..rendering import rate_text
from ._base import (
    Panel,
    action,
    duration_text,
    error_message,
    figure_png,
    html_table,
    panel_style,
    state_badge,
    state_bar,
)

log = logging.getLogger(__name__)

__all__ = ["ProjectMonitor", "plot_bin", "throughput_bin"]

_BIN_STEPS = ("1s", "5s", "10s", "30s", "1min", "2min", "5min", "10min", "15min", "30min", "1h", "2h", "6h", "12h",
              "1D")
_MAX_BINS = 60
#: Narrowest throughput bin of the plot: a burst of one second is shown as a rate over 10 s at least.
_MIN_BIN = "10s"
#: Shortest span of the plots, seconds: one narrowest bin (a burst's rate is counted over that much time).
_MIN_SPAN_S = pd.Timedelta(_MIN_BIN).total_seconds()
#: Plot size: 864 x 288 px at 96 dpi, shown at most at that width, one plot under the other.
_FIGURE_INCHES = (9.0, 3.0)
_FIGURE_DPI = 96
_FIGURE_PX = int(_FIGURE_INCHES[0] * _FIGURE_DPI)
#: Plots are redrawn at most once per this many times the last drawing took (drawing stays under ~20 % CPU).
_DRAWING_PAUSES = 4


def _clock_text(epoch: float) -> str:
    """Local wall-clock time ``HH:MM:SS`` of an epoch time."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def throughput_bin(span_s: float) -> str:
    """The smallest bin width from a fixed ladder giving at most 60 bins over ``span_s`` seconds."""
    for step in _BIN_STEPS:
        if span_s / pd.Timedelta(step).total_seconds() <= _MAX_BINS:
            return step
    return _BIN_STEPS[-1]


def counts_html(state: LiveState) -> str:
    """The progress bar and the counts line (``done 812 / 1,000 (81.2 %), failed 12``)."""
    counts = {s: int(state.counts.get(s, 0)) for s in HANDLE_STATES}
    total = state.total
    share = f"{100.0 * counts['done'] / total:.1f} %" if total else "–"
    line = (f"done <span class='dd-count-done'>{counts['done']:,}</span> / "
            f"<span class='dd-count-total'>{total:,}</span> ({share}), "
            f"failed <span class='dd-count-failed'>{counts['failed']:,}</span>")
    details = " · ".join(f"{s} <span class='dd-count-{s}'>{counts[s]:,}</span>" for s in ("initial", "reserved"))
    return f"{state_bar(counts)}<div class='dd-progress'>{line}</div><div class='dd-note'>{details}</div>"


def eta_html(state: LiveState) -> str:
    """Current throughput and the ETA, saying which rate it is based on."""
    estimate = state.eta
    if state.finished:
        return f"<span class='dd-eta'>project {html.escape(str(state.project_state))}: nothing left to estimate</span>"
    if estimate is None:
        return "<span class='dd-eta'>ETA: no events yet</span>"
    rate = "?" if pd.isna(estimate.rate_per_s) else rate_text(estimate.rate_per_s)
    basis = getattr(estimate, "basis", None) or (
        f"net files finished in the last {duration_text(min(state.covered_s, state.eta_window_s))}")
    if estimate.remaining == 0:
        head = "ETA: nothing left to process"
    elif estimate.eta is None:
        head = f"ETA unknown: nothing finished recently, {estimate.remaining:,} files left"
    else:
        when = _clock_text(estimate.eta.timestamp())
        head = f"ETA {when} (in {duration_text(estimate.seconds_left)}), {estimate.remaining:,} files left"
    return (f"<span class='dd-eta'>throughput {html.escape(rate)} · {html.escape(head)}</span>"
            f"<div class='dd-note'>based on {html.escape(basis)}</div>")


def stalled_html(state: LiveState) -> str:
    """The stall flag, or ``""``."""
    if not state.stalled or state.finished:
        return ""
    reserved = int(state.counts.get("reserved", 0))
    files = "1 file" if reserved == 1 else f"{reserved:,} files"
    text = f"stalled: {files} reserved, nothing finished for {duration_text(state.stalled_for_s)}"
    return f"<span class='dd-stalled dd-error'>⚠ {html.escape(text)}</span>"


def failures_html(state: LiveState) -> str:
    """The latest failures as an escaped table."""
    if state.failures.empty:
        return "<div class='dd-title'>Latest failures</div><div class='dd-note'>no failures</div>"
    table = state.failures.assign(t=[_clock_text(t.timestamp()) for t in state.failures["t"]])
    return "<div class='dd-title'>Latest failures</div>" + html_table(table.rename(columns={"t": "time"}),
                                                                       numeric=["attempt"])


def plot_bin(age_s: float) -> str:
    """Throughput bin width for a project ``age_s`` seconds old: at least 10 s, at most 60 bins over the age."""
    step = throughput_bin(age_s)
    return step if pd.Timedelta(step) >= pd.Timedelta(_MIN_BIN) else _MIN_BIN


@dataclass(frozen=True)
class _Span:
    """The time the plots cover: from the first event to now (to the last event once the project ended).

    It is at least :data:`_MIN_SPAN_S` long, so that a burst of events in one
    second neither makes a rate of thousands of files per minute nor a time
    axis of fractions of a second.
    """

    start: pd.Timestamp
    end: pd.Timestamp

    @classmethod
    def of(cls, events: pd.DataFrame, state: LiveState) -> _Span:
        first, last = events["t"].iloc[0], events["t"].iloc[-1]
        if not state.finished and state.updated is not None:
            last = max(last, pd.Timestamp(state.updated, unit="s", tz="UTC"))
        return cls(first, max(last, first + pd.Timedelta(seconds=_MIN_SPAN_S)))

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def clock_axis(self, ax: Any) -> None:
        """Show the span on the x axis, with ``HH:MM:SS`` ticks when it is shorter than a day."""
        ax.set_xlim(self.start.tz_convert("UTC").tz_localize(None).to_datetime64(),
                    self.end.tz_convert("UTC").tz_localize(None).to_datetime64())
        if self.seconds < 86400:
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=9))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))


def _timeline_until(events: pd.DataFrame, until: pd.Timestamp | None) -> pd.DataFrame:
    """The state timeline of ``events``, its last counts held until ``until`` (the plot's right edge)."""
    timeline = state_timeline(events)
    if until is None or timeline.empty or timeline.index[-1] >= until:
        return timeline
    held = timeline.iloc[[-1]].set_axis(pd.DatetimeIndex([until], name=timeline.index.name).as_unit(
        timeline.index.unit))
    return pd.concat([timeline, held])


def _figure_png(draw: Callable[..., Any], events: pd.DataFrame, span: _Span | None, **kwargs: Any) -> bytes:
    figure = Figure(figsize=_FIGURE_INCHES, layout="constrained")
    ax = figure.add_subplot()
    draw(events, ax=ax, **kwargs)
    if span is not None:
        span.clock_axis(ax)
    return figure_png(figure, dpi=_FIGURE_DPI)


@dataclass(frozen=True)
class _Content:
    """Everything one refresh puts into the widgets, prepared off the loop."""

    state: LiveState
    throughput_png: bytes | None
    timeline_png: bytes | None


class ProjectMonitor(Panel):
    """Live monitor of one project (see the module docstring).

    Parameters
    ----------
    client
        A logged-in :class:`~dd_notebook.client.DataDispatcherClient`.
    project_id
        The project to follow.
    interval
        Seconds between refreshes.
    gui_url
        Base URL of a DD GUI server, for its cheap state counts.
    stall_after
        Flag the project as stalled when files are reserved and nothing
        finished for this long (``"10min"``, ``"30s"`` or seconds).
    recorder
        For servers without a readable handle log: the
        :class:`~dd_notebook.recorder.ProjectRecorder` (or the path of its
        file) that records one snapshot per interval; default a temporary file.
    """

    def __init__(self, client: Any, project_id: int, interval: float = 5, *, gui_url: str | None = None,
                 stall_after: str | float | pd.Timedelta = "10min",
                 recorder: ProjectRecorder | str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.live = LiveProject(client, project_id, interval=interval, gui_url=gui_url, stall_after=stall_after,
                                recorder=recorder)
        self.title = widgets.HTML(value=self._title_html(None))
        self.counts = widgets.HTML(value=counts_html(self.live.state))
        self.eta = widgets.HTML(value="")
        self.stall_flag = widgets.HTML(value="")
        self.throughput_image = widgets.Image(format="png", layout=self._plot_layout())
        self.timeline_image = widgets.Image(format="png", layout=self._plot_layout())
        self.failures = widgets.HTML(value="")
        self.updated = widgets.HTML(value="<span class='dd-note'>not refreshed yet</span>")
        self.start_button = widgets.Button(description="Start", icon="play", tooltip="Refresh every interval")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", tooltip="Refresh once now")
        for w, css in ((self.counts, "dd-monitor-counts"), (self.eta, "dd-monitor-eta"),
                       (self.stall_flag, "dd-monitor-stalled"), (self.throughput_image, "dd-monitor-throughput"),
                       (self.timeline_image, "dd-monitor-timeline"), (self.failures, "dd-monitor-failures"),
                       (self.updated, "dd-monitor-updated"), (self.start_button, "dd-monitor-start"),
                       (self.refresh_button, "dd-monitor-refresh")):
            w.add_class(css)
        self.start_button.on_click(self.clicked(self._toggle))
        self.refresh_button.on_click(self.clicked(self.refresh))
        self.widget = widgets.VBox([
            panel_style(),
            widgets.HBox([self.title, self.start_button, self.refresh_button]),
            self.counts, self.eta, self.stall_flag,
            self.throughput_image, self.timeline_image,
            self.failures,
            widgets.HBox([self.updated]),
            self.status,
        ])
        self.widget.add_class("dd-panel")
        self.widget.add_class("dd-monitor")
        self._task: Any = None
        self._thread: threading.Thread | None = None
        self._stop: threading.Event | None = None
        self._generation = 0
        self._plots_stale = False
        self._next_drawing = 0.0

    @staticmethod
    def _plot_layout() -> widgets.Layout:
        return widgets.Layout(width="100%", max_width=f"{_FIGURE_PX}px", height="auto")

    # -- public actions ----------------------------------------------------------------------

    @property
    def state(self) -> LiveState:
        """What the last refresh found."""
        return self.live.state

    @property
    def running(self) -> bool:
        """Whether the monitor refreshes by itself."""
        if self._task is not None:
            return not self._task.done()
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()  # type: ignore

    @action
    def refresh(self) -> LiveState:
        """Refresh once, now, in the calling thread (usable without the UI); returns the new state."""
        content = self._prepare()
        self._apply(content)
        return content.state

    @action
    def start(self) -> None:
        """Refresh every ``interval`` seconds until :meth:`stop` or the end of the project."""
        if self.running:
            return
        self._generation += 1
        loop = self.loop
        if loop is not None and loop.is_running() and not loop.is_closed():
            try:
                here = asyncio.get_running_loop()
            except RuntimeError:
                here = None
            coroutine = self._run_async(self._generation)
            self._task = loop.create_task(coroutine) if here is loop else \
                asyncio.run_coroutine_threadsafe(coroutine, loop)
        else:
            self._task = None
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run_thread, args=(self._stop, self._generation), daemon=True,
                                            name=f"dd-monitor-{self.live.project_id}")
            self._thread.start()
        self._show_running(True)

    @action
    def stop(self) -> None:
        """Stop refreshing (a refresh under way finishes, but its result is not shown)."""
        if self._task is not None:
            self._task.cancel()
        if self._stop is not None:
            self._stop.set()
        self._show_running(False)
        self.show_info("monitor stopped")

    # -- refreshing ------------------------------------------------------------------------------

    def _toggle(self) -> None:
        self.stop() if self.running else self.start()

    def _prepare(self) -> _Content:
        """Poll and render the plots (blocking: runs in a worker thread when automatic)."""
        previous = self.live.polls
        state = self.live.poll()
        self._plots_stale |= self.live.polls > previous and (state.new_records > 0 or previous == 0)
        started = time.monotonic()
        # big logs take a while to draw: redraw at most every few drawing times, but always at the end
        if not self._plots_stale or (started < self._next_drawing and not state.finished):
            return _Content(state, None, None)
        events = self.live.buffer.frame()
        span = _Span.of(events, state) if len(events) else None
        age_s = span.seconds if span is not None else 0.0
        until = span.end if span is not None else None
        content = _Content(state, _figure_png(plot_throughput, events, span, freq=plot_bin(age_s), window=3,
                                              until=until),
                           _figure_png(plot_state_timeline, _timeline_until(events, until), span))
        self._plots_stale = False
        self._next_drawing = time.monotonic() + _DRAWING_PAUSES * (time.monotonic() - started)
        return content

    def _apply(self, content: _Content) -> None:
        """Put a refresh into the widgets, batched (call on the loop when there is one)."""
        state = content.state
        changed = [self.title, self.counts, self.eta, self.stall_flag, self.failures, self.updated, self.status]
        if content.throughput_png is not None:
            changed += [self.throughput_image, self.timeline_image]
        with contextlib.ExitStack() as stack:
            for w in changed:
                stack.enter_context(w.hold_sync())
            self.title.value = self._title_html(state.project_state)
            self.counts.value = counts_html(state)
            self.eta.value = eta_html(state)
            self.stall_flag.value = stalled_html(state)
            self.failures.value = failures_html(state)
            if content.throughput_png is not None:
                self.throughput_image.value = content.throughput_png
                self.timeline_image.value = content.timeline_png
            self.updated.value = self._updated_html(state)
            self._status_from(state)

    def _status_from(self, state: LiveState) -> None:
        if state.unreachable_since is not None:
            self.show_error(f"server unreachable since {_clock_text(state.unreachable_since)}, retrying every "
                            f"{self.live.interval:g} s")
        elif state.error:
            self.show_error(state.error)
        elif state.finished:
            self.show_info(f"project {state.project_state}: final state shown, automatic refresh off")
        elif self.error.startswith("server unreachable"):
            self.show_info(f"server reachable again at {_clock_text(state.updated or time.time())}")
        elif self.error:
            self.clear_status()

    def _title_html(self, project_state: str | None) -> str:
        badge = state_badge(project_state) if project_state else ""
        return f"<div class='dd-title'>Project {self.live.project_id} {badge}</div>"

    def _updated_html(self, state: LiveState) -> str:
        if state.updated is None:
            return "<span class='dd-note'>not refreshed yet</span>"
        where = (f"cursor {state.cursor:,}" if state.cursor is not None
                 else f"one snapshot every {self.live.interval:g} s")
        text = (f"updated {_clock_text(state.updated)} · {state.source} ({where}; {state.new_records:,} new records, "
                f"{state.records_fetched:,} in all)")
        return f"<span class='dd-note'>{html.escape(text)}</span>"

    def _show_running(self, running: bool) -> None:
        self.start_button.description = "Stop" if running else "Start"
        self.start_button.icon = "stop" if running else "play"

    def _report(self, exc: Exception) -> bool:
        """Show an error of an automatic refresh; True when refreshing cannot go on (project gone)."""
        log.debug("automatic refresh of project %d failed", self.live.project_id, exc_info=True)
        self.show_error(error_message(exc))
        return isinstance(exc, LookupError)

    def _finished(self, generation: int) -> None:
        if generation == self._generation:
            self._show_running(False)

    async def _run_async(self, generation: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    content = await loop.run_in_executor(None, self._prepare)
                except Exception as exc:
                    if self._report(exc):
                        break
                else:
                    self._apply(content)
                    if content.state.finished:
                        break
                await asyncio.sleep(self.live.interval)
        finally:
            self._finished(generation)

    def _run_thread(self, stop: threading.Event, generation: int) -> None:
        try:
            while not stop.is_set():
                try:
                    content = self._prepare()
                except Exception as exc:
                    if self._report(exc):
                        break
                else:
                    if stop.is_set():
                        break
                    self._apply(content)
                    if content.state.finished:
                        break
                stop.wait(self.live.interval)
        finally:
            stop.set()
            self._finished(generation)
