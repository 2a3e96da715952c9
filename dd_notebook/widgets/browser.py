"""``ProjectBrowser``: find projects, see their progress, act on one.

>>> browser = ProjectBrowser(client)          # doctest: +SKIP
>>> browser                                    # the panel, in Jupyter
>>> frame = browser.refresh()                  # the listed projects as a DataFrame, with handle counts
>>> browser.select(17); browser.restart(failed_only=True)

Filters (owner, state, attributes, or a project search query) select the
projects; the table shows 50 of them per page with their handle counts. On
dd-notebook's embedded server the counts of every listed project come from one
``project_counts`` request; elsewhere only the visible page is counted. The
destructive buttons (cancel, restart, delete) first ask for confirmation; the
methods of the same names act at once.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ._base import Panel, action, panel_style
from .browser_actions import ProjectActions
from .browser_parts import ActionBar, Confirmation, CopyForm, FilterBar, Pager
from .project_table import (
    ProjectFilter,
    confirm_message,
    count_handles,
    details_html,
    fetch_projects,
    projects_table,
    table_html,
    update_counts,
)

__all__ = ["ProjectBrowser"]


def _module_available(name: str) -> bool:
    """True when module ``name`` can be found as a regular module (it is not imported)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None


class ProjectBrowser(ProjectActions, Panel):
    """Filter or search projects, page through them with their progress, act on the selected one.

    Parameters
    ----------
    client
        A logged-in :class:`~dd_notebook.client.DataDispatcherClient`.
    page_size
        Rows per page of the table.
    load
        List the caller's projects right away (errors are shown in the panel).

    Attributes
    ----------
    projects : pandas.DataFrame
        The listed projects (:func:`~dd_notebook.frames.projects_frame` columns;
        ``n_*`` counts are missing for rows not counted yet).
    selected_id : int or None
        The selected project.
    """

    def __init__(self, client: Any, *, page_size: int = 50, load: bool = True) -> None:
        super().__init__()
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.client = client
        self.page_size = int(page_size)
        self.projects: pd.DataFrame = projects_table([], {})
        self.selected_id: int | None = None
        self.cheap_counts = True
        self._page = 0
        self._filters: ProjectFilter | None = None
        self._selected: dict[str, Any] | None = None
        self._monitor: Any = None
        self._syncing = False
        self._build()
        if load:
            self.clicked(self.refresh)(None)

    # -- widget tree -------------------------------------------------------------------------

    def _build(self) -> None:
        self.filters = FilterBar()
        self.filters.search_button.on_click(self.clicked(self._search_clicked))
        self.table = widgets.HTML(value="", layout=widgets.Layout(max_height="30em", overflow="auto"))
        self.table.add_class("dd-browser-table")
        self.pager = Pager()
        self.pager.previous_button.on_click(self.clicked(lambda: self.show_page(self._page - 1)))
        self.pager.next_button.on_click(self.clicked(lambda: self.show_page(self._page + 1)))
        self.selector = widgets.Dropdown(options=[("no projects listed", None)], index=0, description="project",
                                         layout=widgets.Layout(width="22em"))
        self.selector.add_class("dd-browser-select")
        self.selector.observe(self._selector_changed, "value")
        self.details = widgets.HTML(value="<span class='dd-note'>Select a project to see its details.</span>")
        self.details.add_class("dd-browser-details")
        self.actions = ActionBar(report_available=_module_available("dd_notebook.report"),
                                 monitor_available=_module_available("dd_notebook.widgets.monitor"))
        handlers: dict[str, Callable[[], Any]] = {
            "cancel": lambda: self.ask("cancel"), "restart_failed": lambda: self.ask("restart_failed"),
            "restart_all": lambda: self.ask("restart_all"), "delete": lambda: self.ask("delete"),
            "activate": self.activate, "copy": self.copy_form_toggle, "monitor": self.monitor,
            "report": self.report,
        }
        for name, handler in handlers.items():
            self.actions.buttons[name].on_click(self.clicked(handler))
        self.confirmation = Confirmation()
        self.confirmation.confirm_button.on_click(self.clicked(self.confirm))
        self.confirmation.back_button.on_click(self.clicked(self.confirmation.disarm))
        self.copy_form = CopyForm()
        self.copy_form.submit_button.on_click(self.clicked(self._copy_clicked))
        self.copy_form.close_button.on_click(self.clicked(self.copy_form.hide))
        self.report_links = widgets.HTML(value="")
        self.report_links.add_class("dd-browser-report")
        self.monitor_area = widgets.VBox([])
        self.monitor_area.add_class("dd-browser-monitor")
        self.widget = widgets.VBox([
            panel_style(), widgets.HTML("<div class='dd-title'>Projects</div>"), self.filters.widget, self.table,
            self.pager.widget, self.selector, self.details, self.actions.widget, self.confirmation.widget,
            self.copy_form.widget, self.status, self.report_links, self.monitor_area,
        ])
        self.widget.add_class("dd-panel")
        self.widget.add_class("dd-browser")
        self.actions.enable(False)

    # -- listing -----------------------------------------------------------------------------

    def _search_clicked(self) -> None:
        self._page = 0
        self.refresh()

    @action
    def refresh(self) -> pd.DataFrame:
        """List the projects the filters select, count their handles and show the current page.

        Returns
        -------
        pandas.DataFrame
            :attr:`projects`.

        Raises
        ------
        ValueError
            The attribute filter cannot be parsed.
        BadRequestError
            The server rejected the search query (its message says why).
        """
        filters = self.filters.read()
        if filters != self._filters:
            self._page = 0
        projects = fetch_projects(self.client, filters)
        counts, self.cheap_counts = count_handles(self.client, [p["project_id"] for p in projects], cheap_only=True)
        self.projects = projects_table(projects, counts)
        self._filters = filters
        self._render()
        return self.projects

    @property
    def page(self) -> int:
        """The page shown (0-based)."""
        return self._page

    @property
    def page_count(self) -> int:
        """Number of pages of the listing (at least 1)."""
        return max(1, -(-len(self.projects) // self.page_size))

    @action
    def show_page(self, page: int) -> pd.DataFrame:
        """Show page ``page`` (0-based, clipped to the pages there are); returns its rows."""
        self._page = min(max(0, int(page)), self.page_count - 1)
        return self._render()

    def _page_rows(self) -> pd.DataFrame:
        start = self._page * self.page_size
        return self.projects.iloc[start:start + self.page_size]

    def _render(self) -> pd.DataFrame:
        self._page = min(self._page, self.page_count - 1)
        rows = self._page_rows()
        if not self.cheap_counts:
            missing = [int(p) for p, n in zip(rows["project_id"], rows["n_handles"]) if pd.isna(n)]
            if missing:
                update_counts(self.projects, count_handles(self.client, missing)[0])
                rows = self._page_rows()
        self.table.value = table_html(rows, selected=self.selected_id)
        self.pager.show(self._page, self.page_count, self._page * self.page_size, len(rows), len(self.projects),
                        self.cheap_counts)
        self._sync_selector(rows)
        return rows

    def _sync_selector(self, rows: pd.DataFrame) -> None:
        options: list[tuple[str, int | None]] = [
            (f"{int(r.project_id)} · {r.owner} · {r.state}", int(r.project_id)) for r in rows.itertuples()]
        if self.selected_id is not None and self.selected_id not in {pid for _, pid in options}:
            options.append((f"{self.selected_id} (not on this page)", self.selected_id))
        prompt = "choose a project…" if options else "no projects listed"
        self._syncing = True
        try:
            self.selector.options = [(prompt, None), *options]
            self.selector.value = self.selected_id
            if self.selected_id is None:
                self.selector.index = 0  # shows the prompt; the value stays None
        finally:
            self._syncing = False

    # -- selection ---------------------------------------------------------------------------

    def _selector_changed(self, change: dict[str, Any]) -> None:
        if self._syncing or change["new"] is None or change["new"] == self.selected_id:
            return
        self.clicked(self.select, change["new"])(None)
        if self.selected_id != change["new"]:
            self._sync_selector(self._page_rows())

    @action
    def select(self, project_id: int) -> dict[str, Any]:
        """Select a project: show its details and enable the actions; returns the project (without handles).

        Raises
        ------
        LookupError
            The project does not exist.
        """
        pid = int(project_id)
        project = self.client.get_project(pid, with_files=False)
        if project is None:
            raise LookupError(f"Project {pid} not found")
        counts = count_handles(self.client, [pid])[0]
        update_counts(self.projects, counts)
        self.selected_id, self._selected = pid, project
        self.confirmation.disarm()
        self.details.value = details_html(project, counts.get(pid))
        self.actions.enable(True)
        listed = self.projects.index[self.projects["project_id"] == pid]
        if len(listed):
            self._page = int(self.projects.index.get_loc(listed[0])) // self.page_size
        self._render()
        return project

    def _target(self, project_id: int | None) -> int:
        if project_id is not None:
            return int(project_id)
        if self.selected_id is None:
            raise ValueError("No project selected: choose one in the project list first")
        return self.selected_id

    # -- confirmation ------------------------------------------------------------------------

    @action
    def ask(self, kind: str) -> str:
        """Arm a destructive action on the selected project and return the question shown.

        ``kind`` is ``"cancel"``, ``"restart_failed"``, ``"restart_all"`` or
        ``"delete"``; nothing changes until :meth:`confirm`.
        """
        pid = self._target(None)
        counts = count_handles(self.client, [pid])[0].get(pid)
        if counts is None:
            raise LookupError(f"Project {pid} not found")
        message = confirm_message(kind, pid, counts)
        self.confirmation.arm(kind, pid, message)
        return message

    @action
    def confirm(self) -> Any:
        """Run the armed action (see :meth:`ask`); returns its result."""
        pending = self.confirmation.pending
        if pending is None:
            raise ValueError("Nothing to confirm: choose an action first")
        kind, pid = pending
        self.confirmation.disarm()
        runs: dict[str, Callable[[], Any]] = {
            "cancel": lambda: self.cancel(pid), "restart_failed": lambda: self.restart(pid, failed_only=True),
            "restart_all": lambda: self.restart(pid, failed_only=False), "delete": lambda: self.delete(pid),
        }
        return runs[kind]()
