"""ProjectCreator and the preview against the embedded server with a small demo catalog."""

from __future__ import annotations

import html
import re
import sqlite3

import pytest

from dd_notebook.client import DataDispatcherClient, EndpointUnavailableError
from dd_notebook.metacat import MetaCatBadRequest, MetaCatClient
from dd_notebook.server import LocalServer
from dd_notebook.widgets import ProjectCreator
from dd_notebook.widgets.creator import QueryError, default_metacat
from dd_notebook.widgets.preview import AVAILABILITY, compute_preview

RAW = "files from hd-protodune:raw-2024"


@pytest.fixture(scope="module")
def catalog_server(tmp_path_factory):
    with LocalServer(db=tmp_path_factory.mktemp("creator") / "dd.sqlite", demo=True, demo_files=300) as srv:
        srv.add_user("dave", "dave", roles=("analysis",))
        yield srv


@pytest.fixture(scope="module")
def alice(catalog_server, tmp_path_factory):
    library = tmp_path_factory.mktemp("lib") / "token_library"
    return DataDispatcherClient(catalog_server.url, catalog_server.auth_url, token_library=str(library),
                                token=catalog_server.issue_token("alice"))


@pytest.fixture(scope="module")
def admin(catalog_server, tmp_path_factory):
    library = tmp_path_factory.mktemp("lib") / "token_library"
    return DataDispatcherClient(catalog_server.url, catalog_server.auth_url, token_library=str(library),
                                token=catalog_server.issue_token("admin"))


@pytest.fixture(scope="module")
def metacat(catalog_server):
    return MetaCatClient(catalog_server.metacat_url)


@pytest.fixture()
def creator(alice):
    return ProjectCreator(alice)


def db(server) -> sqlite3.Connection:
    return sqlite3.connect(server.db_path)


def test_default_catalog_is_derived_from_the_dd_url(alice, catalog_server, monkeypatch):
    monkeypatch.delenv("METACAT_SERVER_URL", raising=False)
    assert default_metacat(alice).server_url == catalog_server.metacat_url
    monkeypatch.setenv("METACAT_SERVER_URL", "http://elsewhere/app")
    assert default_metacat(alice).server_url == "http://elsewhere/app"


def test_preview_counts_sizes_and_datasets_match_the_catalog(creator, metacat, catalog_server):
    creator.query.value = "files from dune:all"
    creator.preview_button.click()
    assert creator.error == ""
    preview = creator.last_preview
    summary = metacat.summary("files from dune:all")
    assert preview.file_count == summary["count"] and preview.total_size == summary["total_size"]
    shown = html.unescape(creator.preview_html.value)
    assert f"{summary['count']:,} files, {preview.total_size_text}" in shown
    by_dataset = dict(zip(preview.by_dataset["dataset"], preview.by_dataset["files"]))
    for dataset in metacat.list_datasets():
        assert by_dataset[f"{dataset['namespace']}:{dataset['name']}"] == dataset["file_count"]
    assert len(preview.rows) == 20 and list(preview.rows.columns) == ["namespace", "name", "size", "datasets",
                                                                       "replicas"]
    first = next(iter(metacat.query("files from dune:all")))
    assert (preview.rows.loc[0, "namespace"], preview.rows.loc[0, "name"]) == (first["namespace"], first["name"])
    assert "dune:all" in preview.rows.loc[0, "datasets"]
    assert not creator.create_button.disabled


def test_preview_replica_availability_matches_the_server(creator, catalog_server):
    preview = creator.preview("files from dune:all")
    assert creator.query.value == "files from dune:all"
    conn = db(catalog_server)
    rows = conn.execute("SELECT r.rse, r.available, s.is_available, s.is_tape FROM replicas r JOIN rses s "
                        "ON s.name = r.rse JOIN mc_files f ON f.namespace = r.namespace AND f.name = r.name").fetchall()
    expected: dict[tuple[str, str], int] = {}
    for rse, available, rse_up, tape in rows:
        category = ("RSE down" if not rse_up else "available" if available else
                    "tape not staged" if tape else "replica unavailable")
        expected[(rse, category)] = expected.get((rse, category), 0) + 1
    got = {(rse, category): int(n) for rse, counts in preview.by_rse.iterrows() for category, n in counts.items() if n}
    assert got == expected
    assert sum(preview.by_availability.values()) == preview.file_count
    assert set(preview.by_availability) == set(AVAILABILITY)
    assert "tape not staged" in creator.preview_html.value and "RSE down" in creator.preview_html.value


def test_each_availability_category(alice, admin, metacat, catalog_server):
    conn = db(catalog_server)
    tape_file = conn.execute("SELECT namespace, name FROM replicas WHERE rse = 'FNAL_TAPE' AND available = 0 AND "
                             "(namespace, name) NOT IN (SELECT namespace, name FROM replicas WHERE rse != "
                             "'FNAL_TAPE') LIMIT 1").fetchone()
    disk_only = conn.execute("SELECT namespace, name FROM replicas GROUP BY namespace, name HAVING count(*) = 1 "
                             "AND max(rse) = 'FNAL_DCACHE' LIMIT 3").fetchall()
    down_file, unavailable_file, lost_file = disk_only
    admin.replica_available(*down_file, rse="UK_RAL")
    admin.replica_unavailable(*down_file, rse="FNAL_DCACHE")
    admin.replica_unavailable(*unavailable_file, rse="FNAL_DCACHE")
    with conn:
        conn.execute("DELETE FROM replicas WHERE namespace = ? AND name = ?", lost_file)
    files = [tape_file, down_file, unavailable_file, lost_file]
    query = "files " + ", ".join(f"{ns}:{name}" for ns, name in files)
    preview = compute_preview(metacat, query, alice)
    categories = dict(zip(preview.rows["name"], preview.rows["replicas"]))
    assert categories[tape_file[1]] == "FNAL_TAPE (tape not staged)"
    assert categories[down_file[1]] == "FNAL_DCACHE (replica unavailable), UK_RAL (RSE down)"
    assert categories[unavailable_file[1]] == "FNAL_DCACHE (replica unavailable)"
    assert categories[lost_file[1]] == "no replica"
    assert preview.by_availability == {"available": 0, "tape not staged": 1, "replica unavailable": 2,
                                       "RSE down": 0, "RSE disabled": 0, "no replica": 1}


def test_invalid_mql_shows_the_caret_aligned(creator, metacat):
    bad = "files from dune:all\n  where core.runs >"
    with pytest.raises(MetaCatBadRequest) as direct:
        list(metacat.query(bad))
    creator.query.value = bad
    creator.preview_button.click()
    pre = re.search(r"<pre[^>]*white-space:pre[^>]*>(.*)</pre>", creator.preview_html.value, re.S)
    assert pre is not None and html.unescape(pre.group(1)) == direct.value.message
    lines = html.unescape(pre.group(1)).splitlines()
    line, column = map(int, re.search(r"line (\d+), column (\d+)", lines[0]).groups())
    assert lines[-2] == "  " + bad.splitlines()[line - 1]  # the catalog indents the quoted line by 2
    assert lines[-1].index("^") == 2 + column - 1
    assert creator.error == "invalid query: " + lines[0]
    assert creator.create_button.disabled is False  # the query may be fixed in place
    with pytest.raises(QueryError):
        creator.preview()


def test_unknown_dataset(creator):
    with pytest.raises(QueryError):
        creator.preview("files from dune:no_such_dataset")
    assert creator.error == "invalid query: dataset dune:no_such_dataset not found"


def test_empty_result_disables_create(creator, alice):
    creator.query.value = RAW + " where core.runs[any] = 1"
    creator.preview_button.click()
    assert creator.last_preview.file_count == 0
    assert creator.create_button.disabled
    assert "the query selected no files" in creator.preview_html.value
    assert "change it to create a project" in creator.status.value
    creator.query.value = RAW + " limit 3"
    assert not creator.create_button.disabled


def test_create_with_options_by_clicking(creator, alice, metacat):
    monitored = []
    creator.on_monitor = monitored.append
    creator.query.value = RAW + " limit 5"
    options = creator.options
    key, value = options.add_attribute()
    key.value, value.value = "campaign", "test-1"
    key2, value2 = options.add_attribute("priority", "3")
    key3, _ = options.add_attribute("dropped", "x")
    options.remove_attribute((key3, _))
    options.worker_timeout.number.value, options.worker_timeout.unit.value = "30", "min"
    options.idle_timeout.number.value = ""
    options.users.value = "bob, dave"
    options.roles.value = "prod"
    options.copy_metadata.value = "core.runs, size"
    options.virtual.value = True
    assert creator.monitor_button.disabled
    creator.create_button.click()
    assert creator.error == ""
    project_id = creator.project["project_id"]
    stored = alice.get_project(project_id, with_files=True)
    assert stored["attributes"] == {"campaign": "test-1", "priority": 3, "virtual": True}
    assert stored["worker_timeout"] == 1800 and stored["idle_timeout"] is None
    assert stored["users"] == ["bob", "dave"] and stored["roles"] == ["prod"]
    records = {f["name"]: f for f in metacat.query(RAW + " limit 5", with_metadata=True)}
    assert {h["name"] for h in stored["file_handles"]} == set(records)
    for handle in stored["file_handles"]:
        record = records[handle["name"]]
        assert handle["attributes"] == {"core.runs": record["metadata"]["core.runs"], "size": record["size"]}
    assert f"created project {project_id} with 5 files" in creator.created.value
    assert not creator.monitor_button.disabled
    creator.monitor_button.click()
    assert monitored == [project_id]


def test_double_click_creates_one_project(creator, alice):
    creator.query.value = RAW + " limit 2"
    before = {p["project_id"] for p in alice.list_projects(owner="alice")}
    creator.create_button.click()
    creator.create_button.click()
    created = {p["project_id"] for p in alice.list_projects(owner="alice")} - before
    assert created == {creator.project["project_id"]}
    assert creator.create_button.disabled
    with pytest.raises(ValueError, match="already created from this query"):
        creator.create()
    creator.options.roles.value = "analysis"
    assert not creator.create_button.disabled  # a changed option allows another project


def test_create_overrides_and_bad_options(creator, alice):
    creator.query.value = RAW + " limit 1"
    creator.options.worker_timeout.number.value = "soon"
    creator.create_button.click()
    assert creator.error == "worker timeout must be a number (or empty for none), not 'soon'"
    creator.options.worker_timeout.number.value = "-2"
    with pytest.raises(ValueError, match="worker timeout must be a positive number of h, not -2"):
        creator.create()
    creator.options.worker_timeout.number.value = "2"
    project = creator.create(worker_timeout=60, project_attributes={"note": "override"})
    stored = alice.get_project(project["project_id"], with_files=False)
    assert stored["worker_timeout"] == 60 and stored["attributes"] == {"note": "override"}


def test_monitor_button_shows_a_project_monitor(creator):
    pytest.importorskip("dd_notebook.widgets.monitor")
    creator.query.value = RAW + " limit 1"
    creator.create()
    monitor = creator.show_monitor()
    assert creator.monitor_area.children == (monitor.widget,)


def test_preview_on_a_server_without_the_extension(metacat):
    class UpstreamLike:
        def file_summary(self, dids):
            raise EndpointUnavailableError("http://dd/file_summary", 500, "no file_summary endpoint")

    preview = compute_preview(metacat, RAW + " limit 4", UpstreamLike())
    assert not preview.replicas_known and preview.by_availability is None and preview.by_rse is None
    assert list(preview.by_dataset.columns) == ["namespace", "files", "size"]
    assert "unknown until the project exists" in preview._repr_html_()
    assert set(preview.rows["replicas"]) == {"?"}


def test_file_summary_rejects_bad_input(catalog_server, alice):
    import requests

    url = catalog_server.url + "/file_summary"
    for body, message in [(b"[]", "Request body must be a JSON object"),
                          (b'{"dids": "a:b"}', 'file_summary expects {"dids"'),
                          (b'{"dids": ["nocolon"]}', "DID #0 must be a string 'namespace:name'"),
                          (b'{"dids": [], "x": 1}', "Unknown key(s) in file_summary request: x")]:
        response = requests.post(url, data=body)
        assert response.status_code == 400 and message in response.text, (body, response.text)
    assert alice.file_summary([])["replicas"] == {"file": [], "rse": [], "available": []}
