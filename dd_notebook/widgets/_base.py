"""What every panel shares: the widget facade, actions whose errors land in the panel, the kernel loop.

Rules (measured with ipywidgets 8 and ipykernel 6/7):

* A panel is a plain Python object that owns its widget tree in ``.widget``
  and delegates ``_repr_mimebundle_`` to it, so ``panel`` on the last line of
  a cell shows it.
* Every user-facing action is a public method (usable without the UI) wrapped
  by :func:`action`: the status line is cleared when it starts, and any
  exception is shown in the panel's status line as a plain message (no
  traceback) before it propagates to a programmatic caller. Button handlers go
  through :meth:`Panel.clicked`, which shows the error and swallows it, so the
  panel stays usable.
* Background code never uses ``with output:``; it sets traits. Work that
  must touch widgets from another thread is handed to the kernel's loop
  (captured when the panel is built) with :meth:`Panel.call_on_loop`.
"""

from __future__ import annotations

import asyncio
import functools
import html
import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import ipywidgets as widgets
import pandas as pd

from ..palette import ERROR_COLOR, PROJECT_STATE_COLORS, STATE_COLORS

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "Panel",
    "action",
    "error_message",
    "figure_png",
    "html_table",
    "human_bytes",
    "human_duration",
    "panel_style",
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


def action(method: F) -> F:
    """Decorate a panel method: clear the status line, show any error in it, then re-raise."""

    @functools.wraps(method)
    def wrapper(self: Panel, *args: Any, **kwargs: Any) -> Any:
        self.clear_status()
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            log.debug("%s.%s failed", type(self).__name__, method.__name__, exc_info=True)
            self.show_error(error_message(exc))
            raise

    return wrapper  # type: ignore[return-value]


def kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop the kernel runs cells on, or ``None`` outside a running loop."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    kernel = getattr(shell, "kernel", None)
    loop = getattr(getattr(kernel, "io_loop", None), "asyncio_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


class Panel:
    """Base class of the panels: ``.widget``, a status line, guarded actions.

    Subclasses build their widget tree and assign it to ``self.widget``; the
    status line :attr:`status` should be part of it.
    """

    widget: widgets.Widget

    def __init__(self) -> None:
        self.status = widgets.HTML(value="")
        self.status.add_class("dd-status")
        self.loop = kernel_loop()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)

    # -- status line -----------------------------------------------------------------------

    def clear_status(self) -> None:
        """Empty the status line."""
        self.status.value = ""

    def show_error(self, message: str) -> None:
        """Show ``message`` as an error in the status line (escaped)."""
        self.status.value = (f"<span class='dd-error' style='color:{ERROR_COLOR}'>"
                             f"{html.escape(message)}</span>")

    def show_info(self, message: str) -> None:
        """Show ``message`` as information in the status line (escaped)."""
        self.status.value = f"<span class='dd-info'>{html.escape(message)}</span>"

    @property
    def error(self) -> str:
        """The error text the status line shows, or ``""``."""
        value = self.status.value
        if "dd-error" not in value:
            return ""
        return html.unescape(value.split(">", 1)[1].rsplit("<", 1)[0])

    # -- running work ----------------------------------------------------------------------

    def clicked(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[Any], None]:
        """A button callback that runs ``method(*args, **kwargs)``; errors stay in the status line."""

        def handler(_: Any = None) -> None:
            try:
                method(*args, **kwargs)
            except Exception as exc:
                if not self.error:
                    self.show_error(error_message(exc))

        return handler

    def call_on_loop(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the kernel's loop (from any thread), or now when there is none."""
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(callback)
        else:
            callback()


# -- rendering helpers ------------------------------------------------------------------------

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


def human_duration(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3.5 h``, ``2.1 d``; ``"?"`` for ``None``."""
    if seconds is None or pd.isna(seconds):
        return "?"
    s = float(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 36 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


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


PANEL_CSS = """
.dd-panel { font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px; }
.dd-panel .widget-html-content { line-height: 1.4; overflow-x: auto; }
.dd-panel .dd-table { border-collapse: collapse; margin: 4px 0; font-size: 12px; line-height: 1.35; }
.dd-panel .dd-table th, .dd-panel .dd-table td { white-space: nowrap; vertical-align: top; }
.dd-panel .dd-table th { font-weight: 600; color: #444; padding: 2px 10px 2px 0; border-bottom: 1px solid #ccc; }
.dd-panel .dd-table td { padding: 1px 10px 1px 0; border-bottom: 1px solid #eee;
  font-family: var(--jp-code-font-family, monospace); }
.dd-panel .dd-note { color: #666; font-size: 11px; }
.dd-panel .dd-error { color: %s; font-weight: 500; }
.dd-panel .dd-info { color: #333; }
.dd-panel .dd-title { font-weight: 600; font-size: 14px; margin: 2px 0 4px 0; }
.dd-panel .dd-subtitle { font-weight: 600; font-size: 12px; color: #444; margin: 8px 0 0 0; }
.dd-panel .dd-clip { display: inline-block; max-width: 32em; overflow: hidden; text-overflow: ellipsis;
  vertical-align: bottom; }
.dd-panel .dd-narrow .dd-clip { max-width: 16em; }
.dd-panel .dd-scroll { overflow-x: auto; max-width: 100%%; }
.dd-panel .jupyter-button:focus:not(:focus-visible) { outline: none; }
""" % ERROR_COLOR  # noqa: UP031 (every CSS brace would need doubling in an f-string)


def panel_style() -> widgets.HTML:
    """A widget carrying the panels' stylesheet (scoped to ``.dd-panel``); put one in each panel."""
    return widgets.HTML(value=f"<style>{PANEL_CSS}</style>", layout=widgets.Layout(display="none"))


def figure_png(figure: Any, *, dpi: int = 96) -> bytes:
    """PNG bytes of a :class:`matplotlib.figure.Figure` (no pyplot state involved)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
