"""Escaped HTML and text pieces shared by the panels and the reports (no widgets involved).

Everything here returns plain strings or bytes, so a report notebook can use it
without loading ipywidgets, and a panel puts the strings into ``widgets.HTML``.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from .palette import PROJECT_STATE_COLORS, STATE_COLORS

__all__ = [
    "CLIP_CHARS",
    "duration_text",
    "error_message",
    "figure_png",
    "html_table",
    "human_bytes",
    "rate_text",
    "state_badge",
    "state_bar",
]


def error_message(exc: BaseException) -> str:
    """A one-line message for a person: the server's text for HTTP errors, else ``Type: text``."""
    message = getattr(exc, "message", None)
    text = str(message if isinstance(message, str) and message else exc).strip()
    if isinstance(exc, (ValueError, LookupError, PermissionError, TimeoutError, ConnectionError)) or hasattr(
        exc, "status"
    ):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB")


def human_bytes(size: float | None) -> str:
    """Decimal (SI) units, as storage systems count: ``1.5 GB``; ``"?"`` for ``None``."""
    if size is None or pd.isna(size):
        return "?"
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1000 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _one_decimal(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def duration_text(seconds: float | None) -> str:
    """``0.4 s``, ``32 s``, ``4.2 min``, ``15 min``, ``1.5 h``, ``2 d``; ``?`` for ``None``/NaN.

    The one duration format of panels, reports and the analysis reprs.
    """
    if seconds is None or pd.isna(seconds):
        return "?"
    s = float(seconds)
    if abs(s) < 10:
        return f"{_one_decimal(s)} s"
    if abs(s) < 90:
        return f"{s:.0f} s"
    if abs(s) < 90 * 60:
        return f"{_one_decimal(s / 60)} min"
    if abs(s) < 36 * 3600:
        return f"{_one_decimal(s / 3600)} h"
    return f"{_one_decimal(s / 86400)} d"


def rate_text(rate_per_s: float) -> str:
    """A rate in the unit that reads best: files/s, files/min or files/h; ``no rate`` for NaN."""
    if pd.isna(rate_per_s):
        return "no rate"
    if rate_per_s == 0 or abs(rate_per_s) >= 1.0:
        return f"{rate_per_s:.3g} files/s"
    if abs(rate_per_s) * 60.0 >= 1.0:
        return f"{rate_per_s * 60.0:.3g} files/min"
    return f"{rate_per_s * 3600.0:.3g} files/h"




#: Cell texts longer than this many characters may be cut with an ellipsis in a panel (full text on hover).
CLIP_CHARS = 26


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, (list, dict, tuple)) and pd.isna(value)):
        return ""
    text = str(value)
    if len(text) > CLIP_CHARS:
        return f"<span class='dd-clip' title='{html.escape(text)}'>{html.escape(text)}</span>"
    return html.escape(text)


def html_table(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    max_rows: int = 50,
    css_class: str = "dd-table",
    numeric: Iterable[str] = (),
) -> str:
    """An escaped HTML table of the first ``max_rows`` rows (left-aligned text, right-aligned numbers).

    Cells stay on one line; in a panel, texts longer than :data:`CLIP_CHARS`
    are cut with an ellipsis past 32 em (16 em in a table of class
    ``dd-narrow``) and show in full on hover (``title``).

    Parameters
    ----------
    rows
        A DataFrame (its index is not shown) or a sequence of dicts.
    columns
        Columns to show, in order (default: all).
    max_rows
        Rows shown; a note under the table says how many were left out.
    css_class
        Class of the ``<table>`` element.
    numeric
        Columns aligned right (in addition to the numeric dtypes of a frame).
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    names = list(columns) if columns is not None else [str(c) for c in frame.columns]
    right = set(numeric) | {str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c].dtype)
                            and not pd.api.types.is_bool_dtype(frame[c].dtype)}
    shown = frame.head(max_rows)
    align = {n: "right" if n in right else "left" for n in names}
    head = "".join(f"<th style='text-align:{align[n]}'>{html.escape(n)}</th>" for n in names)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:{align[n]}'>{_cell(v)}</td>" for n, v in zip(names, values)) + "</tr>"
        for values in shown[names].itertuples(index=False, name=None)
    ) if len(shown) else ""
    more = len(frame) - len(shown)
    note = f"<div class='dd-note'>… {more:,} more rows not shown</div>" if more > 0 else ""
    return (f"<table class='{css_class}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}")


def state_badge(state: str) -> str:
    """A coloured badge for a project or handle state."""
    color = PROJECT_STATE_COLORS.get(state) or STATE_COLORS.get(state, "#607d8b")
    return (f"<span class='dd-badge dd-state-{html.escape(state)}' style='background:{color};color:#fff;"
            f"padding:0 6px;border-radius:8px'>{html.escape(state)}</span>")


def state_bar(counts: Mapping[str, int], *, height: int = 12) -> str:
    """A horizontal bar split by handle state, in the palette's colours, with counts on hover."""
    total = sum(int(v) for v in counts.values())
    segments = "".join(
        f"<div class='dd-seg dd-{html.escape(s)}' title='{html.escape(s)}: {int(n):,}' "
        f"style='width:{100.0 * int(n) / total:.3f}%;background:{STATE_COLORS.get(s, '#607d8b')}'></div>"
        for s, n in counts.items() if total and int(n)
    )
    return (f"<div class='dd-bar' style='display:flex;height:{height}px;border-radius:3px;overflow:hidden;"
            f"background:#eee'>{segments}</div>")


def figure_png(figure: Any, *, dpi: int = 96) -> bytes:
    """PNG bytes of a :class:`matplotlib.figure.Figure` (no pyplot state involved)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
