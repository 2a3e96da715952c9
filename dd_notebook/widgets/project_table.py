"""The data behind :class:`~dd_notebook.widgets.browser.ProjectBrowser`: filters, listings, counts, HTML rows.

Nothing here touches a widget, so every piece is usable (and tested) on its own.
Handle counts come from the embedded server's ``project_counts`` endpoint in one
request for every listed project; on servers without it they are counted from
each project's handle listing, which the browser does for the visible page only.
"""

from __future__ import annotations

import html
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..client.errors import EndpointUnavailableError
from ..frames import HANDLE_STATES, PROJECT_STATES, projects_frame
from ._base import state_badge, state_bar

log = logging.getLogger(__name__)

__all__ = [
    "ANY_STATE",
    "STATE_CHOICES",
    "ProjectFilter",
    "attributes_match",
    "confirm_message",
    "count_handles",
    "details_html",
    "fetch_projects",
    "left_to_process",
    "parse_key_values",
    "projects_table",
    "shorten",
    "table_html",
    "update_counts",
]

#: The state filter value meaning "no state filter".
ANY_STATE = "any"
STATE_CHOICES: tuple[str, ...] = (ANY_STATE, *PROJECT_STATES)
COUNT_COLUMNS: tuple[str, ...] = tuple(f"n_{state}" for state in HANDLE_STATES)
QUERY_CHARS = 48


def _value(text: str) -> Any:
    """A JSON scalar when ``text`` reads as one (``5``, ``true``, ``"x"``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_key_values(text: str | Mapping[str, Any] | None, what: str = "attributes") -> dict[str, Any]:
    """Parse attribute text: a JSON object, or ``key=value`` lines (values read as JSON when they are).

    Parameters
    ----------
    text
        ``'{"step": "reco", "pass": 2}'`` or ``"step=reco\\npass=2"`` (``;`` also
        separates pairs); a mapping is returned as a dict; empty means ``{}``.
    what
        Name of the field, used in error messages.

    Returns
    -------
    dict
        The attributes.

    Raises
    ------
    ValueError
        The JSON object is invalid, or a line has no ``=`` or no key.
    """
    if text is None:
        return {}
    if isinstance(text, Mapping):
        return dict(text)
    stripped = text.strip()
    if not stripped:
        return {}
    if stripped.startswith("{"):
        try:
            return dict(json.loads(stripped))
        except ValueError as exc:
            raise ValueError(f"{what}: invalid JSON object ({exc})") from None
    result: dict[str, Any] = {}
    for piece in (p.strip() for line in stripped.splitlines() for p in line.split(";")):
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{what}: expected key=value, got {piece!r}")
        result[key.strip()] = _value(value.strip())
    return result


def attributes_match(attributes: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """True when every wanted key is present with an equal value (``True`` never equals ``1``)."""
    for key, value in wanted.items():
        if key not in attributes:
            return False
        have = attributes[key]
        if isinstance(have, bool) != isinstance(value, bool) or have != value:
            return False
    return True


@dataclass(frozen=True)
class ProjectFilter:
    """What the browser lists.

    Parameters
    ----------
    owner
        ``""`` = the caller's projects, ``"all"`` = every owner, else one user.
    state
        A project state, or ``"any"``.
    attributes
        Project attributes that must be present with these values.
    query
        A query in the project search language (``search_projects``); empty =
        list with the exact filters only.
    """

    owner: str = ""
    state: str = ANY_STATE
    attributes: dict[str, Any] = field(default_factory=dict)
    query: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATE_CHOICES:
            raise ValueError(f"Unknown project state {self.state!r}; use one of {', '.join(STATE_CHOICES)}")


def fetch_projects(client: Any, filters: ProjectFilter) -> list[dict[str, Any]]:
    """The projects selected by ``filters``, without their handles, by ascending id.

    With a search query, ``client.search_projects`` selects (owner and state are
    applied by the server, attributes here); otherwise ``client.list_projects``.
    An empty owner means the caller's projects in both cases.
    """
    owner = filters.owner.strip()
    state = None if filters.state == ANY_STATE else filters.state
    if filters.query.strip():
        if not owner:
            token = getattr(client, "Token", None)
            owner = getattr(token, "subject", None) or ""
        projects = client.search_projects(filters.query.strip(), owner=None if owner in ("", "all") else owner,
                                          state=state or "all", with_files=False)
        if filters.attributes:
            projects = [p for p in projects if attributes_match(p.get("attributes") or {}, filters.attributes)]
    else:
        projects = client.list_projects(owner=owner or None, state=state, not_state=None,
                                        attributes=filters.attributes or None, with_files=False)
    return sorted(projects, key=lambda p: p["project_id"])


def count_handles(client: Any, project_ids: Iterable[int], *, cheap_only: bool = False
                  ) -> tuple[dict[int, dict[str, int]], bool]:
    """Handle counts per state of ``project_ids``.

    Parameters
    ----------
    client
        A Data Dispatcher client.
    project_ids
        Projects to count.
    cheap_only
        Do not fall back to fetching each project's handles.

    Returns
    -------
    tuple
        ``(counts, cheap)``: ``{project_id: {state: n}}`` and whether the server
        counted them in one request. When ``cheap`` is false and ``cheap_only``
        is set, ``counts`` is empty.
    """
    ids = list(project_ids)
    counter = getattr(client, "project_state_counts", None)
    if counter is not None:
        try:
            return counter(ids), True
        except EndpointUnavailableError:
            log.debug("server without project_counts; counting from handle listings")
    if cheap_only:
        return {}, False
    counts: dict[int, dict[str, int]] = {}
    for pid in ids:
        project = client.get_project(pid, with_files=True)
        if project is not None:
            states = Counter(h.get("state") for h in project.get("file_handles") or [])
            counts[pid] = {state: int(states.get(state, 0)) for state in HANDLE_STATES}
    return counts, False


def projects_table(projects: list[dict[str, Any]], counts: Mapping[int, Mapping[str, int]]) -> pd.DataFrame:
    """:func:`~dd_notebook.frames.projects_frame` of ``projects`` with the handle counts filled in.

    ``n_handles`` and ``n_<state>`` are ``Int64``, missing for projects not in ``counts``.
    """
    frame = projects_frame(projects)
    update_counts(frame, counts)
    return frame


def update_counts(frame: pd.DataFrame, counts: Mapping[int, Mapping[str, int]]) -> None:
    """Write ``counts`` into the ``n_*`` columns of ``frame`` (in place) for the projects it has."""
    if frame.empty or not counts:
        return
    rows = frame["project_id"].isin(list(counts))
    ids = frame.loc[rows, "project_id"].astype(int)
    for state in HANDLE_STATES:
        frame.loc[rows, f"n_{state}"] = [int(counts[pid].get(state, 0)) for pid in ids]
    frame.loc[rows, "n_handles"] = frame.loc[rows, list(COUNT_COLUMNS)].sum(axis=1)


def left_to_process(counts: Mapping[str, int]) -> int:
    """Handles still to process: ``initial`` + ``reserved``."""
    return int(counts.get("initial", 0)) + int(counts.get("reserved", 0))


def shorten(text: Any, limit: int = QUERY_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (``""`` for missing values)."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    value = " ".join(str(text).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


_HEADERS = (("id", "right"), ("owner", "left"), ("state", "left"), ("created (UTC)", "left"),
            *((state, "right") for state in HANDLE_STATES), ("progress", "left"), ("query", "left"))


def _row_counts(row: Any) -> dict[str, int] | None:
    values = [getattr(row, column) for column in COUNT_COLUMNS]
    if any(pd.isna(v) for v in values):
        return None
    return {state: int(v) for state, v in zip(HANDLE_STATES, values)}


def _cell(content: str, align: str, css: str = "", style: str = "") -> str:
    cls = f" class='{css}'" if css else ""
    return f"<td{cls} style='text-align:{align};{style}'>{content}</td>"


def _progress(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "<span class='dd-note'>…</span>"
    total = sum(counts.values())
    return (f"<div class='dd-progress' style='display:flex;align-items:center;gap:6px;white-space:nowrap'>"
            f"<span>{counts['done']:,} / {total:,}</span>"
            f"<div style='width:6em;flex:none'>{state_bar(counts, height=8)}</div></div>")


def table_html(frame: pd.DataFrame, *, selected: int | None = None) -> str:
    """An HTML table of the projects in ``frame`` (escaped; badges and bars for state and progress).

    Each row carries ``data-project-id``; count cells have the class ``dd-n-<state>``.
    """
    head = "".join(f"<th style='text-align:{align}'>{html.escape(name)}</th>" for name, align in _HEADERS)
    rows = []
    for row in frame.itertuples(index=False):
        pid = int(row.project_id)
        counts = _row_counts(row)
        created = row.created_timestamp
        cells = [
            _cell(str(pid), "right", "dd-id"),
            _cell(html.escape(str(row.owner)), "left", "dd-owner"),
            _cell(state_badge(str(row.state)), "left", "dd-state"),
            _cell("" if pd.isna(created) else created.strftime("%Y-%m-%d %H:%M"), "left", "dd-created"),
            *(_cell("" if counts is None else f"{counts[s]:,}", "right", f"dd-n-{s}") for s in HANDLE_STATES),
            _cell(_progress(counts), "left", "dd-progress-cell", "padding-left:12px"),
            _cell(f"<span title='{html.escape(shorten(row.query, 2000), quote=True)}'>"
                  f"{html.escape(shorten(row.query))}</span>", "left", "dd-query"),
        ]
        mark = " class='dd-selected' style='background:#eef4fb'" if pid == selected else ""
        rows.append(f"<tr data-project-id='{pid}'{mark}>{''.join(cells)}</tr>")
    body = "".join(rows) or (f"<tr><td colspan='{len(_HEADERS)}' class='dd-note'>No projects match.</td></tr>")
    return f"<table class='dd-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _time(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return pd.Timestamp(value, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
    return "–" if value is None else str(value)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _seconds(value: Any) -> str:
    return "none" if value is None else f"{float(value):g} s"


def details_html(project: Mapping[str, Any], counts: Mapping[str, int] | None) -> str:
    """An escaped card of one project: state, progress, times, timeouts, users, roles, query, attributes."""
    pid = project.get("project_id")
    title = (f"<div class='dd-title'>Project {html.escape(str(pid))} {state_badge(str(project.get('state', '')))} "
             f"owner {html.escape(str(project.get('owner', '')))}</div>")
    progress = ""
    if counts is not None:
        total = sum(int(n) for n in counts.values())
        parts = ", ".join(f"{state} {int(counts.get(state, 0)):,}" for state in HANDLE_STATES)
        progress = (f"<div class='dd-details-progress'>{int(counts.get('done', 0)):,} / {total:,} done "
                    f"({html.escape(parts)}){state_bar(counts)}</div>")
    fields = [("created", _time(project.get("created_timestamp"))), ("ended", _time(project.get("ended_timestamp"))),
              ("worker timeout", _seconds(project.get("worker_timeout"))),
              ("idle timeout", _seconds(project.get("idle_timeout"))),
              ("users", ", ".join(project.get("users") or []) or "–"),
              ("roles", ", ".join(project.get("roles") or []) or "–"),
              ("query", project.get("query") or "–")]
    attributes = project.get("attributes") or {}
    fields += [(f"attribute {key}", _json(value)) for key, value in sorted(attributes.items())]
    rows = "".join(f"<tr><th style='text-align:left;white-space:nowrap'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>" for k, v in fields)
    return (f"<div style='max-width:44em'>{title}{progress}"
            f"<table class='dd-table dd-details-fields'><tbody>{rows}</tbody></table></div>")


def confirm_message(kind: str, project_id: int, counts: Mapping[str, int]) -> str:
    """The question asked before a destructive action, with the project's current counts."""
    done, failed, left = int(counts.get("done", 0)), int(counts.get("failed", 0)), left_to_process(counts)
    total = sum(int(n) for n in counts.values())
    failed_text = f", {failed:,} failed" if failed else ""
    if kind == "cancel":
        return f"Cancel project {project_id} ({done:,} done, {left:,} left{failed_text})?"
    if kind == "restart_failed":
        return f"Restart the {failed:,} failed handles of project {project_id}?"
    if kind == "restart_all":
        return f"Restart all {total:,} handles of project {project_id} ({done:,} done{failed_text}) from scratch?"
    if kind == "delete":
        return (f"Delete project {project_id} with its {total:,} handles and logs ({done:,} done)? "
                "This cannot be undone.")
    raise ValueError(f"unknown action {kind!r}")
