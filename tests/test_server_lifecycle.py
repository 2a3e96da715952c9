"""A project's whole life through every DD endpoint, over real HTTP."""

from __future__ import annotations

import pytest


def test_version_probe_and_unknown_endpoint(dd):
    assert dd.get("version").text == "2.0.3"
    assert dd.session.post(f"{dd.url}/version").text == "2.0.3"
    assert dd.session.get(f"{dd.url}//version/").text == "2.0.3"
    assert dd.get("probe").text == "OK"
    missing = dd.get("no_such_endpoint")
    assert missing.status_code == 404 and "no_such_endpoint" in missing.text
    assert dd.get("file", params={"namespace": "a", "name": "b"}).status_code == 404


def test_create_show_and_list(dd):
    project = dd.create(["test:f1", {"namespace": "test", "name": "f2", "attributes": {"k": "v"}}],
                        project_attributes={"step": "reco", "virtual": True}, query="files from test:ds",
                        worker_timeout=3600, idle_timeout=7200, users=["bob"], roles=["prod"])
    assert list(project) == ["project_id", "owner", "state", "retry_count", "attributes", "created_timestamp",
                             "ended_timestamp", "active", "query", "worker_timeout", "idle_timeout", "users",
                             "roles", "file_handles"]
    assert project["owner"] == "alice" and project["state"] == "active" and project["active"] is True
    assert project["worker_timeout"] == 3600.0 and project["idle_timeout"] == 7200.0
    assert project["users"] == ["bob"] and project["roles"] == ["prod"]
    assert project["retry_count"] is None and project["ended_timestamp"] is None
    handles = project["file_handles"]
    assert [(h["namespace"], h["name"], h["state"], h["attempts"], h["attributes"]) for h in handles] == [
        ("test", "f1", "initial", 0, {}), ("test", "f2", "initial", 0, {"k": "v"})]
    assert list(handles[0]) == ["project_id", "namespace", "name", "state", "worker_id", "attempts",
                                "attributes", "reserved_since"]
    pid = project["project_id"]

    bare = dd.ok(dd.get("project", params={"project_id": pid, "with_files": "no", "with_replicas": "no"}))
    assert "file_handles" not in bare and bare["query"] == "files from test:ds"
    default = dd.ok(dd.get("project", params={"project_id": pid}))
    assert all(h["replicas"] == {} for h in default["file_handles"])
    files_only = dd.ok(dd.get("project", params={"project_id": pid, "with_files": "true", "with_replicas": "no"}))
    assert "file_handles" not in files_only  # only the exact string "yes" counts

    listed = dd.ok(dd.get("projects", "alice", params={"with_handles": "no", "with_replicas": "no"}))
    assert pid in [p["project_id"] for p in listed] and all(p["owner"] == "alice" for p in listed)
    assert dd.ok(dd.get("projects", "bob", params={"with_handles": "no"})) == [] or all(
        p["owner"] == "bob" for p in dd.ok(dd.get("projects", "bob")))
    everyone = dd.ok(dd.get("projects", "bob", params={"owner": "all", "with_handles": "no"}))
    assert pid in [p["project_id"] for p in everyone]
    by_attr = dd.ok(dd.get("projects", "alice", params={"attributes": '{"step": "reco"}', "with_handles": "no"}))
    assert [p["project_id"] for p in by_attr] == [pid]
    assert dd.ok(dd.get("projects", "alice", params={"attributes": '{"step": "x"}'})) == []
    assert dd.ok(dd.get("projects", "alice", params={"not_state": "active"})) == [] or all(
        p["state"] != "active" for p in dd.ok(dd.get("projects", "alice", params={"not_state": "active"})))


def test_worker_cycle_completes_project(dd):
    project = dd.create(["w:a", "w:b", "w:c"], project_attributes={"virtual": True})
    pid = project["project_id"]
    seen = []
    for _ in range(3):
        reply = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w1"}))
        handle = reply["handle"]
        assert reply["reason"] == "reserved" and reply["retry"] is False
        assert handle["state"] == "reserved" and handle["worker_id"] == "w1" and handle["attempts"] == 1
        assert handle["replicas"] == {} and handle["project_attributes"] == {"virtual": True}
        seen.append(handle["name"])
        released = dd.ok(dd.get("release", "alice", params={
            "handle_id": f"{pid}:w:{handle['name']}", "failed": "no", "worker_id": "w1"}))
        assert released["state"] == "done" and released["worker_id"] is None
    assert seen == ["a", "b", "c"]
    done = dd.ok(dd.get("project", params={"project_id": pid}))
    assert done["state"] == "done" and done["active"] is False and done["ended_timestamp"] is not None
    inactive = dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w1"})
    assert inactive.status_code == 400 and inactive.text == "Inactive project. State=done"
    empty = dd.create([])
    assert empty["active"] is False
    reply = dd.ok(dd.get("next_file", "alice", params={"project_id": empty["project_id"], "worker_id": "w1"}))
    assert reply == {"handle": None, "reason": "project inactive", "retry": False}


def test_failures_retries_and_failed_project(dd):
    pid = dd.create(["x:1", "x:2"], project_attributes={"virtual": True})["project_id"]

    def reserve():
        return dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))["handle"]

    first = reserve()
    assert first["name"] == "1"
    again = dd.ok(dd.get("release", "alice", params={"handle_id": f"{pid}:x:1", "failed": "yes"}))
    assert again["state"] == "initial"
    assert reserve()["name"] == "2"  # the retried file goes behind untried ones (more attempts)
    retry = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))
    assert retry["handle"]["name"] == "1" and retry["handle"]["attempts"] == 2
    still_reserved = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))
    assert still_reserved == {"handle": None, "reason": "retry", "retry": True}
    dd.ok(dd.get("release", "alice", params={"handle_id": f"{pid}:x:1", "failed": "yes", "retry": "no"}))
    dd.ok(dd.get("release", "alice", params={"handle_id": f"{pid}:x:2", "failed": "true"}))  # not "yes": done
    project = dd.ok(dd.get("project", params={"project_id": pid}))
    assert project["state"] == "failed"
    assert {h["name"]: h["state"] for h in project["file_handles"]} == {"1": "failed", "2": "done"}

    restarted = dd.ok(dd.post("restart_handles", {"project_id": pid, "failed": True}, "alice"))
    assert restarted["state"] == "active" and restarted["ended_timestamp"] is None
    assert {h["name"]: h["state"] for h in restarted["file_handles"]} == {"1": "initial", "2": "done"}
    by_did = dd.ok(dd.post("restart_handles", {"project_id": str(pid), "handles": ["x:2", "x:nope"]}, "alice"))
    assert {h["name"]: h["state"] for h in by_did["file_handles"]} == {"1": "initial", "2": "initial"}
    assert by_did["file_handles"][0]["attempts"] == 2  # attempts survive a restart


def test_release_errors(dd):
    pid = dd.create(["r:1", "r:2"], project_attributes={"virtual": True})["project_id"]
    dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w1"}))
    wrong = dd.get("release", "alice", params={"handle_id": f"{pid}:r:1", "worker_id": "w2"})
    assert (wrong.status_code, wrong.text) == (403, "Not authorized: wrong worker_id")
    not_reserved = dd.get("release", "alice", params={"handle_id": f"{pid}:r:2"})
    assert (not_reserved.status_code, not_reserved.text) == (404, "Handle not found or was not reserved")
    unknown = dd.get("release", "alice", params={"handle_id": f"{pid}:r:zzz", "worker_id": "w1"})
    assert (unknown.status_code, unknown.text) == (404, "Handle not found or was not reserved")
    dd.ok(dd.get("release", "alice", params={"handle_id": f"{pid}:r:1", "worker_id": "w1"}))
    twice = dd.get("release", "alice", params={"handle_id": f"{pid}:r:1", "worker_id": "w1"})
    assert (twice.status_code, twice.text) == (403, "Not authorized: wrong worker_id")
    missing = dd.get("release", "alice")
    assert missing.status_code == 400 and "must be specified" in missing.text
    no_project = dd.get("release", "alice", params={"handle_id": "99999:r:1"})
    assert (no_project.status_code, no_project.text) == (404, "Project not found")


def test_copy_cancel_activate_delete(dd):
    source = dd.create(["c:1", {"namespace": "c", "name": "2", "attributes": {"a": 1}}],
                       project_attributes={"step": "one"}, query="q", worker_timeout=60, idle_timeout=600,
                       users=["bob"])
    pid = source["project_id"]
    copy = dd.ok(dd.post("copy_project", {"project_id": pid, "project_attributes": {"extra": True},
                                          "file_attributes": {"b": 2}}, "bob"))
    assert copy["owner"] == "bob" and copy["project_id"] > pid
    assert copy["attributes"] == {"step": "one", "extra": True} and copy["query"] == "q"
    assert copy["worker_timeout"] == 60.0 and copy["idle_timeout"] == 600.0 and copy["users"] == []
    assert [h["attributes"] for h in copy["file_handles"]] == [{"b": 2}, {"a": 1, "b": 2}]
    no_timeouts = dd.ok(dd.post("copy_project", {"project_id": pid, "worker_timeout": "no timeout",
                                                 "idle_timeout": "2 hours"}, "alice"))
    assert no_timeouts["worker_timeout"] is None and no_timeouts["idle_timeout"] == 7200.0
    assert dd.post("copy_project", {"project_id": 99999}, "alice").status_code == 404

    cancelled = dd.ok(dd.get("cancel_project", "alice", params={"project_id": pid}))
    assert cancelled["state"] == "cancelled" and cancelled["ended_timestamp"] is not None
    assert all("replicas" in h for h in cancelled["file_handles"])
    ended = cancelled["ended_timestamp"]
    activated = dd.ok(dd.get("activate_project", "alice", params={"project_id": pid}))
    assert activated["state"] == "active" and activated["ended_timestamp"] == ended  # Q-ENDED
    assert dd.ok(dd.get("delete_project", "alice", params={"project_id": pid})) is None
    assert dd.get("project", params={"project_id": pid}).status_code == 404


def test_restart_project_endpoint(dd):
    pid = dd.create(["rp:1", "rp:2"], project_attributes={"virtual": True})["project_id"]
    for _ in range(2):
        handle = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))["handle"]
        dd.ok(dd.get("release", "alice", params={"handle_id": f"{pid}:rp:{handle['name']}", "failed": "yes",
                                                 "retry": "no" if handle["name"] == "1" else "yes"}))
    dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))
    project = dd.ok(dd.get("restart_project", "alice", params={"project_id": pid}))
    assert {h["name"]: h["state"] for h in project["file_handles"]} == {"1": "initial", "2": "reserved"}
    forced = dd.ok(dd.get("restart_project", "alice", params={"project_id": pid, "force": "yes"}))
    assert {h["state"] for h in forced["file_handles"]} == {"initial"}


def test_handle_log_and_extension_reads(dd):
    pid = dd.create(["lg:a", "lg:b"], project_attributes={"virtual": True})["project_id"]
    dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "wl"}))
    dd.ok(dd.get("release", "alice", params={"handle_id": f"{pid}:lg:a", "failed": "no", "worker_id": "wl"}))
    log = dd.ok(dd.get("project_handles_log", params={"project_id": pid}))
    assert [(r["name"], r["data"]["event"]) for r in log] == [
        ("a", "create"), ("a", "reserve"), ("a", "done"), ("b", "create")]
    assert log[1]["data"] == {"event": "reserve", "old_state": "initial", "worker": "wl", "state": "reserved"}
    assert log[2]["data"] == {"event": "done", "worker": "wl", "state": "done", "old_state": "reserved"}
    assert set(log[0]) == {"type", "t", "data", "project_id", "namespace", "name"}
    assert all(r["type"] == "state" for r in log)
    assert dd.get("project_handles_log", params={"project_id": 99999}).status_code == 404
    assert dd.get("project_handles_log", params={"project_id": pid, "x": "1"}).status_code == 400

    files = dd.ok(dd.get("project_files", params={"project_id": pid, "state": "done"}))
    assert [h["name"] for h in files] == ["a"] and files[0]["replicas"] == {}
    handle = dd.ok(dd.get("file_handle", params={"project_id": pid, "name": "lg:b"}))
    assert handle["state"] == "initial" and handle["replicas"] == {}
    same = dd.ok(dd.get("file_handle", params={"handle_id": f"{pid}:lg:b"}))
    assert same == handle
    assert dd.ok(dd.get("file_handle", params={"project_id": pid, "namespace": "lg", "name": "zz"})) is None
    assert dd.get("file_handle").status_code == 400


def test_deprecated_handles_listing(dd):
    pid = dd.create(["hd:1", "hd:2"], project_attributes={"virtual": True})["project_id"]
    dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))
    reserved = dd.ok(dd.get("handles", params={"project_id": pid, "state": "reserved"}))
    assert [h["name"] for h in reserved] == ["1"] and "replicas" not in reserved[0]
    assert len(dd.ok(dd.get("handles", params={"project_id": pid, "not_state": "reserved"}))) == 1
    assert dd.get("handles", params={"project_id": pid, "bogus": "1"}).status_code == 400


@pytest.mark.parametrize("states", [{"done": True}, {"reserved": True}])
def test_restart_without_reactivation_logs_event(dd, states):
    pid = dd.create(["ev:1"], project_attributes={"virtual": True})["project_id"]
    project = dd.ok(dd.post("restart_handles", {"project_id": pid, **states}, "alice"))
    assert project["state"] == "active" and project["file_handles"][0]["state"] == "initial"


def test_gui_json_endpoints(dd, server):
    pid = dd.create(["gui:a", "gui:b", "gui:c"])["project_id"]
    dd.replica("gui:a", "FNAL_DCACHE", url="root://fnal/gui/a")
    dd.replica("gui:b", "FNAL_TAPE", url="root://tape/gui/b")
    dd.replica("gui:b", "FNAL_TAPE", available=False)
    dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "g"}))
    logs = dd.ok(dd.session.get(f"{server.gui_url}/P/handle_logs", params={"project_id": pid}))
    assert [r["data"]["event"] for r in logs] == ["create", "create", "create", "reserve"]
    assert [r["t"] for r in logs] == sorted(r["t"] for r in logs)
    dd.ok(dd.get("release", "alice", params={"handle_id": f"{pid}:gui:a", "worker_id": "g"}))
    counts = dd.ok(dd.session.get(f"{server.gui_url}/P/handle_state_counts", params={"project_id": pid}))
    assert counts == {"initial": 0, "reserved": 0, "done": 1, "failed": 0, "available": 0, "found": 1,
                      "not found": 1}
    bad = dd.session.get(f"{server.gui_url}/P/handle_logs", params={"project_id": "<x>"})
    assert bad.status_code == 400
    assert dd.session.get(f"{server.gui_url}/P/handle_logs", params={"project_id": 99999}).status_code == 404
