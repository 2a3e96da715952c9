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

from .analysis import NO_REPLICA, resample_timeline, state_timeline, throughput
from .analysis import durations as _durations
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


def _covered_edges(table: pd.DataFrame, step_ns: int, span: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Left and right ends (int64 ns) of the part of each bin the log covers.

    Interior bins are covered in full; the first starts at the first event and
    the last ends at the last one. ``span`` (first, last event) settles a
    single bin; without it a single bin is drawn from its start.
    """
    lefts = table.index.asi8.copy()
    rights = lefts + step_ns
    covered = np.round(table["covered_s"].to_numpy(dtype=float) * 1e9).astype(np.int64)
    if span is not None:
        lefts[0], rights[-1] = max(lefts[0], span[0]), min(rights[-1], span[1])
    elif len(table) > 1:
        lefts[0], rights[-1] = rights[0] - covered[0], lefts[-1] + covered[-1]
    else:
        rights[0] = lefts[0] + covered[0]
    return lefts, rights


#: Edge bins covering less than this share of their width are drawn merged with their neighbour.
SLIVER = 0.25


def _step_rates(table: pd.DataFrame, lefts: np.ndarray, rights: np.ndarray, step_s: float) -> dict[str, np.ndarray]:
    """Step edges and rates (files per second) of done and failed files, one step per bin.

    A first or last bin covering less than :data:`SLIVER` of its width (a
    second or two of log) would show a rate made of one or two files; it is
    merged with its neighbour (counts and covered seconds added up).
    """
    covered = table["covered_s"].to_numpy(dtype=float).copy()
    done = table["done"].to_numpy(dtype=float).copy()
    failed = (table["failed"] + table["worker_timeout"]).to_numpy(dtype=float).copy()
    keep = np.ones(len(table), dtype=bool)
    for edge, neighbour in ((-1, -2), (0, 1)):
        if keep.sum() > 1 and covered[edge] < SLIVER * step_s:
            for values in (covered, done, failed):
                values[neighbour] += values[edge]
            keep[edge] = False
    starts, ends = lefts.copy(), rights.copy()
    if not keep[0]:
        starts[1] = starts[0]
    if not keep[-1]:
        ends[-2] = ends[-1]
    starts, ends = starts[keep], ends[keep]
    per_s = np.divide(1.0, covered[keep], out=np.full(int(keep.sum()), np.nan), where=covered[keep] > 0)
    return {"edges": _as_datetimes(np.append(starts[:1], ends)), "done": done[keep] * per_s,
            "failed": failed[keep] * per_s}


def _rate_unit(peak_per_s: float) -> tuple[str, float]:
    """The axis unit that keeps a peak rate readable (``files / s``, ``/ min`` or ``/ h``) and its factor."""
    if peak_per_s >= 1.0:
        return "files / s", 1.0
    if peak_per_s * 60.0 >= 1.0 or not peak_per_s > 0:
        return "files / min", 60.0
    return "files / h", 3600.0


def _as_datetimes(ns: np.ndarray) -> np.ndarray:
    return np.asarray(ns, dtype=np.int64).view("M8[ns]")


def plot_throughput(
    data: pd.DataFrame,
    freq: str | pd.Timedelta = "1min",
    *,
    window: int = 5,
    until: pd.Timestamp | str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Stacked steps of the rates of files done and failed in each bin, with the centred rolling rates as lines.

    The rate unit (files per second, minute or hour) is the one that keeps the
    peak readable: a campaign of hundreds of files per second is not drawn in
    tens of thousands per minute, nor a slow one in hundredths.

    Every bin's height is its count divided by the time it covers (see
    :func:`dd_notebook.analysis.throughput`), and the steps span only the
    covered time: the first starts at the first event, the last ends at the
    last event (or ``until``), so partly covered edge bins show their true rate.

    Parameters
    ----------
    data
        An events frame, or the result of :func:`dd_notebook.analysis.throughput`.
    freq, window, until
        Bin width, rolling window (bins, centred) and end of the observed span,
        used when ``data`` is an events frame.
    """
    ax = _axes(ax)
    computed = "event" in data.columns
    table = throughput(data, freq, window=window, until=until) if computed else data
    rolling = f"rolling rate ({window} bins, centred)" if computed else "rolling rate"
    _time_axis(ax)
    if table.empty:
        ax.set_ylabel("files / min")
        _no_data(ax, "events")
        return ax
    step_s = (table.index[1] - table.index[0]).total_seconds() if len(table) > 1 else pd.Timedelta(freq).total_seconds()
    span = None
    if computed:
        times = pd.DatetimeIndex(data["t"]).dropna()
        end = max(times.max(), pd.Timestamp(until)) if until is not None else times.max()
        span = (times.min().as_unit("ns").value, pd.Timestamp(end).as_unit("ns").value)
    lefts, rights = _covered_edges(table, int(round(step_s * 1e9)), span)
    steps = _step_rates(table, lefts, rights, step_s)
    rolling_done, rolling_failed = table["done_per_s"].to_numpy(), table["failed_per_s"].to_numpy()
    unit, scale = _rate_unit(float(np.nanmax(np.concatenate([steps["done"] + steps["failed"], [0.0]]))))
    ax.set_ylabel(unit)
    done, failed = steps["done"] * scale, steps["failed"] * scale
    ax.stairs(done, steps["edges"], fill=True, color=STATE_COLORS["done"], alpha=0.45, label="done")
    ax.stairs(done + failed, steps["edges"], baseline=done, fill=True, color=STATE_COLORS["failed"], alpha=0.45,
              label="failed + timed out")
    centre = _as_datetimes(lefts + (rights - lefts) // 2)
    ax.plot(centre, rolling_done * scale, color=STATE_COLORS["done"], lw=2, label=f"done, {rolling}")
    ax.plot(centre, rolling_failed * scale, color=STATE_COLORS["failed"], lw=1.5, label=f"failed, {rolling}")
    top = np.nanmax(np.concatenate([done + failed, rolling_done * scale, [0.0]]))
    ax.set_ylim(0, top * 1.35 if top > 0 else 1.0)  # headroom for the legend
    ax.legend(loc="upper center", ncols=2, fontsize="small")
    ax.set_title(f"Throughput ({_duration_text(step_s)} bins, rates over the time each bin covers)")
    return ax


def plot_failure_rates(rates: pd.DataFrame, *, ax: Axes | None = None, max_groups: int = 30) -> Axes:
    """Horizontal bars of failure rate (%) per group with their confidence interval, and the number of releases.

    The error bars are the ``ci_low`` / ``ci_high`` interval of
    :func:`dd_notebook.analysis.failure_rates` (Wilson score); the rate axis
    ends a little beyond the highest upper bound (at most 100 %), and the
    ``n=`` release counts stand in a column right of the axes.

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
    has_ci = {"ci_low", "ci_high"} <= set(shown.columns)
    high = shown["ci_high"].to_numpy(dtype=float) * 100.0 if has_ci else percent
    bars = ax.barh(labels, percent, color=STATE_COLORS["failed"], alpha=0.75)
    if has_ci:
        low = shown["ci_low"].to_numpy(dtype=float) * 100.0
        ax.errorbar(percent, labels, xerr=np.clip(np.vstack([percent - low, high - percent]), 0.0, None), fmt="none",
                    ecolor="0.2", elinewidth=1.0, capsize=3)
    for bar, n in zip(bars, shown["releases"]):
        ax.text(1.01, bar.get_y() + bar.get_height() / 2, f"n={n:,}", transform=ax.get_yaxis_transform(),
                ha="left", va="center", fontsize="small", clip_on=False)
    ax.set_xlim(0, min(100.0, max(float(np.nanmax(high)) * 1.15, 1.0)))
    ax.invert_yaxis()
    confidence = rates.attrs.get("confidence")
    interval = f"{confidence:.0%} Wilson interval" if confidence else "Wilson interval"
    note = "; no replicas" if group == "rse" and labels == [NO_REPLICA] else ""
    ax.set_title(f"Failure rate by {group} (error bars: {interval}{note})")
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
        edges = np.geomspace(low, high * 1.0001, (bins if isinstance(bins, int) else len(bins)) + 1).tolist()
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
    is_long = "proximity" in proximity.columns
    matrix = proximity_matrix(proximity, rses=rses, effective=effective) if is_long else proximity
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

