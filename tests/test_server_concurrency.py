"""32 concurrent workers drain a 5,000-file project: every handle is processed exactly once."""

from __future__ import annotations

import collections
import threading

import pytest
import requests

N_FILES = 5000
N_WORKERS = 32


@pytest.mark.slow
def test_32_workers_drain_5000_files(dd):
    project = dd.create([f"cc:file_{i:05d}" for i in range(N_FILES)], project_attributes={"virtual": True})
    pid = project["project_id"]
    token = dd.token("alice")
    processed: dict[str, list[str]] = collections.defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()

    def worker(worker_id: str) -> None:
        session = requests.Session()
        session.headers["X-Authentication-Token"] = token
        while True:
            reply = session.get(f"{dd.url}/next_file", params={"project_id": pid, "worker_id": worker_id})
            if reply.status_code == 400 and reply.text.startswith("Inactive project"):
                return
            body = reply.json()
            if body["handle"] is None:
                if body["retry"]:
                    continue
                return
            name = body["handle"]["name"]
            with lock:
                processed[name].append(worker_id)
            done = session.get(f"{dd.url}/release", params={"handle_id": f"{pid}:cc:{name}", "failed": "no",
                                                             "worker_id": worker_id})
            if done.status_code != 200 or done.json()["state"] != "done":
                with lock:
                    errors.append(f"{name}: {done.status_code} {done.text}")

    threads = [threading.Thread(target=worker, args=(f"w{i:02d}",)) for i in range(N_WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert len(processed) == N_FILES and all(len(workers) == 1 for workers in processed.values())
    assert len({w for workers in processed.values() for w in workers}) > 1

    final = dd.ok(dd.get("project", params={"project_id": pid}))
    assert final["state"] == "done" and final["active"] is False
    assert collections.Counter(h["state"] for h in final["file_handles"]) == {"done": N_FILES}
    assert all(h["attempts"] == 1 for h in final["file_handles"])
    log = dd.ok(dd.get("project_handles_log", params={"project_id": pid}))
    events = collections.defaultdict(list)
    for record in log:
        events[record["name"]].append(record["data"]["event"])
    assert all(seq == ["create", "reserve", "done"] for seq in events.values()) and len(events) == N_FILES
