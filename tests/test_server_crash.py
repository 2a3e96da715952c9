"""kill -9 the server during a campaign, restart it on the same file, finish: nothing lost or duplicated."""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

N_FILES = 1500
N_WORKERS = 8
#: The server is killed when this many releases have been acknowledged (an event, not a time).
KILL_AFTER = N_FILES // 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "dd_notebook", "serve", "--demo", "--db", str(db),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/dd/data/version", timeout=1).ok:
                return proc
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def _token(db: Path) -> str:
    from dd_notebook.server.auth.tokens import get_secret
    from dd_notebook.server.core.db import connect
    from dd_notebook.server.auth.tokens import TokenSigner

    conn = connect(db)
    try:
        return TokenSigner(get_secret(conn)).issue("alice")
    finally:
        conn.close()


def _campaign(url: str, token: str, pid: int, after: int = 0,
              then: Callable[[], None] | None = None) -> dict[str, list[str]]:
    """Workers reserve and release until the project ends or the server goes away.

    A worker first finishes handles it holds (the reply to its release may have been lost in
    the crash) and then asks for new ones. ``then`` is called once, by the worker whose
    acknowledged release makes ``after`` files done (the test kills the server there).
    """
    done: dict[str, list[str]] = collections.defaultdict(list)
    lock = threading.Lock()

    def worker(worker_id: str) -> None:
        session = requests.Session()
        session.headers["X-Authentication-Token"] = token
        try:
            project = session.get(f"{url}/project", params={"project_id": pid}).json()
            held = [h["name"] for h in project["file_handles"]
                    if h["state"] == "reserved" and h["worker_id"] == worker_id]
            while True:
                if held:
                    name = held.pop()
                else:
                    reply = session.get(f"{url}/next_file", params={"project_id": pid, "worker_id": worker_id})
                    if reply.status_code != 200 or reply.json()["handle"] is None:
                        if reply.status_code == 200 and reply.json()["retry"]:
                            continue
                        return
                    name = reply.json()["handle"]["name"]
                release = session.get(f"{url}/release", params={"handle_id": f"{pid}:cr:{name}",
                                                                 "worker_id": worker_id})
                if release.status_code == 200:
                    with lock:
                        done[name].append(worker_id)
                        if then is not None and len(done) == after:
                            then()
        except requests.ConnectionError:
            return

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(N_WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return done


@pytest.mark.slow
def test_kill_9_during_campaign_loses_nothing(tmp_path):
    db = tmp_path / "crash.sqlite"
    port = _free_port()
    url = f"http://127.0.0.1:{port}/dd/data"
    proc = _start(db, port)
    token = _token(db)
    project = requests.post(f"{url}/create_project", headers={"X-Authentication-Token": token}, json={
        "files": [f"cr:f{i:05d}" for i in range(N_FILES)], "project_attributes": {"virtual": True}}).json()
    pid = project["project_id"]

    first = _campaign(url, token, pid, after=KILL_AFTER, then=lambda: os.kill(proc.pid, signal.SIGKILL))
    proc.wait(timeout=30)
    assert 0 < len(first) < N_FILES, "the crash should interrupt the campaign"

    proc = _start(db, port)
    try:
        second = _campaign(url, token, pid)
        final = requests.get(f"{url}/project", params={"project_id": pid}).json()
        log = requests.get(f"{url}/project_handles_log", params={"project_id": pid}).json()
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    assert final["state"] == "done"
    assert collections.Counter(h["state"] for h in final["file_handles"]) == {"done": N_FILES}
    acknowledged = set(first) | set(second)
    assert not set(first) & set(second), "a handle acknowledged before the crash was processed again"
    assert len(acknowledged) >= N_FILES - N_WORKERS  # only replies lost in the crash itself can be missing
    events = collections.defaultdict(list)
    for record in log:
        events[record["name"]].append(record["data"]["event"])
    assert len(events) == N_FILES
    assert all(seq == ["create", "reserve", "done"] for seq in events.values()), "logs are continuous"
