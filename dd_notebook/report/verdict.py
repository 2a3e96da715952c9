"""The verdict block of a report: one sentence, big numbers, the state bar and the ETA check."""

from __future__ import annotations

import pandas as pd

from ..analysis import eta, retry_counts
from ..palette import ERROR_COLOR, PROJECT_STATE_COLORS, STATE_COLORS
from ..rendering import duration_text, error_message, html_table, state_bar
from . import render
from .data import ProjectData
from .metrics import Verdict, eta_checkpoints, verdict


def sentence(numbers: Verdict) -> str:
    """The verdict in words."""
    done, failed, total, left = numbers.done, numbers.failed, numbers.total, numbers.remaining
    if total == 0:
        return "The project has no files."
    if numbers.finished and failed == 0:
        return f"Finished: all {total:,} files done."
    if numbers.finished:
        return f"Finished with failures: {done:,} of {total:,} files done, {failed:,} failed for good."
    if numbers.state == "active":
        return f"Still running: {left:,} of {total:,} files left ({done:,} done, {failed:,} failed)."
    return f"Project {numbers.state} with {left:,} of {total:,} files not processed ({done:,} done, {failed:,} failed)."


def _signed(seconds: float | None) -> str:
    if seconds is None or pd.isna(seconds):
        return "—"
    word = "late" if seconds > 0 else "early"
    return "on time" if abs(seconds) < 0.5 else f"{duration_text(abs(seconds))} {word}"


def _elapsed(at: pd.Timestamp, start: pd.Timestamp | None) -> str:
    if start is None or pd.isna(at):
        return render.utc_text(at) or "—"
    return f"+{duration_text((at - start).total_seconds())} after the start"


def eta_table(checks: pd.DataFrame, start: pd.Timestamp | None) -> str:
    """The ETA-accuracy table: what the ETA said at 25 / 50 / 75 % of the files, and how wrong it was."""
    rows = []
    for row in checks.itertuples(index=False):
        reached = not pd.isna(row.at)
        error = "—" if pd.isna(row.error_s) else _signed(row.error_s)
        if not pd.isna(row.error_pct):
            error += f" ({row.error_pct:+.0f} % of the time left)"
        basis = row.basis if isinstance(row.basis, str) else None
        covered = None if row.covered_s is None or pd.isna(row.covered_s) else duration_text(row.covered_s)
        rows.append({
            "files finished": f"{row.fraction:.0%} ({row.files_finished:,})",
            "when": _elapsed(row.at, start) if reached else "not reached",
            "ETA shown then": (render.utc_text(row.predicted_end) or "no estimate (no rate yet)") if reached else "—",
            "error vs real end": error if reached else "—",
            "rate (files/h)": f"{row.rate_per_h:,.0f}" if reached and not pd.isna(row.rate_per_h) else "—",
            "rate measured over": covered or (duration_text(row.window_s) if reached else "—"),
            **({"basis": basis} if basis else {}),
        })
    table = html_table(rows, numeric=("rate (files/h)",), css_class="dd-table dd-eta")
    end = checks["real_end"].iloc[0] if len(checks) else None
    began = f"Started {render.utc_text(start)}. " if start is not None else ""
    tail = began + (f"Real end: {render.utc_text(end)}." if end is not None and not pd.isna(end)
                    else "The project has not finished: the errors are known once it has.")
    return (f"<div class='dd-sub' style='margin-top:8px;font-weight:600'>ETA accuracy</div>{table}"
            f"{render.note(tail)}")


def verdict_html(data: ProjectData, window: str = "15min") -> str:
    """The verdict of a project as HTML (counts from the server's handles; times and rates from the events)."""
    events = data.events_or_none()
    numbers = verdict(data.project, data.handles, events)
    color = STATE_COLORS["done"] if numbers.finished and numbers.failed == 0 else (
        ERROR_COLOR if numbers.failed else PROJECT_STATE_COLORS.get(numbers.state, "#333"))
    items = [
        render.tile("state", "state", numbers.state, PROJECT_STATE_COLORS.get(numbers.state)),
        render.tile("done", "done", f"{numbers.done:,}", STATE_COLORS["done"]),
        render.tile("failed", "failed", f"{numbers.failed:,}", STATE_COLORS["failed"] if numbers.failed else None),
        render.tile("total", "total", f"{numbers.total:,}"),
    ]
    if numbers.remaining:
        items.append(render.tile("remaining", "still to process", f"{numbers.remaining:,}"))
    items.append(render.tile("wall", "wall time", duration_text(numbers.wall_s)))
    items.append(render.tile("throughput", "files / h",
                             "?" if numbers.files_per_h is None else f"{numbers.files_per_h:,.0f}"))
    parts = [f"<div class='dd-sentence' style='color:{color}'>{render.esc(sentence(numbers))}</div>"]
    if events is not None and len(events):
        retries = retry_counts(events)
        items.append(render.tile("retried", "files retried", f"{int((retries['reservations'] > 1).sum()):,}"))
        items.append(render.tile("timeouts", "worker timeouts",
                                 f"{int((events['event'] == 'worker_timeout').sum()):,}"))
        items.append(render.tile("workers", "workers", f"{int(events['worker'].nunique()):,}"))
        if not numbers.finished and numbers.state == "active":
            now = eta(events, handles=data.handles, window=window, now=pd.Timestamp.now(tz="UTC"))
            items.append(render.tile("eta", "ETA now", render.utc_text(now.eta) or "no rate"))
    parts.append(render.tiles(items))
    parts.append(state_bar(numbers.counts, height=14))
    parts.append(render.note(f"project {numbers.project_id} {render.counts_line(numbers.counts)}"))
    if events is None:
        try:
            _ = data.events
        except Exception as exc:
            parts.append(f"<div class='dd-note' style='color:{ERROR_COLOR}'>Times, rates and the ETA check need "
                         f"the events, which could not be read: {render.esc(error_message(exc))}</div>")
    elif len(events):
        checks = eta_checkpoints(events, numbers.total, numbers.ended, window=window)
        parts.append(eta_table(checks, numbers.started))
    return render.block("".join(parts), "dd-verdict")
