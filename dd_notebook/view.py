"""``ProjectView``: a notebook facade over one project -- lazy frames, summary, plots and an HTML repr.

>>> view = ProjectView(client, 42, gui_url="https://dd.example/dd/gui")
>>> view                      # HTML card in Jupyter, plain text elsewhere
>>> view.handles.dd.state_counts()
>>> view.plot_timeline()
>>> view.refresh()            # drop cached data; the next access fetches again

``client`` is duck-typed: anything with ``get_project(project_id,
with_files=True, with_replicas=False)`` returning the project dict and
``get_handles_log(project_id, gui_url=None)`` returning handle log records.
When the client also has ``get_project_columns`` (dd-notebook's client), the
project is fetched in the embedded server's column-oriented form when offered.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any, Protocol

import pandas as pd
from matplotlib.axes import Axes

from . import plots
from .analysis import ProjectSummary, failure_rates, project_summary
from .frames import HANDLE_STATES, events_frame, handles_frame, is_columnar, replicas_frame
from .palette import ERROR_COLOR, PROJECT_STATE_COLORS, STATE_COLORS

log = logging.getLogger(__name__)

_FALLBACK_COLOR = "#607d8b"
_CELL = "padding:1px 12px 1px 0;vertical-align:top;border:none;background:transparent;line-height:1.4"
# Inline styles beat the notebook front-ends' own ``th``/``td``/``table`` rules (JupyterLab and
# Voila right-align cells, centre tables and stripe rows), whatever their selectors' weight.
_TABLE_STYLE = "border-collapse:collapse;margin:0;table-layout:auto;border:none"
_ROW_STYLE = "background:transparent;border:none"
_TH_STYLE = f"text-align:left;font-weight:500;color:#555;white-space:nowrap;{_CELL}"
_TD_STYLE = (f"text-align:left;font-family:var(--jp-code-font-family, monospace);"
             f"white-space:normal;overflow-wrap:anywhere;{_CELL}")

_CSS = f"""
.dd-view {{ font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px; max-width: 44em;
  text-align: left; color: var(--jp-ui-font-color1, #222); }}
.dd-view .dd-head {{ font-weight: 600; margin-bottom: 4px; }}
.dd-view .dd-state {{ padding: 0 6px; border-radius: 8px; color: #fff; background: {_FALLBACK_COLOR};
  font-weight: 500; }}
.dd-view .dd-bar {{ display: flex; height: 10px; margin: 6px 0; border-radius: 3px; overflow: hidden;
  background: #eee; max-width: 36em; }}
.dd-view details summary {{ cursor: pointer; color: #555; margin-top: 4px; }}
.dd-view .dd-error {{ color: {ERROR_COLOR}; }}
"""
STYLE = f"<style>{_CSS}</style>"
"""The view's stylesheet, built once at import and scoped to ``.dd-view``."""


class DDClient(Protocol):
    """What :class:`ProjectView` needs from a client."""

    def get_project(self, project_id: int, with_files: bool = True, with_replicas: bool = False) -> Any: ...

    def get_handles_log(self, project_id: int, gui_url: str | None = None) -> list[dict[str, Any]]: ...


def _text(value: Any) -> str:
    """A value as escaped HTML text (JSON for containers)."""
    if isinstance(value, (dict, list, tuple)):
        value = json.dumps(value, default=str, sort_keys=True)
    return html.escape("" if value is None else str(value))


def _time(seconds: Any) -> str | None:
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
    return None if seconds is None else str(seconds)


class ProjectView:
    """Lazy, cached view of one project.

    Parameters
    ----------
    client
        A Data Dispatcher client (see :class:`DDClient`).
    project_id
        The project.
    gui_url
        Base URL of a DD GUI server, passed to ``client.get_handles_log`` for
        servers that expose the handle log only there.

    Notes
    -----
    ``project``, ``handles``, ``replicas`` and ``events`` are fetched on first
    access and cached until :meth:`refresh`. ``replicas`` costs a second
    project fetch (with replicas), so it is only made when asked for.
    """

    def __init__(self, client: DDClient, project_id: int, gui_url: str | None = None) -> None:
        self.client = client
        self.project_id = int(project_id)
        self.gui_url = gui_url

    # -- data -------------------------------------------------------------------------------

    def _fetch_project(self, with_replicas: bool) -> Mapping[str, Any]:
        fetch_columns = getattr(self.client, "get_project_columns", None)
        if fetch_columns is not None:
            project = fetch_columns(self.project_id, with_files=True, with_replicas=with_replicas)
        else:
            project = self.client.get_project(self.project_id, with_files=True, with_replicas=with_replicas)
        if project is None:
            raise LookupError(f"project {self.project_id} not found")
        return project

    @cached_property
    def listing(self) -> Mapping[str, Any]:
        """The project as fetched: standard JSON, or the embedded server's columnar form."""
        return self._fetch_project(with_replicas=False)

    @cached_property
    def project(self) -> Mapping[str, Any]:
        """The project's fields (handles are in :attr:`handles`)."""
        listing = self.listing
        return listing["project"] if is_columnar(listing) else listing

    @cached_property
    def handles(self) -> pd.DataFrame:
        """:func:`~dd_notebook.frames.handles_frame` of the project."""
        return handles_frame(self.listing)

    @cached_property
    def replicas(self) -> pd.DataFrame:
        """:func:`~dd_notebook.frames.replicas_frame` of the project (fetched with replicas)."""
        return replicas_frame(self._fetch_project(with_replicas=True))

    @cached_property
    def events(self) -> pd.DataFrame:
        """:func:`~dd_notebook.frames.events_frame` of the project's handle log."""
        fetch_columns = getattr(self.client, "get_handles_log_columns", None)
        fetch = fetch_columns if fetch_columns is not None else self.client.get_handles_log
        return events_frame(fetch(self.project_id, gui_url=self.gui_url))

    def refresh(self) -> ProjectView:
        """Forget every cached fetch; the next access reloads. Returns ``self``."""
        for name in ("listing", "project", "handles", "replicas", "events"):
            self.__dict__.pop(name, None)
        return self

    # -- analysis and plots -----------------------------------------------------------------

    def summary(self, *, with_events: bool = True, window: str = "15min", now: Any = None) -> ProjectSummary:
        """:func:`~dd_notebook.analysis.project_summary` from the project, its handles and (optionally) events."""
        events = self.events if with_events else None
        return project_summary(self.handles, events, project=self.project, window=window, now=now)

    def plot_throughput(self, freq: str = "1min", *, window: int = 5, ax: Axes | None = None) -> Axes:
        """:func:`~dd_notebook.plots.plot_throughput` of the handle log."""
        return plots.plot_throughput(self.events, freq, window=window, ax=ax)

    def plot_timeline(self, *, ax: Axes | None = None) -> Axes:
        """:func:`~dd_notebook.plots.plot_state_timeline` of the handle log."""
        return plots.plot_state_timeline(self.events, ax=ax)

    def plot_failure_rates(self, by: str = "worker", *, ax: Axes | None = None) -> Axes:
        """:func:`~dd_notebook.plots.plot_failure_rates` grouped ``by`` (``"rse"`` fetches replicas)."""
        replicas = self.replicas if by == "rse" else None
        return plots.plot_failure_rates(failure_rates(self.events, by, handles=self.handles, replicas=replicas), ax=ax)

    def plot_durations(self, *, ax: Axes | None = None, log: bool = False) -> Axes:
        """:func:`~dd_notebook.plots.plot_durations` of the handle log."""
        return plots.plot_durations(self.events, ax=ax, log=log)

    def plot_rse_availability(self, *, ax: Axes | None = None) -> Axes:
        """:func:`~dd_notebook.plots.plot_rse_availability` of the project's replicas."""
        return plots.plot_rse_availability(self.replicas, ax=ax)

    # -- display ----------------------------------------------------------------------------

    def _counts(self) -> dict[str, int]:
        counts = self.handles["state"].value_counts()
        return {state: int(counts.get(state, 0)) for state in HANDLE_STATES}

    def __repr__(self) -> str:
        try:
            project, counts = self.project, self._counts()
        except Exception as exc:  # display must not raise: show what went wrong instead
            log.debug("ProjectView repr failed", exc_info=True)
            return f"<ProjectView project_id={self.project_id}: {type(exc).__name__}: {exc}>"
        parts = ", ".join(f"{state} {n}" for state, n in counts.items())
        return (
            f"<ProjectView project_id={self.project_id} state={project.get('state')} "
            f"owner={project.get('owner')} files={sum(counts.values())} ({parts})>"
        )

    def _repr_html_(self) -> str:
        try:
            body = self._html_body()
        except Exception as exc:  # display must not raise: show what went wrong instead
            log.debug("ProjectView HTML repr failed", exc_info=True)
            body = (f"<div class='dd-head'>Project {self.project_id}</div>"
                    f"<div class='dd-error'>{_text(type(exc).__name__)}: {_text(exc)}</div>")
        return f"{STYLE}<div class='dd-view'>{body}</div>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def _html_body(self) -> str:
        project = self.project
        counts = self._counts()
        total = sum(counts.values())
        state = str(project.get("state", ""))
        head = (
            f"<div class='dd-head'>Project {_text(project.get('project_id', self.project_id))} "
            f"<span class='dd-state dd-state-{_text(state)}' style='background:"
            f"{PROJECT_STATE_COLORS.get(state, _FALLBACK_COLOR)}'>{_text(state)}</span> "
            f"owner {_text(project.get('owner'))}</div>"
        )
        segments = "".join(
            f"<div class='dd-{s}' style='width:{100.0 * n / total:.3f}%;"
            f"background:{STATE_COLORS.get(s, _FALLBACK_COLOR)}' title='{s}: {n}'></div>"
            for s, n in counts.items() if total and n
        )
        rows: list[tuple[str, Any]] = [("files", f"{total} ({', '.join(f'{s} {n}' for s, n in counts.items())})")]
        rows += [
            ("created", _time(project.get("created_timestamp"))),
            ("ended", _time(project.get("ended_timestamp"))),
            ("worker timeout (s)", project.get("worker_timeout")),
            ("idle timeout (s)", project.get("idle_timeout")),
            ("query", project.get("query")),
            ("users", project.get("users")),
            ("roles", project.get("roles")),
        ]
        table = _fields_table((k, v) for k, v in rows if v not in (None, []))
        attributes = project.get("attributes") or {}
        details = (f"<details><summary>attributes ({len(attributes)})</summary>"
                   f"{_fields_table(attributes.items())}</details>" if attributes else "")
        return f"{head}<div class='dd-bar'>{segments}</div>{table}{details}"


def _fields_table(rows: Iterable[tuple[Any, Any]]) -> str:
    """A two-column name/value table, left-aligned by inline styles, values escaped."""
    body = "".join(f"<tr style='{_ROW_STYLE}'><th style='{_TH_STYLE}'>{_text(k)}</th>"
                   f"<td style='{_TD_STYLE}'>{_text(v)}</td></tr>" for k, v in rows)
    return f"<table class='dd-fields' style='{_TABLE_STYLE}'><tbody>{body}</tbody></table>"
