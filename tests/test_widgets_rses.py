"""RSEPanel and the proximity-map client call against the embedded server."""

from __future__ import annotations

import html

import pytest
import responses

from dd_notebook.client import DataDispatcherClient, EndpointUnavailableError
from dd_notebook.frames import proximity_frame
from dd_notebook.palette import AVAILABILITY_COLORS
from dd_notebook.widgets import RSEPanel

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def client_for(server, tmp_path):
    def make(user: str | None) -> DataDispatcherClient:
        token = server.issue_token(user) if user else None
        return DataDispatcherClient(server.url, server.auth_url, token=token,
                                    token_library=str(tmp_path / f"lib_{user}"))
    return make


def test_get_proximity_map_feeds_proximity_frame(client_for, dd):
    rows = client_for(None).get_proximity_map()
    assert rows == dd.ok(dd.get("proximity_map"))
    frame = proximity_frame(rows)
    assert len(frame) == len(rows) and set(frame.columns) == {"cpu", "rse", "proximity"}


@responses.activate
def test_get_proximity_map_on_a_server_without_it():
    responses.get("http://upstream/dd/data/proximity_map", status=500, body="Internal Server Error")
    client = DataDispatcherClient("http://upstream/dd/data", token_library="/nonexistent/lib")
    with pytest.raises(EndpointUnavailableError, match="does not provide the proximity map"):
        client.get_proximity_map()


def test_who_may_change_rses(client_for):
    assert client_for("admin").may_change_rses() is True
    assert client_for("alice").may_change_rses() is False


def test_table_and_proximity_image(client_for, dd):
    panel = RSEPanel(client_for("alice"))
    assert panel.error == ""
    server_rses = dd.ok(dd.get("rses"))
    assert [r["name"] for r in panel.rses] == [r["name"] for r in server_rses]
    table = panel.table.value
    for rse in server_rses:
        row = table.split(f"<tr data-rse='{rse['name']}'>", 1)[1].split("</tr>", 1)[0]
        assert html.escape(rse["description"]) in row
        expected = "available" if rse["is_available"] and rse["is_enabled"] else (
            "down" if rse["is_enabled"] else "disabled")
        assert f"dd-rse-{expected}" in row
    assert AVAILABILITY_COLORS["RSE down"] in table and AVAILABILITY_COLORS["usable"] in table
    assert bytes(panel.proximity.value).startswith(PNG_MAGIC)
    assert len(panel.frame()) == len(server_rses)


def test_non_admin_toggle_is_disabled_with_the_reason(client_for, dd):
    panel = RSEPanel(client_for("alice"))
    assert panel.is_admin is False
    assert panel.mark_available.disabled and panel.mark_unavailable.disabled
    assert "only admins can change RSE availability; you are alice" in panel.admin_note.value
    before = dd.ok(dd.get("rses"))
    with pytest.raises(PermissionError):
        panel.set_available("FNAL_DCACHE", False)
    assert panel.error == "only admins can change RSE availability; you are alice"
    assert dd.ok(dd.get("rses")) == before


def test_anonymous_panel_explains_how_to_enable_the_toggle(client_for):
    panel = RSEPanel(client_for(None))
    assert panel.mark_available.disabled
    assert "log in as an admin to change RSE availability" in panel.admin_note.value


def test_admin_toggle_changes_the_server(client_for, dd):
    panel = RSEPanel(client_for("admin"))
    assert panel.is_admin and not panel.mark_unavailable.disabled
    panel.rse_choice.value = "CERN_EOS"
    panel.mark_unavailable.click()
    assert panel.error == ""
    assert dd.ok(dd.get("get_rse", params={"name": "CERN_EOS"}))["is_available"] is False
    assert "CERN_EOS is now unavailable" in panel.status.value
    assert "dd-rse-down" in panel.table.value.split("<tr data-rse='CERN_EOS'>", 1)[1].split("</tr>", 1)[0]
    assert panel.rse_choice.value == "CERN_EOS"
    panel.mark_available.click()
    assert dd.ok(dd.get("get_rse", params={"name": "CERN_EOS"}))["is_available"] is True


def test_unknown_rse(client_for):
    panel = RSEPanel(client_for("admin"))
    with pytest.raises(LookupError):
        panel.set_available("NO_SUCH_RSE", True)
    assert "NO_SUCH_RSE not found" in panel.error


def test_unreachable_server_leaves_a_message(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = DataDispatcherClient(f"http://127.0.0.1:{port}/dd/data", token_library=str(tmp_path / "lib"))
    panel = RSEPanel(client)
    assert panel.error == f"cannot reach {client.ServerURL}: is the server running? check the URL"
    assert panel.mark_available.disabled
