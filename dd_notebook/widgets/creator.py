"""``ProjectCreator``: an MQL query, a preview of what it selects, then a project made from it."""

from __future__ import annotations

import html
import json
import os
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..metacat import MetaCatBadRequest, MetaCatClient, MetaCatNotFound
from ._base import Panel, action, panel_style
from .preview import Preview, compute_preview

__all__ = ["ProjectCreator", "ProjectOptions", "QueryError", "default_metacat"]

#: Units of the timeout dropdowns, in seconds.
TIME_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400}


class QueryError(ValueError):
    """The catalog rejected the MQL query.

    ``str(exc)`` is the catalog's whole message (with the line, column and
    caret of a syntax error); :attr:`message` is its first line.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.details = text
        self.message = "invalid query: " + (text.strip().splitlines() or [""])[0]


def default_metacat(client: Any) -> MetaCatClient:
    """The catalog of ``client``'s server: env ``METACAT_SERVER_URL``, else ``<base>/metacat/app``.

    The embedded server mounts the catalog at ``<base>/metacat/app`` when the
    DD URL is ``<base>/dd/data``.

    Raises
    ------
    ValueError
        No catalog URL is known.
    """
    url = os.environ.get("METACAT_SERVER_URL")
    server = str(getattr(client, "ServerURL", "") or "").rstrip("/")
    if not url and server.endswith("/dd/data"):
        url = server[: -len("/dd/data")] + "/metacat/app"
    if not url:
        raise ValueError("no MetaCat URL known: pass metacat=MetaCatClient(url) or set METACAT_SERVER_URL")
    return MetaCatClient(url)


class _TimeoutField:
    """A number and a unit; empty means no timeout."""

    def __init__(self, label: str, value: str = "", unit: str = "h") -> None:
        self.label = label
        self.number = widgets.Text(value=value, placeholder="none", layout=widgets.Layout(width="80px"))
        self.unit = widgets.Dropdown(options=list(TIME_UNITS), value=unit, layout=widgets.Layout(width="70px"))
        self.widget = widgets.HBox([widgets.Label(label, layout=widgets.Layout(width="110px")), self.number,
                                    self.unit])

    def seconds(self) -> float | None:
        text = self.number.value.strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{self.label} must be a number (or empty for none), not {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise ValueError(f"{self.label} must be a positive number of {self.unit.value}, not {text}")
        return value * TIME_UNITS[self.unit.value]


def _attribute_value(text: str) -> Any:
    """A JSON number, boolean or null as such; anything else as the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, (bool, int, float)) else text


def _names(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


class ProjectOptions:
    """The project options: attributes (key/value rows), timeouts, users, roles, copied metadata, virtual.

    Attributes
    ----------
    attribute_rows
        ``(key Text, value Text)`` pairs; :meth:`add_attribute` / :meth:`remove_attribute` change them.
    worker_timeout, idle_timeout
        Number + unit fields (empty = none).
    users, roles, copy_metadata
        Comma-separated lists.
    virtual
        The ``virtual`` project attribute.
    """

    def __init__(self) -> None:
        self.attribute_rows: list[tuple[widgets.Text, widgets.Text]] = []
        self._listeners: list[Callable[[Any], None]] = []
        self._rows_box = widgets.VBox()
        self.add_row_button = widgets.Button(description="add attribute", icon="plus",
                                             layout=widgets.Layout(width="140px"))
        self.add_row_button.add_class("dd-add-attribute")
        self.add_row_button.on_click(lambda _: self.add_attribute())
        self.worker_timeout = _TimeoutField("worker timeout", unit="h")
        self.idle_timeout = _TimeoutField("idle timeout", value="72", unit="h")
        self.users = widgets.Text(description="users", placeholder="alice, bob")
        self.roles = widgets.Text(description="roles", placeholder="prod")
        self.copy_metadata = widgets.Text(description="copy fields", placeholder="core.runs, size")
        self.virtual = widgets.Checkbox(description="virtual (no real files)", value=False)
        for widget in (self.worker_timeout.number, self.worker_timeout.unit, self.idle_timeout.number,
                       self.idle_timeout.unit, self.users, self.roles, self.copy_metadata, self.virtual):
            widget.observe(self._changed, names="value")
        self.widget = widgets.Accordion(children=[widgets.VBox([
            widgets.HTML("<b>project attributes</b>"), self._rows_box, self.add_row_button,
            self.worker_timeout.widget, self.idle_timeout.widget, self.users, self.roles, self.copy_metadata,
            self.virtual])], titles=("Options",))
        self.widget.add_class("dd-options")

    def on_change(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback`` whenever an option changes."""
        self._listeners.append(callback)

    def _changed(self, change: Any = None) -> None:
        for callback in self._listeners:
            callback(change)

    def add_attribute(self, key: str = "", value: str = "") -> tuple[widgets.Text, widgets.Text]:
        """Add an attribute row and return its ``(key, value)`` fields."""
        key_field = widgets.Text(value=key, placeholder="name", layout=widgets.Layout(width="160px"))
        value_field = widgets.Text(value=value, placeholder="value", layout=widgets.Layout(width="220px"))
        remove = widgets.Button(description="remove", icon="minus", layout=widgets.Layout(width="100px"))
        remove.add_class("dd-remove-attribute")
        pair = (key_field, value_field)
        remove.on_click(lambda _: self.remove_attribute(pair))
        key_field.observe(self._changed, names="value")
        value_field.observe(self._changed, names="value")
        self.attribute_rows.append(pair)
        self._rows_box.children = (*self._rows_box.children, widgets.HBox([key_field, value_field, remove]))
        self._changed()
        return pair

    def remove_attribute(self, pair: tuple[widgets.Text, widgets.Text]) -> None:
        """Remove the attribute row whose fields are ``pair``."""
        index = self.attribute_rows.index(pair)
        del self.attribute_rows[index]
        children = list(self._rows_box.children)
        del children[index]
        self._rows_box.children = tuple(children)
        self._changed()

    def values(self) -> dict[str, Any]:
        """The options as ``create_project_from_query`` keyword arguments.

        Raises
        ------
        ValueError
            A timeout is not a positive number, or an attribute has a value but no name
            or appears twice.
        """
        attributes: dict[str, Any] = {}
        for key_field, value_field in self.attribute_rows:
            key = key_field.value.strip()
            if not key:
                if value_field.value.strip():
                    raise ValueError(f"the attribute with value {value_field.value.strip()!r} needs a name")
                continue
            if key in attributes:
                raise ValueError(f"project attribute {key!r} is given twice")
            attributes[key] = _attribute_value(value_field.value.strip())
        if self.virtual.value:
            attributes["virtual"] = True
        return {"project_attributes": attributes, "worker_timeout": self.worker_timeout.seconds(),
                "idle_timeout": self.idle_timeout.seconds(), "users": _names(self.users.value),
                "roles": _names(self.roles.value), "copy_metadata": _names(self.copy_metadata.value)}


class ProjectCreator(Panel):
    """MQL textarea, Preview and Create buttons, project options, and a Monitor button for the new project.

    Parameters
    ----------
    client
        A logged-in :class:`~dd_notebook.client.DataDispatcherClient`.
    metacat
        A MetaCat client (default: :func:`default_metacat`).

    Attributes
    ----------
    query, preview_button, create_button, monitor_button, preview_html, created
        The widgets (CSS classes ``dd-query``, ``dd-preview-button``,
        ``dd-create-button``, ``dd-monitor-button``, ``dd-preview``, ``dd-created``).
    options
        The :class:`ProjectOptions` widgets.
    last_preview
        The latest :class:`~dd_notebook.widgets.preview.Preview`, or None.
    project
        The project created last, or None.
    on_monitor
        Called with the project id when Monitor is pressed, instead of showing
        a :class:`~dd_notebook.widgets.monitor.ProjectMonitor` under the panel.
    """

    def __init__(self, client: Any, metacat: Any = None) -> None:
        super().__init__()
        self.client = client
        self.metacat = metacat if metacat is not None else default_metacat(client)
        self.last_preview: Preview | None = None
        self.project: dict[str, Any] | None = None
        self.on_monitor: Callable[[int], Any] | None = None
        self._lock = threading.Lock()
        self._busy = False
        self._empty_for: str | None = None
        self._created_for: str | None = None
        self.query = widgets.Textarea(placeholder="files from dune:all where core.runs[any] in 27000:27010",
                                      layout=widgets.Layout(width="100%", height="80px"))
        self.options = ProjectOptions()
        self.preview_button = widgets.Button(description="Preview", icon="search")
        self.create_button = widgets.Button(description="Create project", button_style="primary", icon="plus",
                                            disabled=True)
        self.monitor_button = widgets.Button(description="Monitor", icon="line-chart", disabled=True)
        self.preview_html = widgets.HTML()
        self.created = widgets.HTML()
        self.monitor_area = widgets.VBox()
        for widget, css in ((self.query, "dd-query"), (self.preview_button, "dd-preview-button"),
                            (self.create_button, "dd-create-button"), (self.monitor_button, "dd-monitor-button"),
                            (self.preview_html, "dd-preview"), (self.created, "dd-created")):
            widget.add_class(css)
        self.preview_button.on_click(self.clicked(self.preview))
        self.create_button.on_click(self.clicked(self._create_clicked))
        self.monitor_button.on_click(self.clicked(self.show_monitor))
        self.query.observe(self._inputs_changed, names="value")
        self.options.on_change(self._inputs_changed)
        self.widget = widgets.VBox([
            panel_style(), widgets.HTML("<div class='dd-title'>New project from an MQL query</div>"), self.query,
            self.options.widget, widgets.HBox([self.preview_button, self.create_button]), self.status,
            self.preview_html, widgets.HBox([self.created, self.monitor_button]), self.monitor_area])
        self.widget.add_class("dd-panel")
        self.widget.add_class("dd-creator")

    # -- state of the Create button --------------------------------------------------------------

    @staticmethod
    def _key(query: str, settings: dict[str, Any]) -> str:
        return json.dumps([query.strip(), settings], sort_keys=True, default=str)

    def _signature(self) -> str | None:
        try:
            return self._key(self.query.value, self.options.values())
        except ValueError:
            return None

    def _inputs_changed(self, _: Any = None) -> None:
        self._update_create_button()

    def _update_create_button(self) -> None:
        text = self.query.value.strip()
        self.create_button.disabled = (self._busy or not text or text == self._empty_for
                                       or (self._created_for is not None and self._signature() == self._created_for))

    # -- actions ---------------------------------------------------------------------------------

    def _query_text(self, query: str | None) -> str:
        if query is not None:
            self.query.value = query
        text = self.query.value.strip()
        if not text:
            raise ValueError("enter an MQL query, e.g. files from dune:all limit 100")
        return text

    @action
    def preview(self, query: str | None = None) -> Preview:
        """Summarise what ``query`` (default: the textarea's) selects and show it.

        Raises
        ------
        QueryError
            The catalog rejected the query (shown with its caret in the panel).
        """
        text = self._query_text(query)
        self.preview_html.value = ""
        try:
            result = compute_preview(self.metacat, text, self.client)
        except (MetaCatBadRequest, MetaCatNotFound) as exc:
            self.preview_html.value = (f"<pre class='dd-mql-error dd-error' style='white-space:pre'>"
                                       f"{html.escape(exc.message)}</pre>")
            self._empty_for = None
            raise QueryError(exc.message) from None
        self.last_preview = result
        self._empty_for = text if result.file_count == 0 else None
        self.preview_html.value = result._repr_html_()
        self._update_create_button()
        if result.file_count == 0:
            self.show_info("the query selected no files: change it to create a project")
        return result

    def _create_clicked(self) -> None:
        if not self.create_button.disabled:
            self.create()

    @action
    def create(self, **options: Any) -> dict[str, Any]:
        """Create the project from the textarea's query and return it.

        Options from the widgets (see :meth:`ProjectOptions.values`) are
        overridden by ``options``: ``project_attributes``, ``worker_timeout``,
        ``idle_timeout`` (seconds or None), ``users``, ``roles``,
        ``copy_metadata`` and anything else ``create_project`` accepts.

        Raises
        ------
        RuntimeError
            A creation is already running.
        ValueError
            The query selected no files, an option is invalid, or this query
            with these options already made a project in this panel.
        """
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("a project is already being created: wait for it to finish")
        try:
            self._busy = True
            self._update_create_button()
            return self._create(options)
        finally:
            self._busy = False
            self._lock.release()
            self._update_create_button()

    def _create(self, overrides: dict[str, Any]) -> dict[str, Any]:
        text = self._query_text(None)
        settings = {**self.options.values(), **overrides}
        key = self._key(text, settings)
        if key == self._created_for and self.project is not None:
            raise ValueError(f"project {self.project['project_id']} was already created from this query and "
                             "these options: change them to create another")
        copy_metadata = settings.pop("copy_metadata", ())
        try:
            project = self.client.create_project_from_query(text, metacat=self.metacat, copy_metadata=copy_metadata,
                                                            **settings)
        except (MetaCatBadRequest, MetaCatNotFound) as exc:
            raise QueryError(exc.message) from None
        except ValueError:
            self._empty_for = text
            raise
        self.project = project
        self._created_for = key
        project_id = project["project_id"]
        handles = len(project.get("file_handles") or [])
        self.created.value = (f"<span class='dd-created-id' data-project-id='{int(project_id)}'>created project "
                              f"{int(project_id)} with {handles:,} files</span>")
        self.monitor_button.disabled = False
        self.show_info(f"project {project_id} created")
        return project

    @action
    def show_monitor(self) -> Any:
        """Show a :class:`~dd_notebook.widgets.monitor.ProjectMonitor` of the new project under the panel.

        Calls :attr:`on_monitor` with the project id instead when it is set.
        """
        if self.project is None:
            raise ValueError("create a project first")
        project_id = int(self.project["project_id"])
        if self.on_monitor is not None:
            return self.on_monitor(project_id)
        from .monitor import ProjectMonitor  # imported when needed: the monitor is a separate panel

        monitor = ProjectMonitor(self.client, project_id)
        self.monitor_area.children = (monitor.widget,)
        return monitor
