"""What the cells of a report call: each section returns a list of static displayable objects.

A report cell reads::

    with sections.guard("Throughput"):
        display(*sections.throughput(p0))

Figures are :class:`matplotlib.figure.Figure` objects (no pyplot state), the
rest is escaped HTML (:class:`IPython.display.HTML`). A section that raises
shows a red-bordered error box naming it instead, and the next cell runs on.
"""

from __future__ import annotations

import json
import logging
import platform
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib
import pandas as pd
from IPython.display import HTML
from matplotlib.figure import Figure

from .. import __version__, plots
from ..analysis import durations, worker_timeout_counts
from ..analysis import failure_rates as _failure_rates
from ..analysis import permanent_failures as _permanent_failures
from ..palette import ERROR_COLOR
from ..rendering import duration_text, error_message, html_table, state_badge
from . import render
from .data import ProjectData, Report
from .verdict import verdict_html

log = logging.getLogger(__name__)

#: At most this many DIDs are spelled out in a restart call; more use the "all failed" form.
MAX_LISTED_DIDS = 20
#: Rows of the file tables.
TABLE_ROWS = 50
FAILURE_GROUPINGS = (("rse", "RSE"), ("worker", "worker"), ("attempt", "attempt"))
_NICE_STEPS = ("1s", "2s", "5s", "10s", "15s", "30s", "1min", "2min", "5min", "10min", "15min", "30min", "1h", "2h",
               "3h", "6h", "12h", "1D", "2D", "7D")
DPI = 96


def _display(*objects: Any) -> None:
    from IPython.display import display

    display(*objects)


@contextmanager
def guard(section: str, *, show: Callable[..., None] | None = None) -> Iterator[None]:
    """Run a section; if it raises, show an error box naming ``section`` and the message (no traceback).

    Parameters
    ----------
    section
        The section's name, as the reader sees it.
    show
        How to display the error box (default :func:`IPython.display.display`).
    """
    try:
        yield
    except Exception as exc:
        log.debug("report section %r failed", section, exc_info=True)
        (show or _display)(HTML(render.error_box(section, error_message(exc))))


def _html(inner: str, css_class: str = "") -> HTML:
    return HTML(render.block(inner, css_class))


def _title(text: str) -> HTML:
    return _html(render.heading(text, 3, "dd-section"))


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _times(series: pd.Series) -> list[str | None]:
    return [render.utc_text(v) for v in series]


# -- header ----------------------------------------------------------------------------------------


def header(report: Report) -> list[Any]:
    """The report's title, run time and projects, with the stylesheet."""
    ids = ", ".join(str(pid) for pid in report.project_ids)
    plural = "s" if len(report.project_ids) > 1 else ""
    sub = f"Data Dispatcher post-mortem · project{plural} {ids} · generated {render.utc_text(report.run_at)}"
    return [HTML(render.stylesheet() + render.block(render.heading(report.title, 1, "dd-title")
                                                    + f"<div class='dd-sub'>{render.esc(sub)}</div>"))]


def project_heading(data: ProjectData) -> list[Any]:
    """``Project 42`` with its state and owner (just the id when the project cannot be read)."""
    try:
        project = data.project
    except Exception:
        project = {}
    state = project.get("state")
    owner = project.get("owner")
    badge = state_badge(str(state)) if state else ""
    text = f"<h2 class='dd-project'>Project {render.esc(data.project_id)} {badge}</h2>"
    return [_html(text + (f"<div class='dd-sub'>owner {render.esc(owner)}</div>" if owner else ""))]


def verdict(data: ProjectData, window: str = "15min") -> list[Any]:
    """The verdict: state, done / failed / total, wall time, throughput and how good the ETA would have been."""
    return [_title("Verdict"), HTML(verdict_html(data, window))]


# -- plots -----------------------------------------------------------------------------------------


def bin_width(events: pd.DataFrame, bins: int = 60) -> str:
    """The smallest round bin width that cuts the events' time span into at most ``bins`` bins."""
    if events.empty:
        return "1min"
    span = (events["t"].max() - events["t"].min()).total_seconds()
    for step in _NICE_STEPS:
        if span / pd.Timedelta(step).total_seconds() <= bins:
            return step
    return _NICE_STEPS[-1]


def state_timeline(data: ProjectData) -> list[Any]:
    """Stacked handle states over time."""
    fig = _figure(10, 3.6)
    plots.plot_state_timeline(data.events, ax=fig.add_subplot())
    return [_title("Handle states over time"), fig]


def throughput(data: ProjectData) -> list[Any]:
    """Files done and failed per time bin, with the rolling rate."""
    events = data.events
    freq = bin_width(events)
    fig = _figure(10, 3.6)
    plots.plot_throughput(events, freq, ax=fig.add_subplot())
    finished = int(events["event"].isin(["done", "failed"]).sum())
    return [_title("Throughput"), fig,
            _html(render.note(f"{finished:,} releases (done or failed) in {freq} bins; "
                              "failures include worker timeouts."))]


def _rates(data: ProjectData, by: str, events: pd.DataFrame) -> pd.DataFrame:
    replicas = data.replicas if by == "rse" else None
    return _failure_rates(events, by, handles=data.handles, replicas=replicas)


def failure_rates(data: ProjectData) -> list[Any]:
    """Failure rate by RSE (of each file's preferred replica), by worker and by attempt, worst groups listed."""
    events = data.events  # every grouping needs them: without events the whole section fails
    computed: dict[str, pd.DataFrame | Exception] = {}
    for by, _ in FAILURE_GROUPINGS:
        try:
            computed[by] = _rates(data, by, events)
        except Exception as exc:
            log.debug("failure rates by %s failed", by, exc_info=True)
            computed[by] = exc
    groups = max((len(r) for r in computed.values() if isinstance(r, pd.DataFrame)), default=1)
    fig = _figure(12, min(9.0, max(2.8, 0.28 * min(groups, 15) + 1.6)))
    axes = fig.subplots(1, len(FAILURE_GROUPINGS))
    worst = []
    for ax, (by, label) in zip(axes, FAILURE_GROUPINGS):
        rates = computed[by]
        if isinstance(rates, Exception):
            ax.set_axis_off()
            ax.text(0.5, 0.5, f"by {label}: not available\n{error_message(rates)}", transform=ax.transAxes,
                    ha="center", va="center", color=ERROR_COLOR, wrap=True, fontsize="small")
            continue
        plots.plot_failure_rates(rates, ax=ax, max_groups=15)
        ax.set_title(f"by {label}")
        worst.append(_worst_groups(rates, label))
    frames = [w for w in worst if len(w)]
    table = (html_table(pd.concat(frames), max_rows=TABLE_ROWS) if frames
             else render.note("No failed release and no worker timeout."))
    return [_title("Failure rates"), fig,
            _html("<div class='dd-sub'>Worst groups (highest failure rate first)</div>" + table)]


def _worst_groups(rates: pd.DataFrame, label: str, n: int = 5) -> pd.DataFrame:
    bad = rates[rates["failure_rate"] > 0].sort_values(["failure_rate", "releases"], ascending=False).head(n)
    table = pd.DataFrame({
        "by": label,
        "group": [str(g) for g in bad.index],
        "releases": bad["releases"].to_numpy(),
        "failed": bad["failed"].to_numpy(),
        "worker timeouts": bad["worker_timeout"].to_numpy(),
        "failure rate": [f"{r:.0%}" for r in bad["failure_rate"]],
    })
    if "ci_low" in bad and "ci_high" in bad:
        table["95 % interval"] = [f"{lo:.0%} – {hi:.0%}" for lo, hi in zip(bad["ci_low"], bad["ci_high"])]
    return table


# -- tables ----------------------------------------------------------------------------------------


def slowest_files(data: ProjectData, n: int = 10) -> list[Any]:
    """The files whose longest reservation took longest."""
    table = durations(data.events).dropna(subset=["duration_s"])
    slow = table.sort_values("duration_s", ascending=False, kind="stable").drop_duplicates("did").head(n)
    if slow.empty:
        return [_title("Slowest files"), _html(render.note("No finished reservation."))]
    rows = pd.DataFrame({
        "file": slow["did"].astype(str).to_numpy(),
        "duration": [duration_text(s) for s in slow["duration_s"]],
        "outcome": slow["outcome"].astype(str).to_numpy(),
        "worker": slow["worker"].astype(object).to_numpy(),
        "attempt": slow["attempt"].to_numpy(),
        "reserved at": _times(slow["reserved_at"]),
    })
    median = table.loc[table["outcome"] == "done", "duration_s"].median()
    text = f"Median successful reservation: {duration_text(median)}." if not pd.isna(median) else ""
    return [_title("Slowest files"), _html(html_table(rows, max_rows=n) + render.note(text))]


def failed_dids(data: ProjectData) -> list[str]:
    """DIDs of the files that failed for good (from the server's current handles)."""
    handles = data.handles
    return handles.loc[handles["state"] == "failed", "did"].astype(str).tolist()


def permanent_failures(data: ProjectData) -> list[Any]:
    """Files that failed for good, with when and where they failed last (when the events tell)."""
    handles = _permanent_failures(data.handles)
    title = _title(f"Permanently failed files ({len(handles):,})")
    if handles.empty:
        return [title, _html(render.note("No file failed for good."))]
    rows = pd.DataFrame({"file": handles["did"].astype(str).to_numpy(),
                         "attempts": handles["attempts"].to_numpy()})
    events = data.events_or_none()
    if events is not None and len(events):
        last = _permanent_failures(events)
        when = pd.DataFrame({"file": last["did"].astype(str).to_numpy(), "failed at": _times(last["t"]),
                             "last worker": last["worker"].astype(object).to_numpy()})
        rows = rows.merge(when, on="file", how="left")
    return [title, _html(html_table(rows, max_rows=TABLE_ROWS))]


def worker_timeouts(data: ProjectData) -> list[Any]:
    """Worker timeouts: how many per worker, and each one with its file and time."""
    events = data.events
    hits = events[events["event"] == "worker_timeout"]
    title = _title(f"Worker timeouts ({len(hits):,})")
    if hits.empty:
        return [title, _html(render.note("No reservation timed out."))]
    per_worker = worker_timeout_counts(events)
    counts = pd.DataFrame({"worker": [str(w) for w in per_worker.index], "timeouts": per_worker.to_numpy()})
    listing = pd.DataFrame({"time": _times(hits["t"]), "file": hits["did"].astype(str).to_numpy(),
                            "worker": hits["worker"].astype(object).to_numpy(),
                            "attempt": hits["attempt"].to_numpy()})
    return [title, _html("<div class='dd-sub'>Per worker</div>" + html_table(counts, max_rows=TABLE_ROWS)
                         + "<div class='dd-sub'>Each timeout</div>" + html_table(listing, max_rows=TABLE_ROWS))]


def restart_commands(project_id: int, dids: list[str], url: str | None = None) -> tuple[str, str]:
    """The Python call and the ``ddisp`` command that restart the given failed files of a project.

    Up to :data:`MAX_LISTED_DIDS` DIDs are listed; more use the form that
    restarts every failed handle (the same files while nothing else failed).
    """
    server = repr(url) if url else ""
    intro = (f"from dd_notebook import DataDispatcherClient\n"
             f"client = DataDispatcherClient({server})  # then log in as the project owner or an admin\n")
    if len(dids) <= MAX_LISTED_DIDS:
        python = intro + f"client.restart_handles({int(project_id)}, handles={dids!r})"
        shell = f"ddisp project restart {int(project_id)} " + " ".join(shlex.quote(d) for d in dids)
    else:
        python = intro + f"client.restart_handles({int(project_id)}, failed=True)"
        shell = f"ddisp project restart -f {int(project_id)}"
    return python, shell


def restart_calls(data: ProjectData, url: str | None = None) -> list[Any]:
    """The exact calls that would put the permanently failed files back in the queue."""
    dids = failed_dids(data)
    title = _title("Restarting what failed")
    if not dids:
        return [title, _html(render.note("Nothing failed for good: nothing to restart."))]
    python, shell = restart_commands(data.project_id, dids, url)
    what = (f"the {len(dids):,} failed files listed above" if len(dids) <= MAX_LISTED_DIDS
            else f"every failed handle ({len(dids):,} files)")
    return [title, _html(f"<div class='dd-sub'>Python (restarts {render.esc(what)})</div>{render.code(python)}"
                         f"<div class='dd-sub'>Command line</div>{render.code(shell)}")]


# -- provenance ------------------------------------------------------------------------------------


def _or_reason(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as exc:
        return f"unavailable: {error_message(exc)}"


def provenance(report: Report, data: ProjectData) -> list[Any]:
    """Where the numbers come from: server, query, events source, toolkit version, parameters, run time."""
    server = _or_reason(lambda: report.client.ServerURL)
    query = _or_reason(lambda: data.project.get("query") or "none (created from a list of files)")
    created = _or_reason(lambda: render.utc_text(data.project.get("created_timestamp")))
    rows = [
        ("server", server), ("GUI server", report.gui_url), ("project", data.project_id), ("query", query),
        ("created", created), ("events", data.events_source),
        ("toolkit", f"dd-notebook {__version__} (Python {platform.python_version()}, pandas {pd.__version__}, "
                    f"matplotlib {matplotlib.__version__})"),
        ("parameters", json.dumps(report.parameters, default=str, sort_keys=True)),
        ("report run at", render.utc_text(report.run_at)),
    ]
    return [_html("<div class='dd-sub' style='font-weight:600'>Provenance</div>"
                  + render.key_values(rows, "dd-footer-table"), "dd-footer")]
