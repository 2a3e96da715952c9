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
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import ipywidgets as widgets

from ..palette import ERROR_COLOR
from ..rendering import (
    duration_text,
    error_message,
    figure_png,
    html_table,
    human_bytes,
    state_badge,
    state_bar,
)

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "Panel",
    "action",
    "duration_text",
    "error_message",
    "figure_png",
    "html_table",
    "human_bytes",
    "panel_style",
    "state_badge",
    "state_bar",
]


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


# -- stylesheet ------------------------------------------------------------------------------

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
