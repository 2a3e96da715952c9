"""``RSEPanel``: the RSE table with availability colours, the proximity heatmap, and (for admins) toggles.

Who is an admin: DD tokens carry only the user name (``sub``), and the auth
server's ``whoami`` answers only the name too, so the panel asks the data
server itself with :meth:`DataDispatcherClient.may_change_rses
<dd_notebook.client.rses.RSEMixin.may_change_rses>`: a ``set_rse_availability``
call with an invalid value, which the server answers 403 for non-admins and
400 for admins before anything is changed.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..client.errors import AuthenticationError, EndpointUnavailableError, NetworkError, PermissionDeniedError
from ..frames import proximity_frame, rses_frame
from ..palette import AVAILABILITY_COLORS
from ..plots import plot_proximity
from ._base import Panel, action, figure_png, panel_style

__all__ = ["RSEPanel"]

_COLUMNS = ("name", "description", "available", "tape", "enabled", "preference", "type")


def _flag(value: Any) -> str:
    return "" if value is None else ("yes" if value else "no")


def _availability_cell(available: Any, enabled: Any) -> str:
    if enabled is not True:
        label, color = "disabled", AVAILABILITY_COLORS["RSE disabled"]
    elif available is True:
        label, color = "available", AVAILABILITY_COLORS["usable"]
    else:
        label, color = "down", AVAILABILITY_COLORS["RSE down"]
    return (f"<span class='dd-rse-{label}' style='background:{color};color:#fff;padding:0 6px;"
            f"border-radius:8px'>{label}</span>")


def rse_table_html(rses: list[dict[str, Any]]) -> str:
    """An escaped HTML table of RSEs with a coloured availability badge."""
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in _COLUMNS)
    body = []
    for rse in rses:
        cells = [html.escape(str(rse.get("name") or "")), html.escape(str(rse.get("description") or "")),
                 _availability_cell(rse.get("is_available"), rse.get("is_enabled")), _flag(rse.get("is_tape")),
                 _flag(rse.get("is_enabled")), html.escape("" if rse.get("preference") is None
                                                           else str(rse["preference"])),
                 html.escape(str(rse.get("type") or ""))]
        body.append(f"<tr data-rse='{html.escape(str(rse.get('name')))}'>"
                    + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells) + "</tr>")
    return f"<table class='dd-table dd-rse-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class RSEPanel(Panel):
    """RSEs, their availability, the proximity map, and availability toggles for admins.

    Parameters
    ----------
    client
        A :class:`~dd_notebook.client.DataDispatcherClient` (logged in to change RSEs).

    Attributes
    ----------
    table, proximity, rse_choice, mark_available, mark_unavailable, admin_note
        The widgets (CSS classes ``dd-rses``, ``dd-proximity``, ``dd-rse-choice``,
        ``dd-mark-available``, ``dd-mark-unavailable``, ``dd-admin-note``).
    rses
        The RSE dicts of the last refresh.
    is_admin
        Whether the user may change RSE availability (see the module notes).
    """

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client
        self.rses: list[dict[str, Any]] = []
        self.is_admin = False
        self.table = widgets.HTML()
        self.proximity = widgets.Image(format="png", layout=widgets.Layout(max_width="720px"))
        self.proximity_note = widgets.HTML()
        self.rse_choice = widgets.Dropdown(description="RSE", options=[])
        self.mark_available = widgets.Button(description="mark available", icon="check", disabled=True)
        self.mark_unavailable = widgets.Button(description="mark unavailable", icon="ban", disabled=True)
        self.admin_note = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        for widget, css in ((self.table, "dd-rses"), (self.proximity, "dd-proximity"),
                            (self.rse_choice, "dd-rse-choice"), (self.mark_available, "dd-mark-available"),
                            (self.mark_unavailable, "dd-mark-unavailable"), (self.admin_note, "dd-admin-note"),
                            (self.refresh_button, "dd-refresh-button")):
            widget.add_class(css)
        self.mark_available.on_click(self.clicked(self._toggle, True))
        self.mark_unavailable.on_click(self.clicked(self._toggle, False))
        self.refresh_button.on_click(self.clicked(self.refresh))
        self.widget = widgets.VBox([
            panel_style(), widgets.HBox([widgets.HTML("<div class='dd-title'>Storage elements (RSEs)</div>"),
                                         self.refresh_button]),
            self.table, widgets.HBox([self.rse_choice, self.mark_available, self.mark_unavailable]),
            self.admin_note, self.status, self.proximity_note, self.proximity])
        self.widget.add_class("dd-panel")
        self.widget.add_class("dd-rse-panel")
        self.clicked(self.refresh)(None)  # a server that cannot be reached leaves its message in the panel

    @property
    def user(self) -> str | None:
        """The user name of the client's token, or None."""
        token = getattr(self.client, "Token", None)
        return token.subject if token is not None else None

    def _admin_status(self) -> tuple[bool, str]:
        user = self.user
        if user is None:
            return False, "log in as an admin to change RSE availability"
        try:
            admin = self.client.may_change_rses()
        except AuthenticationError as exc:
            return False, f"log in again to change RSE availability ({exc.message})"
        if not admin:
            return False, f"only admins can change RSE availability; you are {user}"
        return True, f"you are {user} (admin): changes apply to the server at once"

    @action
    def refresh(self) -> None:
        """Reload the RSEs, the proximity map and whether the user may change availability."""
        try:
            self.rses = self.client.list_rses()
        except NetworkError:
            raise ConnectionError(f"cannot reach {self.client.ServerURL}: is the server running? "
                                  "check the URL") from None
        self.table.value = rse_table_html(self.rses)
        names = [r["name"] for r in self.rses]
        current = self.rse_choice.value
        self.rse_choice.options = names
        if current in names:
            self.rse_choice.value = current
        self.is_admin, reason = self._admin_status()
        self.mark_available.disabled = self.mark_unavailable.disabled = not (self.is_admin and names)
        self.admin_note.value = f"<span class='dd-note'>{html.escape(reason)}</span>"
        self._draw_proximity(names)

    def _draw_proximity(self, names: list[str]) -> None:
        try:
            rows = self.client.get_proximity_map()
        except EndpointUnavailableError as exc:
            self.proximity.value = b""
            self.proximity.layout.display = "none"
            self.proximity_note.value = f"<span class='dd-note'>{html.escape(exc.message)}</span>"
            return
        figure = Figure(figsize=(7.0, 3.6))
        plot_proximity(proximity_frame(rows), ax=figure.add_subplot(), rses=names)
        figure.tight_layout()
        self.proximity.value = figure_png(figure)
        self.proximity.layout.display = None
        self.proximity_note.value = ""

    def frame(self) -> Any:
        """The RSEs of the last refresh as a DataFrame (:func:`dd_notebook.frames.rses_frame`)."""
        return rses_frame(self.rses)

    def _toggle(self, available: bool) -> None:
        if self.rse_choice.value is None:
            raise ValueError("choose an RSE first")
        self.set_available(self.rse_choice.value, available)

    @action
    def set_available(self, name: str, available: bool) -> dict[str, Any]:
        """Mark RSE ``name`` available or unavailable on the server (admins only) and refresh.

        Raises
        ------
        PermissionError
            The user is not an admin.
        LookupError
            There is no such RSE.
        """
        try:
            rse = self.client.set_rse_availability(name, available)
        except PermissionDeniedError:
            raise PermissionError(f"only admins can change RSE availability; you are {self.user}") from None
        if rse is None:
            raise LookupError(f"RSE {name} not found")
        self.refresh()
        self.show_info(f"{name} is now {'available' if available else 'unavailable'}")
        return rse
