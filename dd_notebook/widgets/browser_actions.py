"""The actions of :class:`~dd_notebook.widgets.browser.ProjectBrowser` on one project.

Cancel, activate, restart, delete, copy with overrides, open a monitor, write a
report: each is a public method that acts at once (the browser's buttons ask
for confirmation first) and turns permission and login errors into messages
that name the project and its owner.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..client.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from ._base import action
from .browser_parts import ActionBar, CopyForm, widget_of
from .project_table import parse_key_values

log = logging.getLogger(__name__)

__all__ = ["ProjectActions"]

_COPY_KEYS = {"project_attributes": "project_attributes", "attributes": "project_attributes",
              "file_attributes": "file_attributes", "common_attributes": "file_attributes",
              "worker_timeout": "worker_timeout", "idle_timeout": "idle_timeout"}


class ProjectActions:
    """Mixin of :class:`~dd_notebook.widgets.browser.ProjectBrowser`: what can be done to one project.

    It expects the browser's ``client``, ``projects``, ``selected_id``, the
    widgets ``details``, ``actions``, ``copy_form``, ``report_links``,
    ``monitor_area`` and the methods ``refresh``, ``select``, ``_target`` and
    the :class:`~dd_notebook.widgets._base.Panel` status methods.
    """

    client: Any
    projects: pd.DataFrame
    selected_id: int | None
    details: widgets.HTML
    actions: ActionBar
    copy_form: CopyForm
    report_links: widgets.HTML
    monitor_area: widgets.VBox
    _selected: dict[str, Any] | None
    _monitor: Any
    # provided by the browser and by Panel (declared here for the type checker only)
    refresh: Callable[[], Any]
    select: Callable[[int], Any]
    show_info: Callable[[str], None]
    _target: Callable[[int | None], int]

    def _owner_of(self, pid: int) -> str | None:
        if self._selected is not None and self._selected.get("project_id") == pid:
            return self._selected.get("owner")
        owners = self.projects.loc[self.projects["project_id"] == pid, "owner"]
        return str(owners.iloc[0]) if len(owners) else None

    def _call(self, verb: str, pid: int, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a client call; turn permission, login and not-found errors into messages naming the project."""
        try:
            return method(*args, **kwargs)
        except PermissionDeniedError as exc:
            owner = self._owner_of(pid)
            whose = f"it belongs to {owner}" if owner else "it is not yours"
            raise PermissionDeniedError(exc.url, exc.status, f"Permission denied: you cannot {verb} project {pid}; "
                                        f"{whose}, and only its owner or an admin may ({exc.message})",
                                        exc.body) from None
        except AuthenticationError as exc:
            raise AuthenticationError(exc.url, exc.status, f"Not logged in or the login expired: log in again "
                                      f"to {verb} project {pid} ({exc.message})", exc.body) from None
        except NotFoundError as exc:
            raise NotFoundError(exc.url, exc.status, f"Project {pid} not found ({exc.message})", exc.body) from None

    def _after_change(self, pid: int | None, message: str) -> None:
        self.refresh()
        if pid is not None:
            self.select(pid)
        self.show_info(message)

    # -- actions -----------------------------------------------------------------------------

    @action
    def cancel(self, project_id: int | None = None) -> dict[str, Any]:
        """Cancel a project (default: the selected one); returns the project as the server answers."""
        pid = self._target(project_id)
        result = self._call("cancel", pid, self.client.cancel_project, pid)
        self._after_change(pid, f"Project {pid} cancelled")
        return result

    @action
    def activate(self, project_id: int | None = None) -> dict[str, Any]:
        """Make a project active again (default: the selected one)."""
        pid = self._target(project_id)
        result = self._call("activate", pid, self.client.activate_project, pid)
        self._after_change(pid, f"Project {pid} is active")
        return result

    @action
    def restart(self, project_id: int | None = None, failed_only: bool = True) -> dict[str, Any]:
        """Reset the failed handles of a project (``failed_only=False``: every handle) to ``initial``."""
        pid = self._target(project_id)
        if failed_only:
            result = self._call("restart", pid, self.client.restart_handles, pid, failed=True)
        else:
            result = self._call("restart", pid, self.client.restart_handles, pid, all=True)
        if result is None:
            raise LookupError(f"Project {pid} not found")
        self._after_change(pid, f"Project {pid}: {'failed' if failed_only else 'all'} handles restarted")
        return result

    @action
    def delete(self, project_id: int | None = None) -> None:
        """Delete a project with its handles and logs (owner or admin)."""
        pid = self._target(project_id)
        self._call("delete", pid, self.client.delete_project, pid)
        if pid == self.selected_id:
            self.selected_id, self._selected = None, None
            self.details.value = f"<span class='dd-note'>Project {pid} was deleted.</span>"
            self.actions.enable(False)
        self._after_change(None, f"Project {pid} deleted")

    @action
    def copy_form_toggle(self) -> None:
        """Show or hide the copy form for the selected project."""
        pid = self._target(None)
        self.copy_form.toggle(pid)

    def _copy_clicked(self) -> None:
        self.copy(**self.copy_form.read())
        self.copy_form.hide()

    @action
    def copy(self, project_id: int | None = None, **overrides: Any) -> dict[str, Any]:
        """Copy a project with overrides; the copy belongs to the caller and is selected.

        Parameters
        ----------
        project_id
            The project to copy (default: the selected one).
        **overrides
            ``project_attributes`` (alias ``attributes``) and ``file_attributes``
            (alias ``common_attributes``): dicts or ``key=value`` text;
            ``worker_timeout``/``idle_timeout``: ``None`` or ``""`` keeps the
            original's, ``"none"`` removes it, seconds or ``"<n>[smhd]"`` set it.

        Returns
        -------
        dict
            The new project as the server answers.

        Raises
        ------
        ValueError
            An unknown override, users or roles (``copy_project`` cannot set them), or bad values.
        """
        pid = self._target(project_id)
        if {"users", "roles"} & set(overrides):
            raise ValueError("users and roles cannot be set on a copy: copy_project gives the copy no users "
                             "or roles (it belongs to you)")
        unknown = sorted(set(overrides) - set(_COPY_KEYS))
        if unknown:
            raise ValueError(f"Unknown copy override(s): {', '.join(unknown)}; use project_attributes, "
                             "file_attributes, worker_timeout or idle_timeout")
        values = {_COPY_KEYS[k]: v for k, v in overrides.items()}
        timeouts = {k: (None if values.get(k) in (None, "") else values[k]) for k in ("worker_timeout", "idle_timeout")}
        result = self._call(
            "copy", pid, self.client.copy_project, pid,
            common_attributes=parse_key_values(values.get("file_attributes"), "file attribute overrides"),
            project_attributes=parse_key_values(values.get("project_attributes"), "project attribute overrides"),
            **timeouts)
        if result is None:
            raise LookupError(f"Project {pid} not found")
        new_id = int(result["project_id"])
        self._after_change(new_id, f"Project {new_id} created as a copy of project {pid}")
        return result

    @action
    def monitor(self, project_id: int | None = None) -> Any:
        """Open a :class:`~dd_notebook.widgets.monitor.ProjectMonitor` of a project below the browser.

        The monitor is refreshed once; its Start button makes it follow the project.
        """
        pid = self._target(project_id)
        from .monitor import ProjectMonitor  # imported on use: a sibling panel

        self.close_monitor()
        self._monitor = ProjectMonitor(self.client, pid)
        self.monitor_area.children = (widget_of(self._monitor),)
        try:
            self._monitor.refresh()
        except Exception:  # the monitor shows the error in its own status line and stays usable
            log.debug("first refresh of the monitor of project %s failed", pid, exc_info=True)
        return self._monitor

    def close_monitor(self) -> None:
        """Stop and remove the monitor opened by :meth:`monitor`, if any."""
        monitor, self._monitor = self._monitor, None
        if monitor is not None and monitor.running:
            monitor.stop()
        self.monitor_area.children = ()

    @action
    def report(self, project_id: int | None = None, out_dir: str | Path = "reports") -> Any:
        """Write the post-mortem report of a project (notebook and HTML) and show links to the files.

        Returns
        -------
        ReportFiles
            ``(notebook, html)`` paths, from :func:`dd_notebook.report.write_report`.
        """
        pid = self._target(project_id)
        try:
            from ..report import write_report  # imported on use: optional and heavy (nbclient, nbconvert)
        except ImportError as exc:
            raise ImportError(f"Reports are not available in this installation ({exc})") from None
        self.show_info(f"Writing the report of project {pid}…")
        files = write_report([pid], Path(out_dir), url=getattr(self.client, "ServerURL", None), html=True)
        self.report_links.value = _file_links(f"Report of project {pid}", files)
        self.show_info(f"Report of project {pid} written")
        return files

    @property
    def monitor_panel(self) -> Any:
        """The monitor opened by :meth:`monitor`, or ``None``."""
        return self._monitor


def _file_links(title: str, files: Any) -> str:
    """Links to the report files, relative to the working directory when they are under it."""
    items = []
    for path in (p for p in (getattr(files, "notebook", None), getattr(files, "html", None)) if p):
        target = Path(path)
        try:
            href = target.resolve().relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            href = target.resolve().as_uri()
        items.append(f"<li><a href='{html.escape(href, quote=True)}' target='_blank'>{html.escape(target.name)}</a> "
                     f"<code>{html.escape(str(target))}</code></li>")
    return f"<div class='dd-report-files'>{html.escape(title)}:<ul>{''.join(items)}</ul></div>"
