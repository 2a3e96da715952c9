"""Post-mortem reports: notebook structure, sections against a live server, error boxes, execution and HTML export.

The test projects are built by driving workers with the client against the
embedded server (failures, retries, a worker timeout, replicas on two RSEs);
one more is recorded with ProjectRecorder. Only two tests execute a notebook.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from html.parser import HTMLParser

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from IPython.display import HTML  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dd_notebook import DataDispatcherClient  # noqa: E402
from dd_notebook.cli import main as cli_main  # noqa: E402
from dd_notebook.recorder import ProjectRecorder  # noqa: E402
from dd_notebook.report import (  # noqa: E402
    ReportFiles,
    build_report,
    export_html,
    inject_parameters,
    sections,  # noqa: E402
    write_report,
)
from dd_notebook.report.builder import INJECTED_TAG, PARAMETERS_TAG, SECTIONS  # noqa: E402
from dd_notebook.report.data import ProjectData, Report  # noqa: E402
from dd_notebook.report.metrics import eta_checkpoints, verdict  # noqa: E402

N_FILES = 24
N_PERMANENT = 3   # files 0..2 fail twice, the second time for good
N_RETRIED = 3     # files 3..5 fail once (retried), then succeed
RSES = ("FNAL_DCACHE", "CERN_EOS")


def _did(handle):
    return f"{handle['namespace']}:{handle['name']}"


def drive(client, pid, *, on_step=lambda: None, timeout_worker=True):
    """Work a project to its end: permanent failures, retried failures, one worker timeout."""
    if timeout_worker:
        assert isinstance(client.next_file(pid, worker_id="slowpoke", stagger=0, timeout=0), dict)
        on_step()
        time.sleep(2.0)  # worker_timeout is 1 s; the module server sweeps every 0.5 s
        on_step()
    failed_once: set[str] = set()
    step = 0
    while isinstance(handle := client.next_file(pid, worker_id=f"w{step % 3 + 1}", stagger=0, timeout=0), dict):
        worker, did = f"w{step % 3 + 1}", _did(handle)
        index = int(handle["name"].rsplit("_", 1)[1])
        time.sleep(0.02)
        if index < N_PERMANENT:
            client.file_failed(pid, did, retry=did not in failed_once, worker_id=worker)
        elif index < N_PERMANENT + N_RETRIED and did not in failed_once:
            client.file_failed(pid, did, retry=True, worker_id=worker)
        else:
            client.file_done(pid, did, worker_id=worker)
        failed_once.add(did)
        on_step()
        step += 1


def server_counts(client, pid):
    handles = client.get_project(pid, with_files=True)["file_handles"]
    counts = {state: sum(h["state"] == state for h in handles) for state in ("initial", "reserved", "done", "failed")}
    return counts, sorted(_did(h) for h in handles if h["state"] == "failed")


@pytest.fixture(scope="module")
def alice(server):
    client = DataDispatcherClient(server.url, server.auth_url, worker_id="alice-worker")
    client.login_password("alice", "alice")
    return client


@pytest.fixture(scope="module")
def campaign(server, alice):
    """Project A, read from the handle log: replicas on two RSEs, failures, retries, a worker timeout."""
    files = [f"rpt:file_{i:02d}" for i in range(N_FILES)]
    pid = alice.create_project(files, worker_timeout=1)["project_id"]
    token = server.issue_token("admin")
    for i, did in enumerate(files):
        namespace, name = did.split(":")
        answer = requests.post(f"{server.url}/replica_available", json={},
                               params={"rse": RSES[i % 2], "namespace": namespace, "name": name},
                               headers={"X-Authentication-Token": token}, timeout=10)
        assert answer.status_code == 200, answer.text
    drive(alice, pid)
    return pid


@pytest.fixture(scope="module")
def recorded(alice, tmp_path_factory):
    """Project B, driven while a ProjectRecorder polls it after every step: (project id, events file)."""
    pid = alice.create_project([f"rec:file_{i:02d}" for i in range(8)],
                               project_attributes={"virtual": True})["project_id"]
    path = tmp_path_factory.mktemp("rec") / f"events-{pid}.jsonl"
    recorder = ProjectRecorder(DataDispatcherClient(alice.ServerURL), pid, path, interval=0.1, fsync=False)
    recorder.poll_once()
    drive(alice, pid, on_step=recorder.poll_once, timeout_worker=False)
    recorder.poll_once()
    return pid, path


# -- helpers ---------------------------------------------------------------------------------------


class ResourceFinder(HTMLParser):
    """Every resource a page would load: src/href of script, link, img (and friends), CSS url() and @import."""

    LOADING = {"script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",),
               "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",), "embed": ("src",),
               "object": ("data",)}

    def __init__(self):
        super().__init__()
        self.references: list[str] = []
        self.imports: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in self.LOADING.get(tag, ()):
            if attributes.get(name) is not None:
                self.references.append(attributes[name])
        self._css(attributes.get("style") or "")
        self.in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self._css(data)

    def _css(self, text):
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        self.references += [m.strip().strip("'\"") for m in re.findall(r"url\(([^)]*)\)", text)]
        self.imports += re.findall(r"@import[^;]*", text)


def external_resources(page: str) -> list[str]:
    finder = ResourceFinder()
    finder.feed(page)
    loaded = [r for r in finder.references if not (r.startswith("data:") or r.startswith("#"))]
    return loaded + finder.imports


def outputs_of(notebook, mime):
    return [o["data"][mime] for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if mime in o.get("data", {})]


class TileReader(HTMLParser):
    """The verdict tiles (data-key -> shown number); a new verdict starts at each ``state`` tile."""

    def __init__(self):
        super().__init__()
        self.verdicts: list[dict[str, str]] = []
        self.key: str | None = None
        self.in_number = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "dd-tile" in (attributes.get("class") or "").split():
            self.key = attributes.get("data-key")
            if self.key == "state":
                self.verdicts.append({})
        self.in_number = self.key is not None and "dd-num" in (attributes.get("class") or "").split()

    def handle_data(self, data):
        if self.in_number:
            self.verdicts[-1][self.key] = data
            self.in_number, self.key = False, None


def tile_numbers(page: str) -> list[dict[str, str]]:
    """The verdict tiles of each project, in report order: {key: shown value}."""
    reader = TileReader()
    reader.feed(page)
    return reader.verdicts


def error_boxes(page: str) -> dict[str, str]:
    """{section: message} of every error box."""
    return {html.unescape(section): html.unescape(message) for section, message in re.findall(
        r"data-section=['\"]([^'\"]*)['\"].*?class=['\"]dd-error-message['\"]>([^<]*)</div>", page, flags=re.S)}


def expected_tiles(counts):
    return {"done": f"{counts['done']:,}", "failed": f"{counts['failed']:,}", "total": f"{sum(counts.values()):,}"}


def shown(objects) -> str:
    return "".join(o.data for o in objects if isinstance(o, HTML))


# -- building the notebook (no execution) ----------------------------------------------------------


def test_build_report_cells_in_order_and_valid():
    notebook = build_report([7, 9], url="http://dd.example/dd/data", gui_url="http://gui.example",
                            events_paths={9: "/data/nine.jsonl"}, window="30min")
    nbformat.validate(notebook)
    cells = notebook.cells
    assert cells[0].source.startswith("%matplotlib inline")
    assert cells[1].metadata["tags"] == [PARAMETERS_TAG]
    values: dict = {}
    exec(cells[1].source, values)  # the parameters cell holds plain literals
    assert values["project_ids"] == [7, 9] and values["events_paths"] == {9: "/data/nine.jsonl"}
    assert values["window"] == "30min" and values["gui_url"] == "http://gui.example"
    sources = [c.source for c in cells]
    per_project = 1 + len(SECTIONS)
    for index, pid in enumerate((7, 9)):
        block = sources[3 + index * per_project: 3 + (index + 1) * per_project]
        assert block[0].startswith(f"p{index} = report.project({index})  # project {pid}")
        names = [re.match(r"with sections\.guard\('([^']+)'\)", s).group(1) for s in block[1:]]
        assert names[0] == "Verdict" and names[-1] == "Provenance"
        assert names == [name for name, _ in SECTIONS]
        assert all(f"(p{index}" in s or f", p{index})" in s for s in block[1:])
    assert all(len(s.splitlines()) <= 6 for s in sources)


def test_inject_parameters_after_the_parameters_cell_replacing_an_earlier_one():
    notebook = build_report([3], url="http://a")
    inject_parameters(notebook, {"url": "http://b", "window": "5min"})
    inject_parameters(notebook, {"url": "http://c"})
    tags = [c.metadata.get("tags", []) for c in notebook.cells]
    assert tags.count([INJECTED_TAG]) == 1 and tags[2] == [INJECTED_TAG] and tags[1] == [PARAMETERS_TAG]
    values: dict = {}
    exec(notebook.cells[1].source + "\n" + notebook.cells[2].source, values)
    assert values["url"] == "http://c" and values["window"] == "15min" and values["project_ids"] == [3]
    nbformat.validate(notebook)
    with pytest.raises(ValueError, match="unknown report parameters: \\['colour'\\]"):
        inject_parameters(notebook, {"colour": "red"})


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"project_ids": []}, "no project id given"),
    ({"project_ids": [1, 1]}, "project ids repeat"),
    ({"project_ids": ["x"]}, "project ids must be integers"),
    ({"project_ids": [1, 2], "events_paths": "/one.jsonl"}, "one events path was given for several projects"),
    ({"project_ids": [1, 2], "events_paths": ["/one.jsonl"]}, "1 events paths for 2 projects"),
    ({"project_ids": [1], "events_paths": {5: "/five.jsonl"}}, "events path given for project 5"),
    ({"project_ids": [1], "window": ""}, "window must be a duration text"),
])
def test_build_report_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_report(**kwargs)


def test_write_report_needs_a_server_url(tmp_path, monkeypatch):
    monkeypatch.delenv("DATA_DISPATCHER_URL", raising=False)
    with pytest.raises(ValueError, match="no Data Dispatcher server URL"):
        write_report([1], tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- sections, in this process, against the live server --------------------------------------------


def test_verdict_numbers_match_the_server_and_eta_is_checked_at_quartiles(server, alice, campaign):
    report = Report([campaign], url=server.url)
    data = report.project(0)
    counts, failed = server_counts(alice, campaign)
    assert counts["failed"] == N_PERMANENT and counts["done"] == N_FILES - N_PERMANENT
    page = shown(sections.verdict(data))
    tiles = tile_numbers(page)[0]
    assert {k: tiles[k] for k in ("done", "failed", "total")} == expected_tiles(counts)
    assert tiles["state"] == "failed" and tiles["timeouts"] == "1" and tiles["workers"] == "4"
    attempts = [h["attempts"] for h in alice.get_project(campaign)["file_handles"]]
    assert tiles["retried"] == str(sum(a > 1 for a in attempts))
    assert f"Finished with failures: {counts['done']} of {N_FILES} files done, {N_PERMANENT} failed" in page

    numbers = verdict(data.project, data.handles, data.events)
    events = data.events
    finishing = events[events["event"].isin(["done", "failed"]) & events["state"].isin(["done", "failed"])]
    assert numbers.finished and numbers.ended == finishing["t"].max()
    checks = eta_checkpoints(events, numbers.total, numbers.ended)
    assert checks["files_finished"].tolist() == [math.ceil(f * N_FILES) for f in (0.25, 0.5, 0.75)]
    for row in checks.itertuples():
        # the moment of each check is when that many files had finished, taken from the log itself
        assert row.at == finishing["t"].iloc[row.files_finished - 1]
        if not math.isnan(row.error_s):
            assert row.error_s == pytest.approx((row.predicted_end - numbers.ended).total_seconds())
    assert checks["at"].is_monotonic_increasing
    assert page.count("<tr>") >= 1 + len(checks)  # the ETA table: header + one row per checkpoint


def test_plots_and_tables_show_what_the_server_holds(server, alice, campaign):
    data = Report([campaign], url=server.url).project(0)
    _, failed = server_counts(alice, campaign)
    for function in (sections.state_timeline, sections.throughput):
        figures = [o for o in function(data) if isinstance(o, Figure)]
        assert len(figures) == 1 and figures[0].axes[0].has_data()
    rates = sections.failure_rates(data)
    figure = next(o for o in rates if isinstance(o, Figure))
    rse_labels = {t.get_text() for t in figure.axes[0].get_yticklabels()}
    assert rse_labels == set(RSES)
    assert "slowpoke" in shown(rates) and "100%" in shown(rates)  # the worker whose only reservation timed out

    permanent = shown(sections.permanent_failures(data))
    assert f"Permanently failed files ({len(failed)})" in permanent
    assert sorted(re.findall(r"rpt:file_\d\d", permanent)) == failed
    timeouts = shown(sections.worker_timeouts(data))
    assert "Worker timeouts (1)" in timeouts and "slowpoke" in timeouts
    slow = shown(sections.slowest_files(data))
    assert slow.count("<tr>") == 1 + 10 and "worker_timeout" in slow  # the 2 s timeout is the slowest
    footer = shown(sections.provenance(Report([campaign], url=server.url), data))
    assert server.url in footer and "dd-notebook 0.1.0" in footer and "server handle log" in footer


def test_restart_call_shown_restarts_exactly_the_failed_files(server, alice):
    pid = alice.create_project([f"rs:f{i}" for i in range(4)], project_attributes={"virtual": True})["project_id"]
    for _ in range(4):
        handle = alice.next_file(pid, stagger=0, timeout=0)
        did = _did(handle)
        if did in ("rs:f1", "rs:f3"):
            alice.file_failed(pid, did, retry=False)
        else:
            alice.file_done(pid, did)
    page = shown(sections.restart_calls(Report([pid], url=server.url).project(0), server.url))
    text = html.unescape(re.sub(r"<[^>]+>", "\n", page))
    call = next(line for line in text.splitlines() if line.startswith("client.restart_handles("))
    assert call == f"client.restart_handles({pid}, handles=['rs:f1', 'rs:f3'])"
    assert f"ddisp project restart {pid} rs:f1 rs:f3" in text
    eval(call, {"client": alice})  # the call as shown, run by the owner
    counts, failed = server_counts(alice, pid)
    assert failed == [] and counts == {"initial": 2, "reserved": 0, "done": 2, "failed": 0}


def test_restart_commands_compact_for_many_files_and_quoted_for_the_shell():
    python, shell = sections.restart_commands(5, [f"ns:f{i}" for i in range(sections.MAX_LISTED_DIDS + 1)])
    assert python.endswith("client.restart_handles(5, failed=True)") and shell == "ddisp project restart -f 5"
    python, shell = sections.restart_commands(5, ["ns:it's here"], "http://dd/x")
    assert "DataDispatcherClient('http://dd/x')" in python
    assert "handles=[\"ns:it's here\"]" in python and shell == "ddisp project restart 5 'ns:it'\"'\"'s here'"


def test_guard_shows_an_escaped_error_box_and_lets_the_rest_run():
    shown_objects: list = []
    with sections.guard("Throughput <fast>", show=shown_objects.append):
        raise ValueError("bad <b>bin</b>")
    box = shown_objects[0].data
    assert error_boxes(box) == {"Throughput <fast>": "bad <b>bin</b>"}
    assert "<b>bin</b>" not in box and "Traceback" not in box and "border:2px solid" in box
    with sections.guard("Fine", show=shown_objects.append):
        pass
    assert len(shown_objects) == 1
    with pytest.raises(KeyboardInterrupt), sections.guard("Stop", show=shown_objects.append):
        raise KeyboardInterrupt


def test_events_from_a_recorder_file_and_clear_errors_for_bad_files(server, alice, recorded, campaign, tmp_path):
    pid, path = recorded
    counts, _ = server_counts(alice, pid)
    data = ProjectData(lambda: alice, pid, events_path=str(path))
    assert set(data.events["project_id"].unique()) == {pid}
    assert tile_numbers(shown(sections.verdict(data)))[0]["done"] == str(counts["done"])
    assert "recorder file" in data.events_source
    missing = ProjectData(lambda: alice, pid, events_path=str(tmp_path / "none.jsonl"))
    with pytest.raises(FileNotFoundError, match="none.jsonl does not exist"):
        _ = missing.events
    page = shown(sections.verdict(missing))  # the counts still show; the events part says why it is missing
    assert tile_numbers(page)[0]["total"] == str(sum(counts.values())) and "does not exist" in page
    wrong = ProjectData(lambda: alice, campaign, events_path=str(path))
    with pytest.raises(ValueError, match=f"holds records of project\\(s\\) \\['{pid}'\\]"):
        _ = wrong.events


def test_export_html_is_self_contained_without_code_or_prompts():
    notebook = build_report([1], url="http://dd.example")
    notebook.cells[0].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": "iVBORw0KGgo="})]
    page = export_html(notebook)
    assert external_resources(page) == []
    assert "sections.guard" not in page and "%matplotlib" not in page
    body = page[page.index("<body"):]
    assert not re.search(r"In&nbsp;\[|Out\[|In \[|jp-InputPrompt|jp-OutputPrompt", body)
    assert "data:image/png;base64,iVBORw0KGgo=" in page



def test_production_server_handle_log_comes_from_the_gui_server():
    """A production data server answers 500 on project_handles_log; the report reads the GUI server's log."""
    import responses

    url, gui = "https://dd.example/dd/data", "https://dd.example/dd/gui"
    project = {"project_id": 12, "owner": "prod", "state": "done", "created_timestamp": 1_700_000_000.0,
               "query": "files from dune:all", "file_handles": [
                   {"namespace": "p", "name": "a", "state": "done", "attempts": 1, "worker_id": None,
                    "attributes": {}, "reserved_since": None}]}
    log = [{"type": "state", "t": 1_700_000_000.0 + i, "project_id": 12, "namespace": "p", "name": "a",
            "data": data} for i, data in enumerate([
                {"event": "create", "state": "initial"},
                {"event": "reserve", "old_state": "initial", "state": "reserved", "worker": "w1"},
                {"event": "done", "old_state": "reserved", "state": "done", "worker": "w1"}])]
    with responses.RequestsMock() as mocked:
        mocked.get(f"{url}/project", json=project, content_type="text/json")
        mocked.get(f"{url}/project_handles_log", status=500, body="Internal Server Error")
        mocked.get(f"{gui}/P/handle_logs", json=log)
        data = Report([12], url=url, gui_url=gui).project(0)
        assert data.events["event"].tolist() == ["create", "reserve", "done"]
        footer = shown(sections.provenance(Report([12], url=url, gui_url=gui), data))
    assert f"GUI server {gui}" in html.unescape(footer) and "files from dune:all" in footer


# -- executed reports (two kernel runs in the whole module) ----------------------------------------

FIGURE_CALLS = ("sections.state_timeline(", "sections.throughput(", "sections.failure_rates(")
EVENT_SECTIONS = {"Handle states over time", "Throughput", "Failure rates", "Slowest files", "Worker timeouts"}


@pytest.mark.slow
def test_write_report_executes_and_exports_one_self_contained_page(server, alice, campaign, recorded, tmp_path):
    pid_b, path_b = recorded
    files = write_report([campaign, pid_b], tmp_path / "out", url=server.url, events_paths={pid_b: path_b},
                         title="Campaign <42> post-mortem")
    assert isinstance(files, ReportFiles) and files.notebook.is_file() and files.html.is_file()
    notebook = nbformat.read(files.notebook, as_version=4)
    nbformat.validate(notebook)
    injected = notebook.cells[2]
    assert injected.metadata["tags"] == [INJECTED_TAG] and repr(server.url) in injected.source

    figure_cells = [c for c in notebook.cells if c.cell_type == "code" and any(f in c.source for f in FIGURE_CALLS)]
    assert len(figure_cells) == 2 * len(FIGURE_CALLS)
    for cell in figure_cells:
        assert [o for o in cell.outputs if "image/png" in o.get("data", {})], cell.source
    assert not [o for c in notebook.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    fragments = "".join(outputs_of(notebook, "text/html"))
    assert error_boxes(fragments) == {}

    page = files.html.read_text(encoding="utf-8")
    assert external_resources(page) == []
    body = page[page.index("<body"):]
    assert "sections.guard" not in body and "Traceback" not in body and "jp-InputPrompt" not in body
    assert body.count("data:image/png;base64,") == 2 * len(FIGURE_CALLS)
    assert "<title>Campaign &lt;42&gt; post-mortem</title>" in page and "Campaign &lt;42&gt; post-mortem" in body
    for source in (fragments, page):
        tiles = tile_numbers(source)
        assert len(tiles) == 2
        for shown_tiles, pid in zip(tiles, (campaign, pid_b)):
            counts, _ = server_counts(alice, pid)
            assert {k: shown_tiles[k] for k in ("done", "failed", "total")} == expected_tiles(counts)
    assert f"recorder file {path_b}" in html.unescape(fragments)


@pytest.mark.slow
def test_cli_report_without_events_shows_error_boxes_and_the_rest(server, alice, campaign, tmp_path, capsys):
    missing = tmp_path / "lost.jsonl"
    code = cli_main(["report", str(campaign), "--url", server.url, "--events", f"{campaign}={missing}",
                     "-o", str(tmp_path / "cli")])
    printed = capsys.readouterr().out.splitlines()
    assert code == 0 and len(printed) == 1 and printed[0].startswith("notebook: ")
    notebook = nbformat.read(printed[0].split(": ", 1)[1], as_version=4)
    assert not list((tmp_path / "cli").glob("*.html"))
    fragments = "".join(outputs_of(notebook, "text/html"))
    boxes = error_boxes(fragments)
    assert set(boxes) == EVENT_SECTIONS
    assert set(boxes.values()) == {f"FileNotFoundError: events file {missing} does not exist"}
    counts, failed = server_counts(alice, campaign)
    assert {k: tile_numbers(fragments)[0][k] for k in ("done", "failed", "total")} == expected_tiles(counts)
    assert f"client.restart_handles({campaign}, handles={failed!r})" in html.unescape(fragments)
    assert "Provenance" in fragments and json.dumps(server.url) in html.unescape(fragments)


def test_cli_report_bad_input_is_a_plain_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DATA_DISPATCHER_URL", raising=False)
    assert cli_main(["report", "1", "-o", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == "error: no Data Dispatcher server URL: pass url= or set DATA_DISPATCHER_URL"
