"""Big requests are built off the event loop: another client is answered while one is being built.

Each listing (and the project record a write answers with) is built on a
read-only snapshot in a worker thread. The test holds that build until a
``version`` probe sent meanwhile has been answered: if the build ran on the
event loop, the probe could not be answered and the build would find the
event unset (ordering by events, not by time).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
import requests

from dd_notebook.server import LocalServer
from dd_notebook.server.core.readers import ReadConnections

N_FILES = 20_000
COLUMNS = "application/vnd.dd-notebook.columns+jsonl"


class HeldSnapshots:
    """Wraps the server's read snapshots: the first build waits until the probe was answered."""

    def __init__(self, readers: ReadConnections) -> None:
        self.readers = readers
        self.original = readers.snapshot
        self.started = threading.Event()
        self.probe_answered = threading.Event()
        self.answered_during_build: bool | None = None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[object]:
        with self.original() as conn:
            if self.answered_during_build is None:
                self.started.set()
                self.answered_during_build = self.probe_answered.wait(timeout=60)
            yield conn


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    with LocalServer(db=tmp_path_factory.mktemp("big") / "dd.sqlite", demo=True, demo_files=0) as srv:
        token = srv.issue_token("alice")
        session = requests.Session()
        session.headers["X-Authentication-Token"] = token
        files = [{"namespace": "big", "name": f"f{i:06d}.root"} for i in range(N_FILES)]
        project = session.post(f"{srv.url}/create_project", json={"files": files}).json()
        yield srv, session, project["project_id"]


def _while_held(srv: LocalServer, session: requests.Session, send) -> requests.Response:
    assert srv.app is not None
    held = HeldSnapshots(srv.app.readers)
    srv.app.readers.snapshot = held.snapshot  # type: ignore[method-assign]
    result: dict[str, requests.Response] = {}
    try:
        worker = threading.Thread(target=lambda: result.setdefault("big", send()))
        worker.start()
        assert held.started.wait(timeout=60), "the big request never reached its snapshot"
        probe = session.get(f"{srv.url}/version")
        held.probe_answered.set()
        worker.join(timeout=120)
    finally:
        srv.app.readers.snapshot = held.original  # type: ignore[method-assign]
    assert probe.status_code == 200 and probe.text
    assert held.answered_during_build is True, "the version probe waited for the big request"
    return result["big"]


REQUESTS = {
    "project": lambda url, pid: ("GET", f"{url}/project", {"project_id": pid}, {}),
    "project columnar": lambda url, pid: ("GET", f"{url}/project", {"project_id": pid}, {"Accept": COLUMNS}),
    "projects": lambda url, pid: ("GET", f"{url}/projects", {"owner": "all"}, {}),
    "handles": lambda url, pid: ("GET", f"{url}/handles", {"project_id": pid}, {}),
    "project_files": lambda url, pid: ("GET", f"{url}/project_files", {"project_id": pid}, {}),
    "project_handles_log": lambda url, pid: ("GET", f"{url}/project_handles_log", {"project_id": pid}, {}),
    "handle log columnar": lambda url, pid: ("GET", f"{url}/project_handles_log", {"project_id": pid},
                                             {"Accept": COLUMNS}),
    "gui handle_logs": lambda url, pid: ("GET", url.replace("/dd/data", "/dd/gui/P") + "/handle_logs",
                                         {"project_id": pid}, {}),
    "gui handle_state_counts": lambda url, pid: ("GET", url.replace("/dd/data", "/dd/gui/P")
                                                 + "/handle_state_counts", {"project_id": pid}, {}),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_a_big_listing_does_not_hold_up_the_version_probe(big, name):
    srv, session, pid = big
    method, url, params, headers = REQUESTS[name](srv.url, pid)
    response = _while_held(srv, session, lambda: session.request(method, url, params=params, headers=headers))
    assert response.status_code == 200, response.text
    if name == "gui handle_state_counts":
        assert response.json()["not found"] == N_FILES
    else:
        assert len(response.content) > N_FILES * 10  # the whole project came back


def test_search_projects_is_answered_off_the_loop(big):
    srv, session, pid = big
    response = _while_held(srv, session, lambda: session.post(
        f"{srv.url}/search_projects", json={"query": f"id = {pid}", "with_handles": True}))
    assert response.status_code == 200, response.text
    assert [p["project_id"] for p in response.json()] == [pid]
    assert len(response.json()[0]["file_handles"]) == N_FILES


def test_the_answer_to_cancel_is_read_after_the_commit_off_the_loop(big):
    srv, session, pid = big
    response = _while_held(srv, session, lambda: session.get(f"{srv.url}/cancel_project",
                                                             params={"project_id": pid}))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled" and len(response.json()["file_handles"]) == N_FILES
    activated = session.get(f"{srv.url}/activate_project", params={"project_id": pid}).json()
    assert activated["state"] == "active"


def test_an_unknown_project_is_still_a_404_from_the_thread(big):
    srv, session, _ = big
    response = session.get(f"{srv.url}/project", params={"project_id": 999_999})
    assert response.status_code == 404 and response.text == "Project not found"
    columnar = session.get(f"{srv.url}/project", params={"project_id": 999_999}, headers={"Accept": COLUMNS})
    assert columnar.status_code == 404 and columnar.text == "Project not found"
