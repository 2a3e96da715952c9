"""Worker timeouts, retry_on_timeout, idle timeouts and re-activation (spec §4.4, §5, §6)."""

from __future__ import annotations

import time


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _handles(dd, pid):
    return {h["name"]: h for h in dd.ok(dd.get("project", params={"project_id": pid}))["file_handles"]}


def test_worker_timeout_returns_handle_to_initial(dd):
    pid = dd.create(["to:1", "to:2"], project_attributes={"virtual": True}, worker_timeout=1)["project_id"]
    dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "slow"}))
    handle = _wait_for(lambda: (h := _handles(dd, pid)["1"])["state"] == "initial" and h)
    assert handle["worker_id"] is None and handle["attributes"] == {"timeouts": 1} and handle["attempts"] == 1
    log = dd.ok(dd.get("project_handles_log", params={"project_id": pid}))
    timeout_records = [r["data"] for r in log if r["data"]["event"] == "worker_timeout"]
    assert timeout_records == [{"event": "worker_timeout", "state": "initial", "worker": "slow"}]
    late = dd.get("release", "alice", params={"handle_id": f"{pid}:to:1", "worker_id": "slow"})
    assert (late.status_code, late.text) == (403, "Not authorized: wrong worker_id")


def test_retry_on_timeout_false_fails_the_handle(dd):
    for flag, expected in (("False", "failed"), (True, "failed"), ("True", "initial")):
        pid = dd.create(["rt:1"], project_attributes={"virtual": True, "retry_on_timeout": flag},
                        worker_timeout=0.5)["project_id"]
        dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))
        handle = _wait_for(lambda: (h := _handles(dd, pid)["1"])["state"] != "reserved" and h)
        assert handle["state"] == expected, flag
        project = dd.ok(dd.get("project", params={"project_id": pid}))
        assert project["state"] == "active"  # Q-TOEND: a timeout never ends a project


def test_idle_timeout_abandons_and_next_file_reactivates(dd):
    pid = dd.create(["id:1", "id:2"], project_attributes={"virtual": True}, idle_timeout=1)["project_id"]
    _wait_for(lambda: dd.ok(dd.get("project", params={"project_id": pid}))["state"] == "abandoned")
    project = dd.ok(dd.get("project", params={"project_id": pid}))
    assert project["ended_timestamp"] is None
    default_listing = dd.ok(dd.get("projects", "alice", params={"not_state": "abandoned", "with_handles": "no"}))
    assert pid not in [p["project_id"] for p in default_listing]
    reply = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))
    assert reply["handle"]["name"] == "1"
    assert dd.ok(dd.get("project", params={"project_id": pid}))["state"] == "active"


def test_polling_is_not_activity(dd):
    pid = dd.create(["pl:1"], project_attributes={"virtual": True}, idle_timeout=1.5)["project_id"]
    dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))
    for _ in range(6):  # polls that find nothing do not keep the project alive (Q-IDLEPOLL)
        assert dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))["retry"] is True
        time.sleep(0.2)
    _wait_for(lambda: dd.ok(dd.get("project", params={"project_id": pid}))["state"] == "abandoned")
    released = dd.ok(dd.get("release", "alice", params={"handle_id": f"{pid}:pl:1", "worker_id": "w"}))
    assert released["state"] == "done"
    project = dd.ok(dd.get("project", params={"project_id": pid}))
    assert project["state"] == "active" and project["active"] is False  # re-activated after the release
