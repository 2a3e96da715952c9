"""ProjectMonitor and the incremental handle log, against the embedded server over HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from dd_notebook.client import BadRequestError, DataDispatcherClient, EndpointUnavailableError, NotFoundError
from dd_notebook.live import EventBuffer, LiveProject
from dd_notebook.server import LocalServer
from dd_notebook.widgets.monitor import ProjectMonitor, throughput_bin

COLUMNS = "application/vnd.dd-notebook.columns+jsonl"


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Wait until ``condition()`` is true (the assertion is on the condition, not on the time)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def make_client(server: LocalServer, tmp_path: Path, cls: type = DataDispatcherClient, user: str = "alice") -> Any:
    return cls(server.url, server.auth_url, token=server.issue_token(user), worker_id="monitor-test",
               token_library=str(tmp_path / "tokens"))


@pytest.fixture()
def client(server: LocalServer, tmp_path: Path) -> Iterator[DataDispatcherClient]:
    c = make_client(server, tmp_path)
    yield c
    c.close()


def virtual_project(client: DataDispatcherClient, n: int, prefix: str) -> int:
    files = [f"mon:{prefix}_{i:03d}" for i in range(n)]
    return client.create_project(files, project_attributes={"virtual": True})["project_id"]


def process(client: DataDispatcherClient, pid: int, count: int, worker: str = "w1",
            fail: frozenset[str] = frozenset()) -> list[str]:
    """Reserve and release ``count`` files as ``worker``; DIDs in ``fail`` fail for good."""
    dids = []
    for _ in range(count):
        handle = client.next_file(pid, worker_id=worker, stagger=0, timeout=0)
        assert isinstance(handle, dict), handle
        did = f"{handle['namespace']}:{handle['name']}"
        if did in fail:
            client.file_failed(pid, did, retry=False, worker_id=worker)
        else:
            client.file_done(pid, did, worker_id=worker)
        dids.append(did)
    return dids


def server_counts(dd: Any, pid: int) -> dict[str, int]:
    project = dd.ok(dd.get("project", "alice", params={"project_id": pid}))
    counts = dict.fromkeys(("initial", "reserved", "done", "failed"), 0)
    for handle in project["file_handles"]:
        counts[handle["state"]] += 1
    return counts


def text_of(html_value: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", html_value)


# ---- the incremental handle log on the server and in the client -------------------------------------


def test_log_after_cursor_sends_only_newer_records(server, dd, client):
    pid = virtual_project(client, 6, "cursor")
    first = dd.get("project_handles_log", params={"project_id": pid, "after": 0})
    assert first.status_code == 200
    records = first.json()
    cursor = int(first.headers["X-DD-Log-Cursor"])
    assert [r["data"]["event"] for r in records] == ["create"] * 6 and first.headers["X-DD-Log-More"] == "no"
    process(client, pid, 2)
    second = dd.get("project_handles_log", params={"project_id": pid, "after": cursor})
    assert [r["data"]["event"] for r in second.json()] == ["reserve", "done", "reserve", "done"]
    assert int(second.headers["X-DD-Log-Cursor"]) > cursor
    again = dd.get("project_handles_log", params={"project_id": pid, "after": second.headers["X-DD-Log-Cursor"]})
    assert again.json() == [] and again.headers["X-DD-Log-Cursor"] == second.headers["X-DD-Log-Cursor"]

    # pages of 4 records, in the columnar form, add up to the whole log in order
    pages, after, more = [], 0, True
    while more:
        response = dd.session.get(f"{server.url}/project_handles_log", headers={"Accept": COLUMNS},
                                  params={"project_id": pid, "after": after, "limit": 4})
        header = orjson.loads(response.content.split(b"\n", 1)[0])
        assert header["cursor"] == int(response.headers["X-DD-Log-Cursor"])
        more, after = header["more"], header["cursor"]
        pages.append(len(orjson.loads(response.content.split(b"\n")[1])))
    assert pages == [4, 4, 2]
    full = dd.ok(dd.get("project_handles_log", params={"project_id": pid}))
    assert sum(pages) == len(full) == 10


def test_log_without_cursor_is_unchanged(server, dd, client):
    pid = virtual_project(client, 3, "plain")
    process(client, pid, 1)
    response = dd.get("project_handles_log", params={"project_id": pid})
    assert "X-DD-Log-Cursor" not in response.headers
    records = response.json()
    keys = [(r["namespace"], r["name"], r["t"]) for r in records]
    assert len(records) == 5 and keys == sorted(keys)
    assert client.get_handles_log(pid) == records


@pytest.mark.parametrize("after, message", [("x", "Invalid cursor after: 'x'"), ("-1", "Invalid cursor after=-1"),
                                            ("999999999", "Invalid cursor after=999999999"),
                                            ("", "Invalid cursor after: ''")])
def test_bad_cursor_is_a_400_naming_it(server, dd, client, after, message):
    pid = virtual_project(client, 1, f"bad{after.strip('-') or 'empty'}")
    response = dd.get("project_handles_log", params={"project_id": pid, "after": after})
    assert response.status_code == 400 and response.text.startswith(message)
    with pytest.raises(BadRequestError, match="Invalid cursor"):
        client.get_handles_log_page(pid, after=999999999)


def test_hostile_cursors_are_refused_with_a_400(server, dd, client):
    pid = virtual_project(client, 1, "hostile")
    for value in ("1; DROP TABLE handle_log; --", "' OR '1'='1", "1e999", "99999999999999999999999", "\x00", "0x10"):
        response = dd.get("project_handles_log", params={"project_id": pid, "after": value})
        assert response.status_code == 400 and "cursor" in response.text, value
    assert len(dd.ok(dd.get("project_handles_log", params={"project_id": pid}))) == 1


def test_bad_limit_and_unknown_project(server, dd, client):
    pid = virtual_project(client, 1, "limit")
    for limit in ("0", "100001", "many"):
        response = dd.get("project_handles_log", params={"project_id": pid, "after": 0, "limit": limit})
        assert response.status_code == 400 and "limit" in response.text
    assert dd.get("project_handles_log", params={"project_id": 10**8, "after": 0}).status_code == 404
    with pytest.raises(NotFoundError):
        client.get_handles_log_page(10**8)


def test_client_page_in_both_forms(server, client):
    pid = virtual_project(client, 4, "forms")
    columns = client.get_handles_log_page(pid, after=0, limit=3)
    assert columns.count == 3 and columns.more and columns.data["events"]["event"] == ["create"] * 3
    rest = client.get_handles_log_page(pid, after=columns.cursor, columns=False)
    assert rest.count == 1 and not rest.more and rest.data[0]["name"] == "forms_003"


# ---- the buffer ---------------------------------------------------------------------------------------


def test_event_buffer_follows_states_from_both_forms():
    buffer = EventBuffer(7)
    buffer.extend({"events": {"t": [1.0, 1.0], "namespace": ["a", "a"], "name": ["x", "y"],
                              "event": ["create", "create"], "state": ["initial", "initial"]}})
    buffer.extend([{"t": 2.0, "namespace": "a", "name": "x", "data": {"event": "reserve", "state": "reserved",
                                                                       "old_state": "initial", "worker": "w"}},
                   {"t": 5.0, "namespace": "a", "name": "x", "data": {"event": "done", "state": "done",
                                                                       "old_state": "reserved", "worker": "w"}}])
    assert buffer.counts() == {"initial": 1, "reserved": 0, "done": 1, "failed": 0}
    assert (buffer.busy_since_t, buffer.last_finish_t, len(buffer)) == (2.0, 5.0, 4)
    frame = buffer.frame()
    assert frame["event"].astype(str).tolist() == ["create", "create", "reserve", "done"]
    assert frame["project_id"].unique().tolist() == [7]


def test_bin_width_keeps_the_plot_readable():
    assert throughput_bin(0) == "1s" and throughput_bin(600) == "10s" and throughput_bin(86400) == "30min"


def test_bad_arguments_are_refused(client):
    with pytest.raises(ValueError, match="interval"):
        ProjectMonitor(client, 1, interval=0)
    for bad in ("-1s", "soon", 0):
        with pytest.raises(ValueError, match="stall_after"):
            ProjectMonitor(client, 1, stall_after=bad)


def test_unknown_project_shows_a_plain_message(client):
    monitor = ProjectMonitor(client, 10**8)
    with pytest.raises(LookupError):
        monitor.refresh()
    assert monitor.error == f"project {10**8} not found"


# ---- the monitor against a campaign -----------------------------------------------------------------


def test_monitor_follows_a_campaign_of_worker_threads(server, dd, client, tmp_path):
    files = [f"mon:camp_{i:03d}" for i in range(40)]
    rses = ["FNAL_DCACHE", "CERN_EOS"]
    pid = client.create_project(files)["project_id"]
    for i, did in enumerate(files):
        dd.replica(did, rses[i % 2], preference=i % 3)
    failing = frozenset(files[3::9])
    workers = ["w<1>", "w2", "w3"]
    monitor = ProjectMonitor(client, pid, interval=0.05, gui_url=server.gui_url)
    first = monitor.refresh()
    assert first.counts["initial"] == 40 and first.new_records == 40

    done: dict[str, list[str]] = {}

    def work(worker: str) -> None:
        own = make_client(server, tmp_path / worker)
        while isinstance(handle := own.next_file(pid, worker_id=worker, stagger=0, timeout=0), dict):
            did = f"{handle['namespace']}:{handle['name']}"
            done.setdefault(worker, []).append(did)
            if did in failing:
                own.file_failed(pid, did, retry=False, worker_id=worker)
            else:
                own.file_done(pid, did, worker_id=worker)
        own.close()

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    refreshes = 0
    while any(t.is_alive() for t in threads):
        monitor.refresh()
        refreshes += 1
    for t in threads:
        t.join()
    state = monitor.refresh()

    counts = server_counts(dd, pid)
    assert state.counts == counts and counts["failed"] == len(failing)
    share = 100.0 * counts["done"] / 40
    assert f"done {counts['done']} / 40 ({share:.1f} %), failed {counts['failed']}" in text_of(monitor.counts.value)
    assert f"<span class='dd-count-done'>{counts['done']}</span>" in monitor.counts.value
    project = dd.ok(dd.get("project", "alice", params={"project_id": pid, "with_files": "no"}))
    assert state.project_state == project["state"] == "failed" and state.finished
    # every record of the log was transferred exactly once over all refreshes
    log = dd.ok(dd.get("project_handles_log", params={"project_id": pid}))
    assert state.records_fetched == len(log) and monitor.live.polls == refreshes + 2
    # failures: file, worker, preferred RSE, attempt -- as the server knows them
    worker_of = {did: w for w, dids in done.items() for did in dids}
    table = state.failures
    assert set(table["file"]) == set(failing)
    for row in table.itertuples(index=False):
        handle = client.get_handle(pid, *row.file.split(":"))
        assert (row.worker, row.RSE, row.attempt, row.event) == (worker_of[row.file], next(iter(handle["replicas"])),
                                                                 handle["attempts"], "failed")
    assert "project failed" in monitor.status.value
    assert monitor.throughput_image.value[:8] == b"\x89PNG\r\n\x1a\n"
    Path("/tmp/monitor_throughput.png").write_bytes(monitor.throughput_image.value)
    Path("/tmp/monitor_timeline.png").write_bytes(monitor.timeline_image.value)


def test_incremental_refresh_fetches_only_new_records(server, client, tmp_path):
    pages: list[tuple[int, int, int]] = []

    class CountingClient(DataDispatcherClient):
        def get_handles_log_page(self, *args: Any, **kwargs: Any) -> Any:
            page = super().get_handles_log_page(*args, **kwargs)
            pages.append((kwargs["after"], page.count, page.cursor))
            return page

    counting = make_client(server, tmp_path, CountingClient)
    pid = virtual_project(counting, 10, "incr")
    monitor = ProjectMonitor(counting, pid)
    state = monitor.refresh()
    assert pages == [(0, 10, state.cursor)] and state.new_records == 10
    process(counting, pid, 3)
    state = monitor.refresh()
    assert pages[1][:2] == (pages[0][2], 6) and state.cursor == pages[1][2] > pages[0][2]
    assert state.new_records == 6 and state.records_fetched == 16 and state.counts["done"] == 3
    state = monitor.refresh()
    assert pages[2] == (pages[1][2], 0, pages[1][2]) and state.new_records == 0
    assert f"cursor {state.cursor:,}; 0 new records, 16 in all" in monitor.updated.value


def test_failures_table_is_escaped(server, client):
    pid = virtual_project(client, 2, "esc")
    process(client, pid, 2, worker="<b>w</b>", fail=frozenset({"mon:esc_000"}))
    monitor = ProjectMonitor(client, pid)
    assert monitor.refresh().failures["worker"].tolist() == ["<b>w</b>"]
    assert "&lt;b&gt;w&lt;/b&gt;" in monitor.failures.value and "<b>w</b>" not in monitor.failures.value


def test_stall_flag_when_reserved_and_nothing_finishes(server, client):
    pid = virtual_project(client, 3, "stall")
    monitor = ProjectMonitor(client, pid, stall_after="50ms")
    process(client, pid, 1)
    handle = client.next_file(pid, worker_id="slow", stagger=0, timeout=0)
    time.sleep(0.1)
    state = monitor.refresh()
    assert state.stalled and state.stalled_for_s >= 0.05
    assert "stalled: 1 file reserved, nothing finished for" in monitor.stall_flag.value
    client.file_done(pid, f"{handle['namespace']}:{handle['name']}", worker_id="slow")
    state = monitor.refresh()
    assert not state.stalled and monitor.stall_flag.value == ""
    calm = ProjectMonitor(client, pid, stall_after="1h")
    client.next_file(pid, worker_id="slow", stagger=0, timeout=0)
    assert not calm.refresh().stalled


def test_thread_monitor_stops_by_itself_when_the_project_ends(server, dd, client):
    pid = virtual_project(client, 8, "ends")
    monitor = ProjectMonitor(client, pid, interval=0.05)
    assert monitor.loop is None
    monitor.start()
    assert monitor.running and monitor.start_button.description == "Stop"
    wait_for(lambda: monitor.live.polls >= 1)
    process(client, pid, 8)
    wait_for(lambda: not monitor.running)
    assert monitor.state.project_state == "done" and monitor.state.counts["done"] == 8
    assert "project done: final state shown" in monitor.status.value
    assert "nothing left" in monitor.eta.value
    assert monitor.start_button.description == "Start"


def test_asyncio_monitor_start_stop_on_a_running_loop(server, client):
    pid = virtual_project(client, 5, "async")

    async def main() -> ProjectMonitor:
        monitor = ProjectMonitor(client, pid, interval=0.05)
        assert monitor.loop is asyncio.get_running_loop()
        monitor.start()
        assert monitor.running and monitor._thread is None
        while monitor.live.polls < 3:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(process, client, pid, 2)
        while "<span class='dd-count-done'>2</span>" not in monitor.counts.value:  # set on the loop
            await asyncio.sleep(0.02)
        monitor.stop()
        await asyncio.sleep(0)
        assert not monitor.running
        polls = monitor.live.polls
        await asyncio.sleep(0.2)
        assert monitor.live.polls <= polls + 1
        return monitor

    monitor = asyncio.run(main())
    assert "done <span class='dd-count-done'>2</span> / <span class='dd-count-total'>5</span>" in monitor.counts.value
    assert monitor.status.value.endswith("monitor stopped</span>")


def test_asyncio_monitor_stops_when_the_project_is_cancelled(server, client):
    pid = virtual_project(client, 5, "cancel")

    async def main() -> ProjectMonitor:
        monitor = ProjectMonitor(client, pid, interval=0.05)
        monitor.start()
        while monitor.live.polls < 1:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(client.cancel_project, pid)
        while monitor.running:
            await asyncio.sleep(0.02)
        return monitor

    monitor = asyncio.run(main())
    assert monitor.state.project_state == "cancelled" and "project cancelled" in monitor.status.value


def test_server_going_away_and_coming_back(tmp_path):
    db = tmp_path / "dd.sqlite"
    first = LocalServer(db=db, demo=True, demo_files=0).start()
    port = first.port
    client = make_client(first, tmp_path)
    pid = virtual_project(client, 4, "away")
    monitor = ProjectMonitor(client, pid, interval=0.1)
    assert monitor.refresh().counts["initial"] == 4
    first.stop()
    state = monitor.refresh()  # a refresh while the server is away does not raise
    since = time.strftime("%H:%M:%S", time.localtime(state.unreachable_since))
    assert monitor.error == f"server unreachable since {since}, retrying every 0.1 s"
    assert state.counts["initial"] == 4  # the last good data stay on show
    monitor.start()
    wait_for(lambda: monitor.live.polls == 1 and monitor.error.startswith("server unreachable"))
    second = LocalServer(db=db, demo=False, port=port).start()
    try:
        process(client, pid, 1)
        wait_for(lambda: "<span class='dd-count-done'>1</span>" in monitor.counts.value)
        assert monitor.state.unreachable_since is None and monitor.error == ""
        assert "server reachable again" in monitor.status.value
        assert monitor.state.records_fetched == len(client.get_handles_log(pid))
        monitor.stop()
    finally:
        second.stop()
        client.close()


def test_recorder_snapshots_when_the_server_has_no_handle_log(server, dd, tmp_path):
    class ProductionLikeClient(DataDispatcherClient):
        def _no_log(self, *args: Any, **kwargs: Any) -> Any:
            raise EndpointUnavailableError(self._http.url("project_handles_log"), None, "no handle log here")

        get_handles_log = get_handles_log_columns = get_handles_log_page = _no_log

    production = make_client(server, tmp_path, ProductionLikeClient)
    pid = virtual_project(production, 6, "rec")
    path = tmp_path / "recorded.jsonl"
    monitor = ProjectMonitor(production, pid, interval=0.5, recorder=path)
    state = monitor.refresh()
    assert state.source == "recorder snapshots" and state.cursor is None and state.counts["initial"] == 6
    failing = frozenset({"mon:rec_001"})
    process(production, pid, 3, worker="prod-w", fail=failing)
    state = monitor.refresh()
    assert state.counts == server_counts(dd, pid)
    # reserved and failed between two snapshots: the recorder cannot know the worker (recorder module docstring)
    assert state.failures["file"].tolist() == ["mon:rec_001"] and state.failures["worker"].tolist() == [""]
    assert "one snapshot every 0.5 s" in monitor.updated.value
    recorded = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(recorded) == state.records_fetched == 6 + 3 * 2


def test_live_project_without_widgets(server, client):
    pid = virtual_project(client, 2, "bare")
    live = LiveProject(client, pid, interval=1, gui_url=server.gui_url)
    process(client, pid, 2)
    state = live.poll()
    assert state.finished and state.counts == {"initial": 0, "reserved": 0, "done": 2, "failed": 0}
    assert state.eta is not None and state.eta.remaining == 0


def test_unreachable_server_is_not_an_error_of_the_poll(tmp_path):
    with LocalServer(demo=True, demo_files=0) as srv:
        client = make_client(srv, tmp_path)
        pid = virtual_project(client, 1, "net")
    live = LiveProject(client, pid)
    state = live.poll()
    assert state.unreachable_since is not None and state.updated is None and state.error == ""
    assert live.poll().unreachable_since == state.unreachable_since and live.polls == 0


def test_monitor_stops_when_the_project_is_deleted(server, client):
    pid = virtual_project(client, 2, "gone")
    monitor = ProjectMonitor(client, pid, interval=0.05)
    monitor.start()
    wait_for(lambda: monitor.live.polls >= 1)
    client.delete_project(pid)
    wait_for(lambda: not monitor.running)
    assert monitor.error == f"project {pid} not found"
