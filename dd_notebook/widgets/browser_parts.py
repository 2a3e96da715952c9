"""Widget groups of :class:`~dd_notebook.widgets.browser.ProjectBrowser`.

Filters, pager, action buttons, the confirmation line and the copy form.

Each group owns its widgets in ``.widget`` and knows nothing about the client;
the browser wires their buttons to its actions.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from .project_table import STATE_CHOICES, ProjectFilter, parse_key_values

__all__ = ["ActionBar", "Confirmation", "CopyForm", "FilterBar", "Pager", "widget_of"]


def _hidden(widget: widgets.Widget, hidden: bool) -> None:
    widget.layout.display = "none" if hidden else None


def widget_of(obj: Any) -> widgets.Widget:
    """The widget that shows ``obj``: itself, its ``.widget``, or an Output holding its display data."""
    if isinstance(obj, widgets.Widget):
        return obj
    inner = getattr(obj, "widget", None)
    if isinstance(inner, widgets.Widget):
        return inner
    output = widgets.Output()
    output.append_display_data(obj)
    return output


class FilterBar:
    """Owner, state, attributes and search-query inputs with the Search/Refresh button."""

    def __init__(self) -> None:
        self.owner = widgets.Text(value="", description="owner", placeholder="mine, all or a user",
                                  tooltip="empty: your projects; all: everyone's; or one user name",
                                  layout=widgets.Layout(width="20em"))
        self.owner.add_class("dd-browser-owner")
        self.state = widgets.Dropdown(options=list(STATE_CHOICES), value="any", description="state",
                                      layout=widgets.Layout(width="14em"))
        self.state.add_class("dd-browser-state")
        self.attributes = widgets.Textarea(value="", description="attributes", rows=2,
                                           placeholder="key=value per line, or a JSON object",
                                           layout=widgets.Layout(width="30em"))
        self.attributes.add_class("dd-browser-attributes")
        self.query = widgets.Text(value="", description="search", placeholder="e.g. step = reco and id > 100",
                                  layout=widgets.Layout(width="30em"))
        self.query.add_class("dd-browser-query")
        self.search_button = widgets.Button(description="Search / Refresh", icon="search")
        self.search_button.add_class("dd-browser-search")
        self.widget = widgets.VBox([widgets.HBox([self.owner, self.state, self.search_button]),
                                    widgets.HBox([self.query, self.attributes])])

    def read(self) -> ProjectFilter:
        """The filters as entered.

        Raises
        ------
        ValueError
            The attributes cannot be parsed.
        """
        return ProjectFilter(owner=self.owner.value.strip(), state=self.state.value,
                             attributes=parse_key_values(self.attributes.value, "attribute filter"),
                             query=self.query.value.strip())


class Pager:
    """Previous/next buttons and a line saying which rows are shown."""

    def __init__(self) -> None:
        self.previous_button = widgets.Button(description="◀ previous", layout=widgets.Layout(width="8em"))
        self.previous_button.add_class("dd-browser-previous")
        self.next_button = widgets.Button(description="next ▶", layout=widgets.Layout(width="8em"))
        self.next_button.add_class("dd-browser-next")
        self.label = widgets.HTML(value="")
        self.label.add_class("dd-browser-page")
        self.widget = widgets.HBox([self.previous_button, self.label, self.next_button])

    def show(self, page: int, pages: int, first: int, shown: int, total: int, cheap_counts: bool) -> None:
        """Describe page ``page`` of ``pages`` (rows ``first`` to ``first + shown`` of ``total``) and enable
        the buttons that apply."""
        rows = f"rows {first + 1:,}–{first + shown:,} of {total:,}" if shown else f"{total:,} projects"
        note = "" if cheap_counts else " · this server counts handles per project: counts for this page only"
        self.label.value = (f"<span class='dd-note'>&nbsp;page {page + 1} of {pages} · {rows}"
                            f"{html.escape(note)}&nbsp;</span>")
        self.previous_button.disabled = page <= 0
        self.next_button.disabled = page >= pages - 1


class ActionBar:
    """The buttons acting on the selected project.

    Parameters
    ----------
    report_available, monitor_available
        Whether the report module and the monitor panel can be imported; when
        not, their buttons stay disabled and a note says why.
    """

    LABELS = {"cancel": "Cancel…", "activate": "Activate", "restart_failed": "Restart failed…",
              "restart_all": "Restart all…", "delete": "Delete…", "copy": "Copy…", "monitor": "Monitor",
              "report": "Report"}

    def __init__(self, report_available: bool, monitor_available: bool) -> None:
        self.available = {"report": report_available, "monitor": monitor_available}
        self.buttons: dict[str, widgets.Button] = {}
        for name, label in self.LABELS.items():
            button = widgets.Button(description=label, layout=widgets.Layout(width="auto"))
            button.add_class(f"dd-browser-{name.replace('_', '-')}")
            self.buttons[name] = button
        missing = [name for name, ok in self.available.items() if not ok]
        reasons = {"report": "reports need the dd_notebook.report module, which is not installed here",
                   "monitor": "the monitor needs dd_notebook.widgets.monitor, which is not installed here"}
        for name in missing:
            self.buttons[name].tooltip = reasons[name]
        self.note = widgets.HTML(value="".join(f"<div class='dd-note'>{html.escape(reasons[n].capitalize())}.</div>"
                                               for n in missing))
        self.note.add_class("dd-browser-actions-note")
        self.widget = widgets.VBox([widgets.HBox(list(self.buttons.values())), self.note])

    def enable(self, enabled: bool) -> None:
        """Enable the buttons (those whose module is missing stay disabled)."""
        for name, button in self.buttons.items():
            button.disabled = not (enabled and self.available.get(name, True))


class Confirmation:
    """The "are you sure?" line of a destructive action: a question, Confirm and Back."""

    def __init__(self) -> None:
        self.message = widgets.HTML(value="")
        self.confirm_button = widgets.Button(description="Confirm", button_style="danger")
        self.confirm_button.add_class("dd-confirm-yes")
        self.back_button = widgets.Button(description="Back")
        self.back_button.add_class("dd-confirm-back")
        self.widget = widgets.HBox([self.message, self.confirm_button, self.back_button])
        self.widget.add_class("dd-confirm")
        self.pending: tuple[str, int] | None = None
        _hidden(self.widget, True)

    def arm(self, kind: str, project_id: int, question: str) -> None:
        """Ask ``question`` about action ``kind`` on ``project_id``; nothing runs until confirmed."""
        self.pending = (kind, project_id)
        self.message.value = f"<b>{html.escape(question)}</b>&nbsp;"
        _hidden(self.widget, False)

    def disarm(self) -> None:
        """Forget the armed action and hide the line."""
        self.pending = None
        self.message.value = ""
        _hidden(self.widget, True)


class CopyForm:
    """Overrides for ``copy_project``: project and file attributes, worker and idle timeouts."""

    def __init__(self) -> None:
        self.title = widgets.HTML(value="")
        self.project_attributes = widgets.Textarea(description="project attrs", rows=2,
                                                   style={"description_width": "8.5em"},
                                                   placeholder="overrides: key=value per line, or JSON")
        self.project_attributes.add_class("dd-copy-project-attributes")
        self.file_attributes = widgets.Textarea(description="file attrs", rows=2,
                                                style={"description_width": "8.5em"},
                                                placeholder="overrides: key=value per line, or JSON")
        self.file_attributes.add_class("dd-copy-file-attributes")
        hint = "empty: keep · none · 90 · 10m · 2h"
        self.worker_timeout = widgets.Text(description="worker timeout", placeholder=hint,
                                           style={"description_width": "8.5em"})
        self.worker_timeout.add_class("dd-copy-worker-timeout")
        self.idle_timeout = widgets.Text(description="idle timeout", placeholder=hint,
                                         style={"description_width": "8.5em"})
        self.idle_timeout.add_class("dd-copy-idle-timeout")
        self.submit_button = widgets.Button(description="Create copy", button_style="primary")
        self.submit_button.add_class("dd-copy-submit")
        self.close_button = widgets.Button(description="Close")
        self.close_button.add_class("dd-copy-close")
        note = widgets.HTML("<span class='dd-note'>The copy belongs to you; copy_project gives it no extra users "
                            "or roles.</span>")
        self.widget = widgets.VBox([self.title, widgets.HBox([self.project_attributes, self.file_attributes]),
                                    widgets.HBox([self.worker_timeout, self.idle_timeout]), note,
                                    widgets.HBox([self.submit_button, self.close_button])])
        self.widget.add_class("dd-browser-copy")
        self.project_id: int | None = None
        _hidden(self.widget, True)

    @property
    def visible(self) -> bool:
        """Whether the form is shown."""
        return self.widget.layout.display != "none"

    def toggle(self, project_id: int) -> None:
        """Show the form for ``project_id``, or hide it when it is already shown for that project."""
        if self.visible and self.project_id == project_id:
            self.hide()
            return
        self.project_id = project_id
        self.title.value = f"<div class='dd-title'>Copy project {int(project_id)}</div>"
        _hidden(self.widget, False)

    def hide(self) -> None:
        """Hide the form (its inputs are kept)."""
        _hidden(self.widget, True)

    def read(self) -> dict[str, Any]:
        """The overrides entered, as keyword arguments of :meth:`ProjectBrowser.copy`."""
        return {"project_id": self.project_id, "project_attributes": self.project_attributes.value,
                "file_attributes": self.file_attributes.value, "worker_timeout": self.worker_timeout.value.strip(),
                "idle_timeout": self.idle_timeout.value.strip()}
