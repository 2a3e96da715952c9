"""Escaped HTML pieces of a report: the stylesheet, headings, number tiles, key/value tables, error boxes.

Everything a report shows as HTML is built here from escaped text, so a
project attribute or a DID holding markup is shown as text, never run.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from ..palette import ERROR_COLOR

REPORT_CSS = """
.dd-report { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 14px; color: #222;
  max-width: 1100px; }
.dd-report h1 { font-size: 26px; margin: 4px 0 6px 0; }
.dd-report h2.dd-project { font-size: 21px; margin: 28px 0 4px 0; padding-top: 10px; border-top: 3px solid #ccc; }
.dd-report h3.dd-section { font-size: 16px; margin: 18px 0 4px 0; color: #333; }
.dd-report .dd-sub { color: #555; font-size: 13px; }
.dd-report .dd-sentence { font-size: 18px; font-weight: 600; margin: 6px 0 8px 0; }
.dd-report .dd-tiles { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0; }
.dd-report .dd-tile { border: 1px solid #ddd; border-radius: 6px; padding: 4px 10px; min-width: 72px;
  background: #fafafa; }
.dd-report .dd-tile .dd-num { font-size: 22px; font-weight: 700; line-height: 1.25; white-space: nowrap; }
.dd-report .dd-tile .dd-label { font-size: 11px; color: #555; text-transform: uppercase; letter-spacing: .03em;
  white-space: nowrap; }
.dd-report .dd-table { border-collapse: collapse; margin: 4px 0; font-size: 13px; }
.dd-report .dd-table th { font-weight: 600; color: #444; padding: 3px 12px 3px 0; border-bottom: 1px solid #bbb; }
.dd-report .dd-table td { padding: 2px 12px 2px 0; border-bottom: 1px solid #eee; }
.dd-report .dd-note { color: #666; font-size: 12px; margin: 2px 0; }
.dd-report pre.dd-code { background: #f5f5f5; border: 1px solid #ddd; border-radius: 4px; padding: 8px 10px;
  font-size: 12.5px; white-space: pre-wrap; word-break: break-all; }
.dd-report .dd-footer { color: #555; font-size: 12px; border-top: 1px solid #ddd; margin-top: 10px;
  padding-top: 4px; }
.dd-report .dd-footer th { font-weight: 600; padding-right: 14px; text-align: left; vertical-align: top; }
.dd-report .dd-footer td { font-family: var(--jp-code-font-family, monospace); word-break: break-all; }
"""


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (``""`` for ``None``)."""
    return html.escape("" if value is None else str(value))


def stylesheet() -> str:
    """The report's ``<style>`` element, scoped to ``.dd-report``."""
    return f"<style>{REPORT_CSS}</style>"


def block(inner: str, css_class: str = "") -> str:
    """Wrap HTML in the report's container, so the stylesheet applies."""
    extra = f" {css_class}" if css_class else ""
    return f"<div class='dd-report{extra}'>{inner}</div>"


def heading(text: str, level: int, css_class: str) -> str:
    """An escaped heading element."""
    return f"<h{level} class='{css_class}'>{esc(text)}</h{level}>"


def tile(key: str, label: str, value: str, color: str | None = None) -> str:
    """A big number with a small label; ``data-key`` lets tests and scripts find it."""
    style = f" style='color:{color}'" if color else ""
    return (f"<div class='dd-tile' data-key='{esc(key)}'><div class='dd-num'{style}>{esc(value)}</div>"
            f"<div class='dd-label'>{esc(label)}</div></div>")


def tiles(items: Iterable[str]) -> str:
    """A wrapping row of tiles."""
    return f"<div class='dd-tiles'>{''.join(items)}</div>"


def key_values(rows: Iterable[tuple[str, Any]], css_class: str = "dd-table") -> str:
    """A two-column table of escaped labels and values (rows whose value is ``None`` are left out)."""
    body = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td style='text-align:left'>{esc(v)}</td></tr>"
                   for k, v in rows if v is not None)
    return f"<table class='{css_class}'><tbody>{body}</tbody></table>"


def note(text: str) -> str:
    """A small grey line of text."""
    return f"<div class='dd-note'>{esc(text)}</div>"


def code(text: str) -> str:
    """A preformatted, escaped code block (copyable commands)."""
    return f"<pre class='dd-code'>{esc(text)}</pre>"


def error_box(section: str, message: str) -> str:
    """A red-bordered box naming the section that failed and the reason (no traceback)."""
    return (f"<div class='dd-report dd-error-box' data-section='{esc(section)}' style='border:2px solid "
            f"{ERROR_COLOR};border-radius:6px;padding:8px 12px;margin:6px 0;background:#fff6f6;color:#222'>"
            f"<div style='color:{ERROR_COLOR};font-weight:700'>{esc(section)}: this section could not be shown"
            f"</div><div class='dd-error-message'>{esc(message)}</div></div>")


def utc_text(value: Any) -> str | None:
    """A timestamp (or epoch seconds) as ``YYYY-MM-DD HH:MM:SS UTC``; ``None`` stays ``None``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value, unit="s", tz="UTC") if isinstance(value, (int, float)) else pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def counts_line(counts: Mapping[str, int]) -> str:
    """``done 180 · failed 12 · …`` for a tooltip or a note."""
    return " · ".join(f"{state} {int(n):,}" for state, n in counts.items())
