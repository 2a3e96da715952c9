"""Plain-text and HTML renderings of :class:`Eta` and :class:`ProjectSummary` (escaped, palette colours)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..frames import HANDLE_STATES
from ..palette import ERROR_COLOR, PROJECT_STATE_COLORS, STATE_COLORS
from ..rendering import duration_text, rate_text

if TYPE_CHECKING:
    from .completion import Eta
    from .summary import ProjectSummary

NOTE_COLOR = "#666"
# inline, so that the notebook front-ends' own table rules (right-aligned, striped cells) do not apply
_ROW = "background:transparent;border:none"
_CELL = "text-align:left;padding:1px 12px 1px 0;border:none;background:transparent;vertical-align:top"


def files_text(n: int) -> str:
    """``1 file``, ``62 files``."""
    return f"{n:,} file" if abs(n) == 1 else f"{n:,} files"


def time_text(stamp: pd.Timestamp | None) -> str:
    """``2023-11-14 22:13:20 UTC``, or ``?``."""
    if stamp is None or pd.isna(stamp):
        return "?"
    stamp = pd.Timestamp(stamp)
    stamp = stamp.tz_convert("UTC") if stamp.tz is not None else stamp
    return f"{stamp:%Y-%m-%d %H:%M:%S} UTC"


def eta_headline(estimate: Eta) -> str:
    """What the estimate says, without its basis: ``240 files left at 1 files/s, done in 4.0 min (at ...)``."""
    if estimate.remaining <= 0:
        return f"finished (as of {time_text(estimate.as_of)}); {rate_text(estimate.rate_per_s)} over its active span"
    head = f"{files_text(estimate.remaining)} left at {rate_text(estimate.rate_per_s)}"
    if estimate.seconds_left is None:
        return f"{head}: no ETA"
    return f"{head}, done in {duration_text(estimate.seconds_left)} (at {time_text(estimate.eta)})"


def eta_text(estimate: Eta) -> str:
    """One line: the headline and what it is based on."""
    return f"<Eta: {eta_headline(estimate)}; based on {estimate.basis or 'nothing'}>"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def eta_html(estimate: Eta) -> str:
    """The ETA line with its basis underneath, escaped."""
    colour = ERROR_COLOR if estimate.remaining > 0 and estimate.seconds_left is None else "inherit"
    return (f"<div class='dd-eta'><div style='color:{colour}'><b>ETA</b> {_esc(eta_headline(estimate))}</div>"
            f"<div style='color:{NOTE_COLOR};font-size:90%'>based on {_esc(estimate.basis or 'nothing')}</div></div>")


def state_bar_html(counts: dict[str, int], *, height: int = 12) -> str:
    """A bar split by handle state in the palette's colours, with counts on hover and a legend."""
    total = sum(counts.values())
    segments = "".join(
        f"<div title='{_esc(s)}: {n:,}' style='width:{100.0 * n / total:.3f}%;background:{STATE_COLORS[s]}'></div>"
        for s, n in counts.items() if total and n
    )
    legend = " ".join(
        f"<span style='white-space:nowrap'><span style='display:inline-block;width:9px;height:9px;"
        f"background:{STATE_COLORS[s]};border-radius:2px'></span> {_esc(s)} {counts.get(s, 0):,}</span>"
        for s in HANDLE_STATES if s in counts
    )
    return (f"<div style='display:flex;height:{height}px;border-radius:3px;overflow:hidden;background:#eee;"
            f"max-width:480px'>{segments}</div><div style='font-size:90%;margin:2px 0 6px 0'>{legend}</div>")


def _percent(value: float | None) -> str:
    return "?" if value is None else f"{100.0 * value:.1f}%"


def summary_rows(summary: ProjectSummary) -> list[tuple[str, str]]:
    """(label, text) pairs of the summary's numbers, the ones that are known."""
    rows: list[tuple[str, Any]] = [
        ("files", None if summary.n_files is None else f"{summary.n_files:,} ({_percent(summary.fraction_done)} done, "
                                                       f"{_percent(summary.fraction_finished)} finished)"),
        ("permanently failed", summary.permanently_failed),
        ("reservations", summary.reservations),
        ("failed releases", summary.failed_releases),
        ("worker timeouts", summary.worker_timeouts),
        ("resets", summary.resets),
        ("files retried", summary.files_retried),
        ("workers", summary.n_workers),
        ("log", None if summary.first_event is None
         else f"{time_text(summary.first_event)} → {time_text(summary.last_event)}"),
        ("median done duration", None if summary.median_duration_s is None
         else duration_text(summary.median_duration_s)),
    ]
    return [(k, f"{v:,}" if isinstance(v, int) else str(v)) for k, v in rows if v is not None]


def _title(summary: ProjectSummary) -> str:
    name = "project" if summary.project_id is None else f"project {summary.project_id}"
    details = ", ".join(x for x in (summary.project_state, summary.owner and f"owner {summary.owner}") if x)
    return f"{name} ({details})" if details else name


def summary_text(summary: ProjectSummary) -> str:
    """A few readable lines: title, state counts, numbers, ETA with its basis."""
    lines = [f"ProjectSummary {_title(summary)}"]
    if summary.state_counts:
        lines.append("  " + " · ".join(f"{s} {n:,}" for s, n in summary.state_counts.items()))
    lines += [f"  {k}: {v}" for k, v in summary_rows(summary)]
    if summary.eta is not None:
        lines.append(f"  ETA: {eta_headline(summary.eta)}")
        lines.append(f"       based on {summary.eta.basis or 'nothing'}")
    return "\n".join(lines)


def summary_html(summary: ProjectSummary) -> str:
    """Title with a coloured project-state badge, the state bar, a table of numbers and the ETA line."""
    state = summary.project_state
    badge = "" if not state else (
        f" <span style='background:{PROJECT_STATE_COLORS.get(state, '#607d8b')};color:white;border-radius:3px;"
        f"padding:0 5px;font-size:90%'>{_esc(state)}</span>")
    name = "Project" if summary.project_id is None else f"Project {summary.project_id}"
    owner = f" <span style='color:{NOTE_COLOR}'>owner {_esc(summary.owner)}</span>" if summary.owner else ""
    table = "".join(
        f"<tr style='{_ROW}'><th style='{_CELL};font-weight:600;white-space:nowrap'>{_esc(k)}</th>"
        f"<td style='{_CELL}'>{_esc(v)}</td></tr>"
        for k, v in summary_rows(summary)
    )
    bar = state_bar_html(summary.state_counts) if summary.state_counts else ""
    estimate = eta_html(summary.eta) if summary.eta is not None else ""
    return (f"<div class='dd-summary' style='font-family:sans-serif;font-size:13px'>"
            f"<div style='font-weight:600;font-size:14px;margin-bottom:4px'>{_esc(name)}{badge}{owner}</div>"
            f"{bar}<table style='border-collapse:collapse;margin:2px 0 6px 0;font-size:inherit;border:none'>"
            f"{table}</table>"
            f"{estimate}</div>")
