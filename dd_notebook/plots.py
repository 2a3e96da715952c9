"""Matplotlib plots of Data Dispatcher frames.

Every function takes ``ax=None`` and returns the :class:`~matplotlib.axes.Axes`
it drew on; with ``ax=None`` it creates a new figure (the only use of
``pyplot``, so that notebooks display it). Nothing here calls ``plt.show()``.
Axis labels carry units; times are UTC.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from .analysis import durations as _durations
from .analysis import resample_timeline, state_timeline, throughput
from .frames import HANDLE_STATES, proximity_matrix
from .palette import AVAILABILITY_COLORS, OUTCOME_COLORS, STATE_COLORS

TIME_LABEL = "time (UTC)"


__all__ = [
    "plot_durations",
    "plot_failure_rates",
    "plot_proximity",
    "plot_rse_availability",
    "plot_state_timeline",
    "plot_throughput",
]


def _axes(ax: Axes | None, size: tuple[float, float] = (8.0, 4.0)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=size, layout="constrained")
    return new_ax


def _naive_utc(index: pd.DatetimeIndex) -> np.ndarray:
    """Datetimes matplotlib can place (UTC wall time, no tz object)."""
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.to_numpy()


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(TIME_LABEL)


def _duration_text(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what}", transform=ax.transAxes, ha="center", va="center", color="0.4")


def plot_throughput(
    data: pd.DataFrame,
    freq: str | pd.Timedelta = "1min",
    *,
    window: int = 5,
    ax: Axes | None = None,
) -> Axes:
    """Stacked steps of files done and failed per minute in each bin, with rolling rates as lines.

    Parameters
    ----------
    data
        An events frame, or the result of :func:`dd_notebook.analysis.throughput`.
    freq, window
        Bin width and rolling window (used when ``data`` is an events frame).
    """
    ax = _axes(ax)
    computed = "event" in data.columns
    table = throughput(data, freq, window=window) if computed else data
    rolling = f"rolling mean ({window} bins)" if computed else "rolling mean"
    ax.set_ylabel("files / min")
    _time_axis(ax)
    if table.empty:
        _no_data(ax, "events")
        return ax
    step_s = (table.index[1] - table.index[0]).total_seconds() if len(table) > 1 else pd.Timedelta(freq).total_seconds()
    per_min = 60.0 / step_s
    starts = _naive_utc(table.index)
    width = pd.Timedelta(seconds=step_s).to_numpy()
    edges = np.append(starts, starts[-1] + width)
    done = table["done"].to_numpy() * per_min
    failed = (table["failed"] + table["worker_timeout"]).to_numpy() * per_min
    ax.stairs(done, edges, fill=True, color=STATE_COLORS["done"], alpha=0.45, label="done")
    ax.stairs(done + failed, edges, baseline=done, fill=True, color=STATE_COLORS["failed"], alpha=0.45,
              label="failed + timed out")
    centre = starts + width // 2
    ax.plot(centre, table["done_per_s"].to_numpy() * 60.0, color=STATE_COLORS["done"], lw=2,
            label=f"done, {rolling}")
    ax.plot(centre, table["failed_per_s"].to_numpy() * 60.0, color=STATE_COLORS["failed"], lw=1.5,
            label=f"failed, {rolling}")
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title(f"Throughput ({_duration_text(step_s)} bins)")
    return ax


def plot_failure_rates(rates: pd.DataFrame, *, ax: Axes | None = None, max_groups: int = 30) -> Axes:
    """Horizontal bars of failure rate (%) per group, annotated with the number of releases.

    Parameters
    ----------
    rates
        The result of :func:`dd_notebook.analysis.failure_rates`.
    max_groups
        Show at most this many groups (those with the most releases).
    """
    group = rates.index.name or "group"
    ax = _axes(ax, (8.0, max(2.5, 0.3 * min(len(rates), max_groups) + 1.0)))
    ax.set_xlabel("failure rate (%)")
    ax.set_ylabel(group)
    if rates.empty:
        _no_data(ax, "releases")
        return ax
    shown = rates.nlargest(max_groups, "releases").sort_index() if len(rates) > max_groups else rates
    labels = [str(v) for v in shown.index]
    percent = shown["failure_rate"].to_numpy(dtype=float) * 100.0
    bars = ax.barh(labels, percent, color=STATE_COLORS["failed"], alpha=0.75)
    ax.bar_label(bars, labels=[f"n={n}" for n in shown["releases"]], padding=3, fontsize="small")
    ax.set_xlim(0, 115)
    ax.invert_yaxis()
    ax.set_title(f"Failure rate by {group}")
    return ax


def plot_state_timeline(data: pd.DataFrame, *, ax: Axes | None = None, max_points: int = 2000) -> Axes:
    """Stacked area of handles per state over time.

    Parameters
    ----------
    data
        An events frame, or the result of :func:`dd_notebook.analysis.state_timeline`.
    max_points
        Longer timelines are resampled to at most about this many steps (counts
        at the end of each step) before drawing.
    """
    ax = _axes(ax)
    timeline = state_timeline(data) if "event" in data.columns else data
    ax.set_ylabel("handles (count)")
    _time_axis(ax)
    if timeline.empty:
        _no_data(ax, "events")
        return ax
    if len(timeline) > max_points:
        span = timeline.index[-1] - timeline.index[0]
        step = max(span / max_points, pd.Timedelta(milliseconds=1)).ceil("ms")
        timeline = resample_timeline(timeline, step)
    states = [s for s in HANDLE_STATES if s in timeline.columns]
    ax.stackplot(
        _naive_utc(timeline.index),
        *[timeline[s].to_numpy() for s in states],
        labels=states,
        colors=[STATE_COLORS[s] for s in states],
        step="post",
        alpha=0.85,
    )
    ax.legend(loc="upper left", fontsize="small")
    ax.set_ylim(bottom=0)
    ax.set_title("Handle states over time")
    return ax


def plot_durations(
    data: pd.DataFrame,
    *,
    ax: Axes | None = None,
    bins: int | Sequence[float] = 50,
    log: bool = False,
) -> Axes:
    """Histogram of reserve-to-release durations, stacked by how the reservation ended.

    Parameters
    ----------
    data
        An events frame, or the result of :func:`dd_notebook.analysis.durations`.
    bins
        Number of bins or bin edges (seconds).
    log
        Logarithmic duration axis (bins spaced evenly in log).
    """
    ax = _axes(ax)
    table = _durations(data) if "event" in data.columns else data
    ax.set_xlabel("reserve → release duration (s)")
    ax.set_ylabel("reservations (count)")
    ended = table.dropna(subset=["duration_s"])
    if ended.empty:
        _no_data(ax, "finished reservations")
        return ax
    outcomes = [o for o in OUTCOME_COLORS if (ended["outcome"] == o).any()]
    values = [ended.loc[ended["outcome"] == o, "duration_s"].to_numpy() for o in outcomes]
    edges = bins
    if log:
        positive = ended["duration_s"][ended["duration_s"] > 0]
        low, high = (positive.min(), positive.max()) if len(positive) else (1e-3, 1.0)
        edges = np.geomspace(low, high * 1.0001, (bins if isinstance(bins, int) else len(bins)) + 1)
        ax.set_xscale("log")
    ax.hist(values, bins=edges, stacked=True, label=outcomes, color=[OUTCOME_COLORS[o] for o in outcomes])
    ax.legend(fontsize="small")
    ax.set_title("Reservation durations")
    return ax


def _availability_counts(replicas: pd.DataFrame, rses: pd.DataFrame | None) -> pd.DataFrame:
    available = replicas["available"].fillna(False).to_numpy(dtype=bool)
    rse_up = replicas["rse_available"].fillna(False).to_numpy(dtype=bool)
    status = np.where(~rse_up, "RSE down", np.where(available, "usable", "not staged"))
    names = list(dict.fromkeys(replicas["rse"].astype(object)))
    if rses is not None:
        disabled = set(rses.loc[rses["is_enabled"].fillna(True).eq(False), "name"])
        status = np.where(replicas["rse"].isin(disabled).to_numpy(dtype=bool), "RSE disabled", status)
        names += [n for n in rses["name"] if n not in names]
    counts = pd.crosstab(replicas["rse"].to_numpy(dtype=object), status)
    return counts.reindex(index=names, columns=list(AVAILABILITY_COLORS), fill_value=0)


def plot_rse_availability(
    replicas: pd.DataFrame,
    rses: pd.DataFrame | None = None,
    *,
    ax: Axes | None = None,
) -> Axes:
    """Replicas per RSE, stacked by whether a worker can use them.

    ``usable`` = replica available and RSE up; ``not staged`` = RSE up but the
    replica is not available (tape); ``RSE down`` = the RSE's ``is_available``
    is false; ``RSE disabled`` (needs ``rses``) = the RSE is ignored by the
    server (protocol §7.1).

    Parameters
    ----------
    replicas
        A replicas frame (:func:`dd_notebook.frames.replicas_frame`).
    rses
        An RSE frame; adds RSEs holding none of the replicas and marks disabled ones.
    """
    counts = _availability_counts(replicas, rses)
    ax = _axes(ax, (8.0, max(2.5, 0.35 * len(counts) + 1.0)))
    ax.set_xlabel("replicas (count)")
    ax.set_ylabel("RSE")
    if counts.empty:
        _no_data(ax, "replicas")
        return ax
    left = np.zeros(len(counts))
    labels = [str(n) for n in counts.index]
    for status, color in AVAILABILITY_COLORS.items():
        values = counts[status].to_numpy(dtype=float)
        ax.barh(labels, values, left=left, color=color, label=status)
        left += values
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.invert_yaxis()
    ax.legend(fontsize="small")
    ax.set_title("Replica availability by RSE")
    return ax


def plot_proximity(
    proximity: pd.DataFrame,
    *,
    ax: Axes | None = None,
    rses: Sequence[str] | None = None,
    effective: bool = False,
    annotate: bool = True,
) -> Axes:
    """Heatmap of the proximity map (CPU site x RSE); smaller values mean closer.

    Parameters
    ----------
    proximity
        A long frame from :func:`dd_notebook.frames.proximity_frame`, or a matrix
        from :func:`dd_notebook.frames.proximity_matrix`.
    rses, effective
        Passed to :func:`~dd_notebook.frames.proximity_matrix` for a long frame.
    annotate
        Write each value in its cell.
    """
    matrix = proximity_matrix(proximity, rses=rses, effective=effective) if "proximity" in proximity.columns else proximity
    ax = _axes(ax, (max(5.0, 0.9 * matrix.shape[1] + 3.0), max(3.0, 0.45 * matrix.shape[0] + 2.0)))
    ax.set_xlabel("RSE")
    ax.set_ylabel("CPU site")
    if matrix.empty:
        _no_data(ax, "proximity rows")
        return ax
    values = matrix.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis_r", aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), labels=[str(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(matrix.shape[0]), labels=[str(i) for i in matrix.index])
    if annotate:
        for (row, column), value in np.ndenumerate(values):
            if not np.isnan(value):
                red, green, blue, _ = image.cmap(image.norm(value))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                ax.text(column, row, f"{value:g}", ha="center", va="center", color="w" if dark else "k",
                        fontsize="small")
    ax.figure.colorbar(image, ax=ax, label="proximity (lower = closer)")
    ax.set_title("Proximity map")
    return ax

