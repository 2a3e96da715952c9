"""Frames, analysis and the project view on live data from the embedded server."""

from __future__ import annotations

import collections

import pandas as pd
import pytest

from dd_notebook.analysis import failure_rates, project_summary, state_timeline
from dd_notebook.client import DataDispatcherClient, NotFoundError
from dd_notebook.frames import events_frame, handles_frame, replicas_frame, rses_frame
from dd_notebook.view import ProjectView


@pytest.fixture(scope="module")
def campaign(server, dd):
    """A small campaign: 12 files, replicas on two RSEs, some failures and retries, two workers."""
    for i in range(12):
        dd.replica(f"live:f{i:02d}", "FNAL_DCACHE", url=f"root://fnal/live/f{i:02d}")
        if i % 3 == 0:
            dd.replica(f"live:f{i:02d}", "CERN_EOS", url=f"root://cern/live/f{i:02d}")
    client = DataDispatcherClient(server.url, server.auth_url, token=server.issue_token("alice"),
                                  worker_id="wA", token_library=str(server.db_path) + ".tokens")
    project = client.create_project([f"live:f{i:02d}" for i in range(12)], project_attributes={"step": "live"},
                                    common_attributes={"tier": "raw"})
    pid = project["project_id"]
    outcomes = []
    for n in range(16):
        handle = client.next_file(pid, worker_id="wA" if n % 2 else "wB", stagger=0, timeout=0)
        if not isinstance(handle, dict):
            break
        did = f"{handle['namespace']}:{handle['name']}"
        if n % 4 == 1:
            client.file_failed(pid, did, retry=True, worker_id=handle["worker_id"])
            outcomes.append("retry")
        elif n % 7 == 3:
            client.file_failed(pid, did, retry=False, worker_id=handle["worker_id"])
            outcomes.append("failed")
        else:
            client.file_done(pid, did, worker_id=handle["worker_id"])
            outcomes.append("done")
    return client, pid, outcomes


def test_dict_and_columnar_forms_give_the_same_frames(campaign):
    client, pid, _ = campaign
    standard = client.get_project(pid, with_files=True, with_replicas=True)
    columnar = client.get_project_columns(pid, with_replicas=True)
    assert "handles" in columnar and "file_handles" not in columnar
    from_dicts, from_columns = handles_frame(standard), handles_frame(columnar)
    pd.testing.assert_frame_equal(from_dicts.drop(columns="attributes"), from_columns.drop(columns="attributes"))
    assert list(from_dicts["attributes"]) == list(from_columns["attributes"])
    assert isinstance(from_dicts["state"].dtype, pd.CategoricalDtype)
    assert list(from_dicts["state"].cat.categories) == ["initial", "reserved", "done", "failed"]
    assert str(from_dicts["reserved_since"].dtype) == "datetime64[ns, UTC]"
    assert (from_dicts["did"] == from_dicts["namespace"] + ":" + from_dicts["name"]).all()
    replicas_a = replicas_frame(standard).sort_values(["did", "rse"]).reset_index(drop=True)
    replicas_b = replicas_frame(columnar).sort_values(["did", "rse"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(replicas_a, replicas_b)
    assert len(replicas_a) == 16 and set(replicas_a["rse"]) == {"FNAL_DCACHE", "CERN_EOS"}
    expanded = handles_frame(standard, expand_attributes=True)
    assert (expanded["attr.tier"] == "raw").all()


def test_events_and_timeline_match_the_server_state(campaign):
    client, pid, outcomes = campaign
    events = events_frame(client.get_handles_log(pid))
    handles = handles_frame(client.get_project(pid))
    assert len(events[events["event"] == "create"]) == 12
    assert collections.Counter(events["event"])["reserve"] == len(outcomes)
    timeline = state_timeline(events)
    final = timeline.iloc[-1]
    counts = handles["state"].value_counts()
    for state in ("initial", "reserved", "done", "failed"):
        assert final[state] == counts.get(state, 0), state
    rates = failure_rates(events, by="worker")
    assert set(rates.index) <= {"wA", "wB"} and ((rates["failure_rate"] >= 0) & (rates["failure_rate"] <= 1)).all()
    summary = project_summary(handles, events).to_dict()
    assert summary["n_files"] == 12 and summary["reservations"] == len(outcomes)
    assert summary["failed_releases"] == outcomes.count("retry") + outcomes.count("failed")
    assert summary["n_workers"] == 2


def test_columnar_handle_log_gives_the_same_events(campaign, server):
    client, pid, _ = campaign
    columnar = client.get_handles_log_columns(pid)
    assert columnar["project_id"] == pid and set(columnar["events"]) >= {"t", "event", "worker"}
    from_records = events_frame(client.get_handles_log(pid))
    from_columns = events_frame(columnar)
    assert len(from_columns) == len(from_records) > 12
    key = ["t", "did", "event"]
    a = from_records.sort_values(key, kind="stable").reset_index(drop=True)
    b = from_columns.sort_values(key, kind="stable").reset_index(drop=True)
    for column in ("did", "event", "state", "old_state", "worker"):
        assert list(a[column].astype(object)) == list(b[column].astype(object)), column
    assert (a["t"] == b["t"]).all() and (a["attempt"] == b["attempt"]).all()
    elsewhere = DataDispatcherClient(server.url, server.auth_url, token=server.issue_token("alice"),
                                     worker_id="x", token_library=str(server.db_path) + ".tokens2")
    with pytest.raises(NotFoundError):
        elsewhere.get_handles_log_columns(99999)


def test_rses_frame_live(campaign):
    client, _, _ = campaign
    rses = rses_frame(client.list_rses())
    assert {"FNAL_DCACHE", "UK_RAL"} <= set(rses["name"])
    assert not rses.set_index("name").loc["UK_RAL", "is_available"]


def test_project_view_live(campaign):
    client, pid, _ = campaign
    view = ProjectView(client, pid)
    assert view.project["project_id"] == pid and "file_handles" not in view.project
    assert len(view.handles) == 12 and len(view.replicas) == 16
    assert len(view.events) > 12
    html = view._repr_html_()
    assert f"Project {pid}" in html and "live" in html
    assert f"project_id={pid}" in repr(view)
