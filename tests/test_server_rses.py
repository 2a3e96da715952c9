"""RSEs, replicas, availability and the proximity map (spec §3.16–§3.21, §7)."""

from __future__ import annotations


def test_demo_rses_and_crud(dd):
    names = [r["name"] for r in dd.ok(dd.get("rses"))]
    assert {"FNAL_DCACHE", "FNAL_TAPE", "CERN_EOS", "UK_RAL"} <= set(names)
    tape = dd.ok(dd.get("get_rse", params={"name": "FNAL_TAPE"}))
    assert tape["is_tape"] is True and list(tape) == [
        "name", "description", "is_available", "is_tape", "pin_url", "poll_url", "remove_prefix", "add_prefix",
        "pin_prefix", "preference", "is_enabled", "type"]
    assert dd.ok(dd.get("get_rse/UK_RAL"))["is_available"] is False
    missing = dd.get("get_rse", params={"name": "NOPE"})
    assert (missing.status_code, missing.text) == (404, "RSE NOPE not found")

    body = {"name": "TESTING", "description": "t", "is_enabled": None, "is_available": True, "is_tape": False,
            "pin_url": None, "poll_url": None, "remove_prefix": None, "add_prefix": None, "pin_prefix": None,
            "preference": "2", "interface": "bogus"}
    assert dd.post("create_rse", body, "alice").status_code == 403
    created = dd.ok(dd.post("create_rse", body, "admin"))
    assert created["is_enabled"] is None and created["preference"] == 2 and created["type"] is None
    assert dd.post("create_rse", body, "admin").status_code == 409
    updated = dd.ok(dd.post("update_rse", {"Name": "TESTING", "AddPrefix": "testprefix", "Enabled": True,
                                           "Description": None}, "admin"))
    assert updated["add_prefix"] == "testprefix" and updated["is_enabled"] is True and updated["description"] == "t"
    bad_key = dd.post("update_rse", {"Name": "TESTING", "description": "x"}, "admin")
    assert (bad_key.status_code, bad_key.text) == (400, "Bad key: description")
    assert dd.post("update_rse", {"Name": "NOPE", "Description": "x"}, "admin").status_code == 404
    down = dd.ok(dd.get("set_rse_availability", "admin", params={"name": "TESTING", "available": "no"}))
    assert down["is_available"] is False
    maybe = dd.get("set_rse_availability", "admin", params={"name": "TESTING", "available": "maybe"})
    assert maybe.status_code == 400 and '"yes" or "no"' in maybe.text
    assert dd.get("set_rse_availability", "bob", params={"name": "TESTING", "available": "yes"}).status_code == 403
    assert dd.get("delete_rse", "bob", params={"name": "TESTING"}).status_code == 403
    assert dd.ok(dd.get("delete_rse", "admin", params={"name": "TESTING"})) is None
    assert dd.get("get_rse", params={"name": "TESTING"}).status_code == 404
    assert dd.get("delete_rse", "admin", params={"name": "TESTING"}).text == "RSE not found"


def test_replica_filtering_and_proximity(dd):
    dd.replica("rp:disk", "FNAL_DCACHE", path="/pnfs/rp/disk", url="root://fnal/rp/disk",
               urls=["root://fnal/rp/disk", "https://fnal/rp/disk"], preference=3)
    dd.replica("rp:disk", "CERN_EOS", url="root://cern/rp/disk")
    dd.replica("rp:disk", "UK_RAL", url="root://ral/rp/disk")          # RSE down: not given to workers
    dd.replica("rp:tape", "FNAL_TAPE", url="root://tape/rp/tape")
    dd.replica("rp:tape", "FNAL_TAPE", available=False)                # not staged
    project = dd.create(["rp:disk", "rp:tape", "rp:none"])
    pid = project["project_id"]

    listed = dd.ok(dd.get("project", params={"project_id": pid, "with_replicas": "yes"}))
    replicas = {h["name"]: h["replicas"] for h in listed["file_handles"]}
    assert sorted(replicas["disk"]) == ["CERN_EOS", "FNAL_DCACHE", "UK_RAL"]
    fnal = replicas["disk"]["FNAL_DCACHE"]
    assert list(fnal) == ["name", "namespace", "path", "rse", "url", "urls", "preference", "available",
                          "rse_available"]
    assert fnal["urls"] == ["root://fnal/rp/disk", "https://fnal/rp/disk"] and fnal["preference"] == 3
    assert replicas["disk"]["UK_RAL"]["rse_available"] is False
    assert replicas["tape"]["FNAL_TAPE"]["available"] is False and replicas["none"] == {}

    first = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w", "cpu_site": "FNAL"}))
    handle = first["handle"]
    assert handle["name"] == "disk"
    assert sorted(handle["replicas"]) == ["CERN_EOS", "FNAL_DCACHE"]
    assert handle["replicas"]["FNAL_DCACHE"]["proximity"] == 0 == handle["replicas"]["FNAL_DCACHE"]["preference"]
    assert handle["replicas"]["CERN_EOS"]["proximity"] == 50  # FNAL's DEFAULT row
    second = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w", "cpu_site": "XYZ"}))
    assert second["handle"]["name"] == "tape" and second["handle"]["replicas"] == {}  # Q-RESERVE
    third = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))
    assert third == {"handle": None, "reason": "retry", "retry": True}  # rp:none has no replica

    unavailable = dd.replica("rp:disk", "CERN_EOS", available=False)
    assert unavailable["available"] is False
    assert dd.get("replica_unavailable", "admin", params={"rse": "CERN_EOS", "namespace": "rp",
                                                          "name": "zz"}).status_code == 404
    assert dd.post("replica_available", {}, "alice", params={"rse": "CERN_EOS", "namespace": "rp",
                                                              "name": "x"}).status_code == 403


def test_proximity_map_extension(dd):
    rows = dd.ok(dd.get("proximity_map"))
    assert {"cpu": "DEFAULT", "rse": "DEFAULT", "proximity": 100} in rows
    assert dd.post("set_proximity", {"cpu": "X", "rse": "Y", "proximity": 1}, "bob").status_code == 403
    rows = dd.ok(dd.post("set_proximity", {"cpu": "NEWSITE", "rse": "CERN_EOS", "proximity": 7}, "admin"))
    assert {"cpu": "NEWSITE", "rse": "CERN_EOS", "proximity": 7} in rows
    assert dd.post("set_proximity", {"cpu": "X", "rse": "Y", "proximity": "7"}, "admin").status_code == 400


def test_disabled_rse_does_not_make_files_reservable(dd):
    dd.ok(dd.post("create_rse", {"name": "OFFLINE", "is_enabled": False, "is_available": True}, "admin"))
    dd.replica("off:f", "OFFLINE", url="root://off/f")
    pid = dd.create(["off:f"])["project_id"]
    reply = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))
    assert reply == {"handle": None, "reason": "retry", "retry": True}
    dd.ok(dd.post("update_rse", {"Name": "OFFLINE", "Enabled": True}, "admin"))
    assert dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "w"}))["handle"]["name"] == "f"


def test_project_files_ready_only(dd):
    dd.ok(dd.post("create_rse", {"name": "READY_OFF", "is_enabled": False, "is_available": True}, "admin"))
    dd.replica("rdy:disk", "FNAL_DCACHE", url="root://fnal/rdy/disk")
    dd.replica("rdy:tape", "FNAL_TAPE", url="root://tape/rdy/tape")
    dd.replica("rdy:tape", "FNAL_TAPE", available=False)
    dd.replica("rdy:down", "UK_RAL", url="root://ral/rdy/down")
    dd.replica("rdy:off", "READY_OFF", url="root://off/rdy/off")
    pid = dd.create(["rdy:disk", "rdy:tape", "rdy:down", "rdy:off", "rdy:none"])["project_id"]
    ready = dd.ok(dd.get("project_files", params={"project_id": pid, "ready_only": "yes"}))
    assert [h["name"] for h in ready] == ["disk"] and "FNAL_DCACHE" in ready[0]["replicas"]
    every = dd.ok(dd.get("project_files", params={"project_id": pid}))
    assert len(every) == 5
