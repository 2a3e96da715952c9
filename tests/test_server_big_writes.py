"""Big writes run in chunks: other clients are answered between two chunks, and nothing is half-done.

Each test holds a big write after one of its chunks (the ``bulk.after_chunk``
hook of the DD endpoints) and, while it is held, sends a ``version`` probe and
a ``next_file``/``release`` of another project. If the write ran as one block
on the event loop, those requests could not be answered until it ended, and
the test would fail on the held write's event, not on a clock.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests

from dd_notebook.server import LocalServer
from dd_notebook.server.core.group_commit import CommitFailed

CHUNK = 50
N_FILES = 400


def bulk_of(srv: LocalServer) -> Any:
    """The chunked writer of a running server's DD endpoints."""
    assert srv.app is not None
    service = dict(srv.app.mounts)["/dd/data"]
    return service.endpoints["create_project"].__self__.bulk


class Hold:
    """Holds a big write after its ``at``-th chunk of ``kind`` until :meth:`resume`, or fails it there."""

    def __init__(self, bulk: Any, kind: str, at: int = 2, fail: BaseException | None = None,
                 while_held: Callable[[], None] | None = None) -> None:
        self.bulk, self.kind, self.at, self.fail = bulk, kind, at, fail
        self.seen = 0
        self.held = threading.Event()
        self.resumed = threading.Event()
        self.project_id: int | None = None

    async def __call__(self, kind: str, project_id: int) -> None:
        if kind != self.kind:
            return
        self.seen += 1
        if self.seen != self.at:
            return
        self.project_id = project_id
        if self.fail is not None:
            raise self.fail
        self.held.set()
        await asyncio.to_thread(self.resumed.wait, 60)

    def __enter__(self) -> Hold:
        self.bulk.after_chunk = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.resumed.set()
        self.bulk.after_chunk = None


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    with LocalServer(db=tmp_path_factory.mktemp("bigw") / "dd.sqlite", demo=True, demo_files=0) as server:
        bulk_of(server).chunk_rows = CHUNK
        yield server


@pytest.fixture(scope="module")
def alice(srv):
    session = requests.Session()
    session.headers["X-Authentication-Token"] = srv.issue_token("alice")
    return session


@pytest.fixture()
def other(srv, alice):
    """A small virtual project of another client, dispatched while the big write is held."""
    project = alice.post(f"{srv.url}/create_project", json={
        "files": [f"other:o{i}" for i in range(5)], "project_attributes": {"virtual": True}}).json()
    return project["project_id"]


def files(tag: str, n: int = N_FILES) -> list[dict[str, str]]:
    return [{"namespace": "big", "name": f"{tag}_{i:05d}.root"} for i in range(n)]


def dispatch_once(srv: LocalServer, session: requests.Session, project_id: int) -> None:
    """A worker's cycle on ``project_id``: reserve a file and release it done."""
    got = session.get(f"{srv.url}/next_file", params={"project_id": project_id, "worker_id": "w1"})
    assert got.status_code == 200, got.text
    handle = got.json()["handle"]
    assert handle is not None
    released = session.get(f"{srv.url}/release", params={
        "handle_id": f"{project_id}:{handle['namespace']}:{handle['name']}", "worker_id": "w1"})
    assert released.status_code == 200 and released.json()["state"] == "done", released.text


def run_held(srv: LocalServer, hold: Hold, send: Callable[[], requests.Response],
             while_held: Callable[[], None]) -> requests.Response:
    """Send the big write, run ``while_held`` while it is held, then let it finish."""
    result: dict[str, requests.Response] = {}
    worker = threading.Thread(target=lambda: result.setdefault("big", send()))
    with hold:
        worker.start()
        assert hold.held.wait(timeout=60), "the big write never reached its second chunk"
        while_held()
        hold.resumed.set()
        worker.join(timeout=120)
    return result["big"]


def rows(srv: LocalServer, sql: str, *args: Any) -> list[tuple]:
    conn = sqlite3.connect(f"file:{srv.db_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_a_big_create_lets_others_through_and_is_invisible_until_complete(srv, alice, other):
    seen: dict[str, Any] = {}

    def meanwhile() -> None:
        assert requests.get(f"{srv.url}/version").text == "2.0.3"
        dispatch_once(srv, alice, other)
        pending = hold.project_id
        seen["project"] = alice.get(f"{srv.url}/project", params={"project_id": pending}).status_code
        seen["next_file"] = alice.get(f"{srv.url}/next_file", params={"project_id": pending, "worker_id": "w"})
        seen["listed"] = [p["project_id"] for p in alice.get(f"{srv.url}/projects",
                                                             params={"with_handles": "no"}).json()]

    hold = Hold(bulk_of(srv), "create")
    response = run_held(srv, hold, lambda: alice.post(f"{srv.url}/create_project", json={"files": files("c")}),
                        meanwhile)
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["project_id"] == hold.project_id and len(created["file_handles"]) == N_FILES
    assert seen["project"] == 404 and seen["next_file"].status_code == 404
    assert hold.project_id not in seen["listed"]
    assert rows(srv, "SELECT count(*) FROM handle_log WHERE project_id = ?", hold.project_id) == [(N_FILES,)]
    assert rows(srv, "SELECT count(*) FROM bulk_work") == [(0,)]


def test_a_big_copy_is_written_in_chunks(srv, alice, other):
    source = alice.post(f"{srv.url}/create_project", json={"files": files("s")}).json()["project_id"]
    hold = Hold(bulk_of(srv), "create")
    response = run_held(srv, hold, lambda: alice.post(f"{srv.url}/copy_project", json={"project_id": source}),
                        lambda: dispatch_once(srv, alice, other))
    assert response.status_code == 200, response.text
    assert response.json()["project_id"] == hold.project_id and len(response.json()["file_handles"]) == N_FILES


def test_a_failed_chunked_create_leaves_nothing(srv, alice):
    before = rows(srv, "SELECT count(*) FROM handles")
    with Hold(bulk_of(srv), "create", fail=CommitFailed("disk full")) as hold:
        response = alice.post(f"{srv.url}/create_project", json={"files": files("f")})
    assert response.status_code == 503 and "nothing was changed" in response.text
    assert alice.get(f"{srv.url}/project", params={"project_id": hold.project_id}).status_code == 404
    assert rows(srv, "SELECT count(*) FROM handles WHERE project_id = ?", hold.project_id) == [(0,)]
    assert rows(srv, "SELECT count(*) FROM handle_log WHERE project_id = ?", hold.project_id) == [(0,)]
    assert rows(srv, "SELECT count(*) FROM handles") == before
    assert rows(srv, "SELECT count(*) FROM bulk_work") == [(0,)]
    again = alice.post(f"{srv.url}/create_project", json={"files": files("f")}).json()
    assert again["project_id"] > hold.project_id  # the reserved id is never reused


def test_a_big_delete_removes_the_project_at_once_and_the_rest_in_chunks(srv, alice, other):
    doomed = alice.post(f"{srv.url}/create_project", json={"files": files("d")}).json()["project_id"]
    seen: dict[str, int] = {}

    def meanwhile() -> None:
        assert requests.get(f"{srv.url}/version").status_code == 200
        dispatch_once(srv, alice, other)
        seen["project"] = alice.get(f"{srv.url}/project", params={"project_id": doomed}).status_code

    response = run_held(srv, Hold(bulk_of(srv), "purge"),
                        lambda: alice.get(f"{srv.url}/delete_project", params={"project_id": doomed}), meanwhile)
    assert response.status_code == 200 and response.json() is None
    assert seen["project"] == 404
    for table in ("handles", "handle_log", "project_log"):
        assert rows(srv, f"SELECT count(*) FROM {table} WHERE project_id = ?", doomed) == [(0,)]
    assert rows(srv, "SELECT count(*) FROM bulk_work") == [(0,)]


def _finished_project(srv: LocalServer, session: requests.Session, tag: str, left: int = 0) -> int:
    """A virtual project whose handles are all done (released by one worker) but ``left`` ones."""
    pid = session.post(f"{srv.url}/create_project", json={
        "files": files(tag, CHUNK * 3 + left), "project_attributes": {"virtual": True}}).json()["project_id"]
    for _ in range(CHUNK * 3):
        dispatch_once(srv, session, pid)
    return pid


def test_a_big_restart_holds_dispatch_of_its_project_only(srv, alice, other):
    pid = _finished_project(srv, alice, "r", left=1)  # active: one handle could be reserved
    seen: dict[str, Any] = {}

    def meanwhile() -> None:
        assert requests.get(f"{srv.url}/version").status_code == 200
        dispatch_once(srv, alice, other)
        seen["held"] = alice.get(f"{srv.url}/next_file", params={"project_id": pid, "worker_id": "w"}).json()
        seen["again"] = alice.get(f"{srv.url}/restart_project", params={"project_id": pid, "failed_only": "no"})
        seen["delete"] = alice.get(f"{srv.url}/delete_project", params={"project_id": pid})

    response = run_held(srv, Hold(bulk_of(srv), "restart"), lambda: alice.get(
        f"{srv.url}/restart_project", params={"project_id": pid, "failed_only": "no"}), meanwhile)
    assert response.status_code == 200, response.text
    assert seen["held"] == {"handle": None, "reason": "retry", "retry": True}
    for answer in (seen["again"], seen["delete"]):  # one big write per project at a time, refused plainly
        assert answer.status_code == 409 and "busy with a restart" in answer.text
    restarted = response.json()
    assert restarted["state"] == "active"
    assert {h["state"] for h in restarted["file_handles"]} == {"initial"}
    dispatch_once(srv, alice, pid)  # dispatchable again once the restart is complete


def test_a_failed_chunked_restart_is_undone(srv, alice):
    pid = _finished_project(srv, alice, "u")
    log_before = rows(srv, "SELECT count(*) FROM handle_log WHERE project_id = ?", pid)
    with Hold(bulk_of(srv), "restart", fail=CommitFailed("disk full")):
        response = alice.post(f"{srv.url}/restart_handles", json={"project_id": pid, "done": True})
    assert response.status_code == 503, response.text
    project = alice.get(f"{srv.url}/project", params={"project_id": pid}).json()
    assert project["state"] == "done" and {h["state"] for h in project["file_handles"]} == {"done"}
    assert rows(srv, "SELECT count(*) FROM handle_log WHERE project_id = ?", pid) == log_before
    assert rows(srv, "SELECT count(*) FROM bulk_work") == [(0,)]


def test_a_create_cut_short_by_a_crash_is_removed_at_the_next_start(srv, alice, tmp_path):
    crashed = tmp_path / "crashed.sqlite"

    def crash_copy() -> None:  # the file as a crash now would leave it: the committed chunks only
        source = sqlite3.connect(srv.db_path)
        target = sqlite3.connect(crashed)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()

    hold = Hold(bulk_of(srv), "create")
    response = run_held(srv, hold, lambda: alice.post(f"{srv.url}/create_project", json={"files": files("k")}),
                        crash_copy)
    assert response.status_code == 200
    pending = hold.project_id
    copy = tmp_path / "restarted.sqlite"
    shutil.copy(crashed, copy)
    assert sqlite3.connect(copy).execute("SELECT count(*) FROM handles WHERE project_id = ?",
                                         (pending,)).fetchone()[0] > 0
    with LocalServer(db=copy) as restarted:
        session = requests.Session()
        session.headers["X-Authentication-Token"] = restarted.issue_token("alice")
        assert session.get(f"{restarted.url}/project", params={"project_id": pending}).status_code == 404
        assert rows(restarted, "SELECT count(*) FROM handles WHERE project_id = ?", pending) == [(0,)]
        assert rows(restarted, "SELECT count(*) FROM bulk_work") == [(0,)]
        fresh = session.post(f"{restarted.url}/create_project", json={"files": ["a:b"]}).json()
        assert fresh["project_id"] > pending


def test_a_big_demo_catalog_is_loaded_by_a_child_process(tmp_path):
    from dd_notebook.server.catalog.demo_process import load_in_child
    from dd_notebook.server.core.db import connect

    db = tmp_path / "demo.sqlite"
    connect(db).close()
    assert load_in_child(db, 50) is True
    assert load_in_child(db, 50) is False  # already loaded: kept
    conn = connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM mc_files").fetchone()[0] == 50
        assert conn.execute("SELECT count(*) FROM replicas").fetchone()[0] > 0
    finally:
        conn.close()
    assert (db.stat().st_mode & 0o077) == 0  # still private to its owner
