"""ProjectBrowser against the embedded server: filters, search, counts, confirmed actions, copy, errors."""

from __future__ import annotations

import html
import itertools
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from dd_notebook.client import DataDispatcherClient
from dd_notebook.client.errors import AuthenticationError, EndpointUnavailableError, PermissionDeniedError
from dd_notebook.server import LocalServer
from dd_notebook.widgets import browser as browser_module
from dd_notebook.widgets.browser import ProjectBrowser
from dd_notebook.widgets.project_table import ProjectFilter, attributes_match, parse_key_values

_tags = itertools.count()


class RowParser(HTMLParser):
    """Reads the browser table: project id → {column class: text}."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[int, dict[str, str]] = {}
        self._row: dict[str, str] | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "tr" and values.get("data-project-id"):
            self._row = self.rows.setdefault(int(values["data-project-id"] or 0), {})
        elif tag == "td" and self._row is not None:
            self._cell = values.get("class") or ""
            self._row[self._cell] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._cell is not None:
            self._row[self._cell] += data


def table_rows(browser: ProjectBrowser) -> dict[int, dict[str, str]]:
    parser = RowParser()
    parser.feed(browser.table.value)
    return parser.rows


def shown_counts(browser: ProjectBrowser) -> dict[int, dict[str, int]]:
    return {pid: {s: int(cells[f"dd-n-{s}"].replace(",", "")) for s in ("initial", "reserved", "done", "failed")}
            for pid, cells in table_rows(browser).items() if cells.get("dd-n-done")}


def client_for(server: LocalServer, user: str) -> DataDispatcherClient:
    return DataDispatcherClient(server.url, server.auth_url, token=server.issue_token(user), worker_id=f"w-{user}")


def new_tag() -> str:
    return f"t{next(_tags)}"


def make_project(dd: Any, user: str, n: int, tag: str, **attributes: Any) -> int:
    files = [f"{tag}:f{i}" for i in range(n)]
    attributes = {"tag": tag, "virtual": True, **attributes}
    return dd.create(files, user, project_attributes=attributes, query=f"files from {tag}:all")["project_id"]


def server_counts(dd: Any, pid: int) -> dict[str, int]:
    project = dd.ok(dd.get("project", params={"project_id": pid, "with_files": "yes", "with_replicas": "no"}))
    states = Counter(h["state"] for h in project["file_handles"])
    return {s: states.get(s, 0) for s in ("initial", "reserved", "done", "failed")}


def server_state(dd: Any, pid: int) -> str:
    return dd.ok(dd.get("project", params={"project_id": pid, "with_files": "no", "with_replicas": "no"}))["state"]


def work(client: DataDispatcherClient, pid: int, done: int = 0, failed: int = 0, reserved: int = 0) -> None:
    for outcome in ["done"] * done + ["failed"] * failed + ["reserved"] * reserved:
        handle = client.next_file(pid, stagger=0, timeout=0)
        did = f"{handle['namespace']}:{handle['name']}"
        if outcome == "done":
            client.file_done(pid, did)
        elif outcome == "failed":
            client.file_failed(pid, did, retry=False)


def browse(server: LocalServer, user: str = "alice", **filters: Any) -> ProjectBrowser:
    browser = ProjectBrowser(client_for(server, user), load=False)
    set_filters(browser, **filters)
    browser.filters.search_button.click()
    assert browser.error == ""
    return browser


def set_filters(browser: ProjectBrowser, owner: str = "", state: str = "any", attributes: str = "",
                query: str = "") -> None:
    browser.filters.owner.value = owner
    browser.filters.state.value = state
    browser.filters.attributes.value = attributes
    browser.filters.query.value = query


def confirm_visible(browser: ProjectBrowser) -> bool:
    return browser.confirmation.widget.layout.display != "none"


# -- the server extension ------------------------------------------------------------------------

def test_project_counts_endpoint_matches_handles_and_rejects_bad_input(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    alice = client_for(server, "alice")
    first, second = make_project(dd, "alice", 6, tag), make_project(dd, "bob", 3, tag)
    work(alice, first, done=2, failed=1, reserved=1)
    answer = dd.ok(dd.get("project_counts", "bob", params={"project_ids": f"{first},{second},999999"}))
    assert answer == {str(first): server_counts(dd, first), str(second): server_counts(dd, second)}
    assert answer[str(first)] == {"initial": 2, "reserved": 1, "done": 2, "failed": 1}
    assert alice.project_state_counts([first, second]) == {first: answer[str(first)], second: answer[str(second)]}
    for params, message in [({}, "project_ids must be specified"), ({"project_ids": "1,x"}, "Invalid project id"),
                            ({"project_ids": ",".join(["1"] * 5001)}, "Too many project ids"),
                            ({"project_ids": "1", "owner": "bob"}, "Unknown parameter(s): owner")]:
        response = dd.get("project_counts", "alice", params=params)
        assert response.status_code == 400 and message in response.text
    assert dd.get("project_counts", params={"project_ids": "1"}).status_code == 401


def test_client_without_the_endpoint_says_so(server: LocalServer) -> None:
    client = client_for(server, "alice")
    client._missing_endpoints.add("project_counts")
    with pytest.raises(EndpointUnavailableError, match="project_counts"):
        client.project_state_counts([1])
    assert client.project_state_counts([]) == {}


# -- filters and search --------------------------------------------------------------------------

def test_owner_state_and_attribute_filters_list_what_the_server_lists(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    mine = [make_project(dd, "alice", 2, tag, step="reco", level=1), make_project(dd, "alice", 2, tag, step="sim")]
    theirs = make_project(dd, "bob", 2, tag, step="reco")
    dd.ok(dd.get("cancel_project", "alice", params={"project_id": mine[1]}))

    def server_ids(user: str, **params: Any) -> list[int]:
        return [p["project_id"] for p in dd.ok(dd.get("projects", user, params={"with_handles": "no", **params}))]

    browser = browse(server, "alice")
    assert list(browser.projects["project_id"]) == server_ids("alice") and theirs not in server_ids("alice")
    set_filters(browser, owner="all")
    assert list(browser.refresh()["project_id"]) == server_ids("alice", owner="all")
    set_filters(browser, owner="bob", attributes=f"tag={tag}")
    assert list(browser.refresh()["project_id"]) == [theirs]
    set_filters(browser, owner="all", state="cancelled", attributes=f'{{"tag": "{tag}"}}')
    assert list(browser.refresh()["project_id"]) == [mine[1]]
    set_filters(browser, owner="all", attributes=f"tag={tag}\nstep=reco\nlevel=1")
    assert list(browser.refresh()["project_id"]) == [mine[0]]
    assert browser.projects["state"].astype(str).tolist() == ["active"]
    set_filters(browser, attributes="step")
    browser.filters.search_button.click()
    assert browser.error == "attribute filter: expected key=value, got 'step'"


def test_search_query_selects_like_the_server_and_shows_syntax_errors(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    pids = [make_project(dd, user, 1, tag, pass_=k) for k, user in enumerate(["alice", "alice", "bob"])]
    query = f"tag = {tag} and pass_ >= 1"
    expected = sorted(p["project_id"] for p in dd.ok(dd.post("search_projects", {"query": query})))
    assert expected == pids[1:]
    browser = browse(server, "alice", owner="all", query=query)
    assert list(browser.projects["project_id"]) == expected
    set_filters(browser, owner="", query=query)
    assert list(browser.refresh()["project_id"]) == [pids[1]]
    set_filters(browser, owner="bob", query=f"tag = {tag}", attributes="pass_=2")
    assert list(browser.refresh()["project_id"]) == [pids[2]]
    set_filters(browser, owner="all", query="tag = = x")
    browser.filters.search_button.click()
    server_message = dd.post("search_projects", {"query": "tag = = x"}).text
    assert server_message.startswith("Invalid search query") and browser.error == server_message


# -- counts --------------------------------------------------------------------------------------

def test_counts_shown_match_the_server(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    client = client_for(server, "alice")
    pids = [make_project(dd, "alice", 8, tag) for _ in range(3)]
    work(client, pids[0], done=3, failed=2, reserved=1)
    work(client, pids[1], done=8)
    browser = browse(server, "alice", owner="alice", attributes=f"tag={tag}")
    assert browser.cheap_counts
    shown = shown_counts(browser)
    assert shown == {pid: server_counts(dd, pid) for pid in pids}
    rows = table_rows(browser)
    assert rows[pids[0]]["dd-progress-cell"].startswith("3 / 8") and rows[pids[1]]["dd-state"] == "done"
    frame = browser.projects.set_index("project_id")
    assert frame.loc[pids[0], ["n_done", "n_failed", "n_handles"]].tolist() == [3, 2, 8]


def test_server_without_counts_endpoint_counts_the_visible_page_only(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    pids = [make_project(dd, "alice", k + 1, tag) for k in range(5)]
    client = client_for(server, "alice")
    client._missing_endpoints.add("project_counts")
    browser = ProjectBrowser(client, page_size=2, load=False)
    set_filters(browser, attributes=f"tag={tag}")
    frame = browser.refresh()
    assert not browser.cheap_counts and "counts for this page only" in browser.pager.label.value
    assert frame["n_handles"].isna().tolist() == [False, False, True, True, True]
    assert shown_counts(browser) == {pid: server_counts(dd, pid) for pid in pids[:2]}
    browser.pager.next_button.click()
    assert browser.page == 1 and set(shown_counts(browser)) == set(pids[2:4])
    assert shown_counts(browser)[pids[3]] == server_counts(dd, pids[3])
    browser.pager.next_button.click()
    assert browser.page == 2 and browser.pager.next_button.disabled and list(table_rows(browser)) == [pids[4]]
    browser.pager.previous_button.click()
    assert browser.page == 1


# -- actions behind confirmations ----------------------------------------------------------------

def test_cancel_runs_only_after_confirm_and_not_after_back(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    pid = make_project(dd, "alice", 4, tag)
    work(client_for(server, "alice"), pid, done=1)
    browser = browse(server, "alice", attributes=f"tag={tag}")
    browser.selector.value = pid
    assert browser.selected_id == pid and f"Project {pid}" in browser.details.value
    assert not confirm_visible(browser)
    browser.actions.buttons["cancel"].click()
    assert confirm_visible(browser) and server_state(dd, pid) == "active"
    assert f"Cancel project {pid} (1 done, 3 left)?" in html.unescape(browser.confirmation.message.value)
    browser.confirmation.back_button.click()
    assert not confirm_visible(browser) and server_state(dd, pid) == "active"
    browser.actions.buttons["cancel"].click()
    browser.confirmation.confirm_button.click()
    assert server_state(dd, pid) == "cancelled" and not confirm_visible(browser)
    assert browser.error == "" and f"Project {pid} cancelled" in browser.status.value
    assert table_rows(browser)[pid]["dd-state"] == "cancelled"
    browser.actions.buttons["activate"].click()
    assert server_state(dd, pid) == "active" and table_rows(browser)[pid]["dd-state"] == "active"


def test_restart_failed_and_restart_all_after_confirmation(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    pid = make_project(dd, "alice", 5, tag)
    work(client_for(server, "alice"), pid, done=2, failed=2)
    browser = browse(server, "alice", attributes=f"tag={tag}")
    browser.select(pid)
    browser.actions.buttons["restart_failed"].click()
    assert f"Restart the 2 failed handles of project {pid}?" in html.unescape(browser.confirmation.message.value)
    assert server_counts(dd, pid) == {"initial": 1, "reserved": 0, "done": 2, "failed": 2}
    browser.confirmation.confirm_button.click()
    assert server_counts(dd, pid) == {"initial": 3, "reserved": 0, "done": 2, "failed": 0}
    assert shown_counts(browser)[pid] == server_counts(dd, pid)
    browser.actions.buttons["restart_all"].click()
    browser.confirmation.back_button.click()
    assert server_counts(dd, pid)["done"] == 2
    browser.actions.buttons["restart_all"].click()
    assert "Restart all 5 handles" in html.unescape(browser.confirmation.message.value)
    browser.confirmation.confirm_button.click()
    assert server_counts(dd, pid) == {"initial": 5, "reserved": 0, "done": 0, "failed": 0}


def test_delete_after_confirmation_and_switching_project_disarms(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    keep, gone = make_project(dd, "alice", 2, tag), make_project(dd, "alice", 2, tag)
    browser = browse(server, "alice", attributes=f"tag={tag}")
    browser.select(gone)
    browser.actions.buttons["delete"].click()
    assert confirm_visible(browser)
    browser.selector.value = keep
    assert not confirm_visible(browser) and browser.confirmation.pending is None
    browser.selector.value = gone
    browser.actions.buttons["delete"].click()
    browser.confirmation.confirm_button.click()
    assert dd.get("project", params={"project_id": gone}).status_code == 404
    assert list(browser.projects["project_id"]) == [keep] and browser.selected_id is None
    assert all(b.disabled for b in browser.actions.buttons.values())


def test_actions_need_a_selection_and_methods_act_without_confirmation(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    pid = make_project(dd, "alice", 2, tag)
    browser = browse(server, "alice", attributes=f"tag={tag}")
    with pytest.raises(ValueError, match="No project selected"):
        browser.cancel()
    assert browser.error == "No project selected: choose one in the project list first"
    browser.cancel(pid)
    assert server_state(dd, pid) == "cancelled"
    browser.activate(pid)
    assert server_state(dd, pid) == "active"
    browser.confirmation.confirm_button.click()
    assert browser.error == "Nothing to confirm: choose an action first"


# -- copy ----------------------------------------------------------------------------------------

def test_copy_form_applies_the_overrides(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    pid = make_project(dd, "bob", 3, tag, step="reco")
    browser = browse(server, "alice", owner="all", attributes=f"tag={tag}\nstep=reco")
    browser.select(pid)
    browser.actions.buttons["copy"].click()
    form = browser.copy_form
    assert form.visible and f"Copy project {pid}" in form.title.value
    form.project_attributes.value = "step=reco2\npass=3"
    form.file_attributes.value = '{"priority": 5}'
    form.worker_timeout.value = "10m"
    form.idle_timeout.value = "none"
    form.submit_button.click()
    assert browser.error == ""
    new_id = browser.selected_id
    assert new_id != pid and not form.visible
    copied = dd.ok(dd.get("project", params={"project_id": new_id, "with_files": "yes", "with_replicas": "no"}))
    assert copied["owner"] == "alice"
    assert copied["attributes"] == {"tag": tag, "virtual": True, "step": "reco2", "pass": 3}
    assert copied["worker_timeout"] == 600 and copied["idle_timeout"] is None
    assert [h["attributes"] for h in copied["file_handles"]] == [{"priority": 5}] * 3
    assert f"Project {new_id} created as a copy of project {pid}" in browser.status.value
    result = browser.copy(pid, attributes={"step": "x"})
    original = dd.ok(dd.get("project", params={"project_id": pid, "with_files": "no", "with_replicas": "no"}))
    assert result["attributes"] == {"tag": tag, "virtual": True, "step": "x"}
    assert (result["worker_timeout"], result["idle_timeout"]) == (original["worker_timeout"], original["idle_timeout"])
    with pytest.raises(ValueError, match="users and roles cannot be set"):
        browser.copy(pid, users=["bob"])
    with pytest.raises(ValueError, match="Unknown copy override"):
        browser.copy(pid, colour="red")
    form.worker_timeout.value = "soon"
    form.submit_button.click()
    assert "invalid timeout: 'soon'" in browser.error


# -- errors --------------------------------------------------------------------------------------

def test_permission_errors_show_as_text_and_change_nothing(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    pid = make_project(dd, "bob", 2, tag)
    browser = browse(server, "alice", owner="bob", attributes=f"tag={tag}")
    browser.selector.value = pid
    browser.actions.buttons["cancel"].click()
    browser.confirmation.confirm_button.click()
    assert browser.error == (f"Permission denied: you cannot cancel project {pid}; it belongs to bob, "
                             "and only its owner or an admin may (Forbidden)")
    assert server_state(dd, pid) == "active" and "<" not in browser.error
    with pytest.raises(PermissionDeniedError):
        browser.restart(pid, failed_only=False)
    assert "cannot restart project" in browser.error
    admin = browse(server, "admin", owner="bob", attributes=f"tag={tag}")
    admin.cancel(pid)
    assert server_state(dd, pid) == "cancelled"


def test_choosing_a_project_deleted_meanwhile_keeps_the_selection(server: LocalServer, dd: Any) -> None:
    tag = new_tag()
    keep, gone = make_project(dd, "alice", 1, tag), make_project(dd, "alice", 1, tag)
    browser = browse(server, "alice", attributes=f"tag={tag}")
    browser.selector.value = keep
    dd.ok(dd.get("delete_project", "alice", params={"project_id": gone}))
    browser.selector.value = gone
    assert browser.error == f"Project {gone} not found"
    assert browser.selected_id == keep and browser.selector.value == keep


def test_unknown_project_and_not_logged_in(server: LocalServer) -> None:
    browser = ProjectBrowser(client_for(server, "alice"), load=False)
    with pytest.raises(LookupError):
        browser.select(987654)
    assert browser.error == "Project 987654 not found"
    anonymous = ProjectBrowser(DataDispatcherClient(server.url, server.auth_url, token_library="/nonexistent/lib"))
    assert anonymous.error.startswith("Token not found") and "log in" in anonymous.error
    with pytest.raises(AuthenticationError):
        anonymous.cancel(1)
    assert anonymous.error.startswith("Not logged in or the login expired")


# -- monitor and report --------------------------------------------------------------------------

def test_report_and_monitor_buttons_explain_a_missing_module(server: LocalServer, dd: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser_module, "_module_available", lambda name: False)
    tag = new_tag()
    pid = make_project(dd, "alice", 1, tag)
    browser = browse(server, "alice", attributes=f"tag={tag}")
    browser.select(pid)
    assert browser.actions.buttons["report"].disabled and browser.actions.buttons["monitor"].disabled
    assert not browser.actions.buttons["cancel"].disabled
    assert "dd_notebook.report" in browser.actions.buttons["report"].tooltip
    assert "Reports need the dd_notebook.report module" in browser.actions.note.value


def test_monitor_opens_below_the_browser(server: LocalServer, dd: Any) -> None:
    pytest.importorskip("dd_notebook.widgets.monitor", exc_type=ImportError)
    tag = new_tag()
    pid = make_project(dd, "alice", 2, tag)
    browser = browse(server, "alice", attributes=f"tag={tag}")
    browser.select(pid)
    browser.actions.buttons["monitor"].click()
    monitor = browser.monitor_panel
    assert browser.error == "" and monitor is not None and monitor.live.project_id == pid
    assert browser.monitor_area.children == (monitor.widget,) and "dd-monitor" in monitor.widget._dom_classes
    assert monitor.error == "" and "not refreshed yet" not in monitor.updated.value
    monitor.start()
    assert monitor.running
    browser.close_monitor()
    assert not monitor.running
    assert browser.monitor_area.children == () and browser.monitor_panel is None


@pytest.mark.slow
def test_report_writes_files_and_links_them(server: LocalServer, dd: Any, tmp_path: Path) -> None:
    report = pytest.importorskip("dd_notebook.report", exc_type=ImportError)
    if not hasattr(report, "write_report"):
        pytest.skip("dd_notebook.report has no write_report yet")
    tag = new_tag()
    pid = make_project(dd, "alice", 3, tag)
    work(client_for(server, "alice"), pid, done=2, failed=1)
    browser = browse(server, "alice", attributes=f"tag={tag}")
    browser.select(pid)
    files = browser.report(out_dir=tmp_path)
    assert Path(files.notebook).exists() and Path(files.html).exists()
    assert Path(files.html).name in browser.report_links.value


# -- scale ---------------------------------------------------------------------------------------

def test_thousand_projects_load_with_counts_and_pages(tmp_path: Path) -> None:
    with LocalServer(db=tmp_path / "big.sqlite", demo=True, demo_files=0) as big:
        client = client_for(big, "alice")
        pids = [client.create_project([f"big:p{p}_f{i}" for i in range(50)],
                                      project_attributes={"virtual": True})["project_id"] for p in range(1000)]
        work(client, pids[0], done=5, failed=1)
        browser = ProjectBrowser(client)
        assert browser.error == "" and len(browser.projects) == 1000 and browser.cheap_counts
        assert browser.page_count == 20 and len(table_rows(browser)) == 50
        assert browser.projects["n_handles"].tolist() == [50] * 1000
        assert shown_counts(browser)[pids[0]] == {"initial": 44, "reserved": 0, "done": 5, "failed": 1}
        browser.show_page(19)
        assert list(table_rows(browser)) == pids[950:]
        browser.select(pids[0])
        assert browser.page == 0


# -- the parsing helpers -------------------------------------------------------------------------

def test_attribute_text_parsing_and_matching() -> None:
    assert parse_key_values("a=1\nb=x; c=true\nd=\"q\"") == {"a": 1, "b": "x", "c": True, "d": "q"}
    assert parse_key_values('{"a": [1]}') == {"a": [1]} and parse_key_values("  ") == {}
    with pytest.raises(ValueError, match="attributes: invalid JSON object"):
        parse_key_values("{1}")
    with pytest.raises(ValueError, match="expected key=value"):
        parse_key_values("=3")
    assert attributes_match({"a": 1, "b": "x"}, {"a": 1}) and not attributes_match({"a": True}, {"a": 1})
    assert not attributes_match({}, {"a": 1})
    with pytest.raises(ValueError, match="Unknown project state 'running'"):
        ProjectFilter(state="running")
