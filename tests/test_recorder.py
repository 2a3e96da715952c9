"""ProjectRecorder: events inferred from scripted snapshots, JSON-lines file, resume, run loop."""

from __future__ import annotations

import copy
import logging

import pandas as pd
import pytest

from dd_notebook.frames import events_frame
from dd_notebook.recorder import HandleState, ProjectRecorder, infer_transitions, read_records

T0 = 1_700_000_000.0


def handle(name, state="initial", worker=None, attempts=0, timeouts=None):
    attributes = {} if timeouts is None else {"timeouts": timeouts}
    return {"project_id": 8, "namespace": "mc", "name": name, "state": state, "worker_id": worker,
            "attempts": attempts, "attributes": attributes, "reserved_since": T0 if attempts else None}


def project(*handles, state="active", active=True):
    return {"project_id": 8, "owner": "alice", "state": state, "active": active, "attributes": {},
            "created_timestamp": T0, "file_handles": list(handles)}


class ScriptedClient:
    """Serves one prepared snapshot per call (the last one forever)."""

    def __init__(self, snapshots):
        self.snapshots = list(snapshots)
        self.calls = 0

    def get_project(self, project_id, with_files=True, with_replicas=False):
        assert project_id == 8 and with_files
        snapshot = self.snapshots[min(self.calls, len(self.snapshots) - 1)]
        self.calls += 1
        return copy.deepcopy(snapshot)


class Clock:
    def __init__(self, start=T0, step=10.0):
        self.now, self.step = start, step

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


SCRIPT = [
    project(handle("a"), handle("b"), handle("c")),
    project(handle("a", "reserved", "w1", 1), handle("b", "reserved", "w2", 1), handle("c")),
    # a done; b timed out ([2.0] counter); c reserved and done within one interval
    project(handle("a", "done", None, 1), handle("b", "initial", None, 1, timeouts=1), handle("c", "done", None, 1)),
    # b reserved twice more: a retried failure, then a permanent failure
    project(handle("a", "done", None, 1), handle("b", "failed", None, 3, timeouts=1), handle("c", "done", None, 1)),
    # c reset by restart_handles
    project(handle("a", "done", None, 1), handle("b", "failed", None, 3, timeouts=1), handle("c", "initial", None, 1),
            active=True),
]

EXPECTED = [  # (poll, did, event, old_state, state, worker, attempt)
    (0, "mc:a", "create", None, "initial", None, 0),
    (0, "mc:b", "create", None, "initial", None, 0),
    (0, "mc:c", "create", None, "initial", None, 0),
    (1, "mc:a", "reserve", "initial", "reserved", "w1", 1),
    (1, "mc:b", "reserve", "initial", "reserved", "w2", 1),
    (2, "mc:a", "done", "reserved", "done", "w1", 1),
    (2, "mc:b", "worker_timeout", "reserved", "initial", "w2", 1),
    (2, "mc:c", "reserve", "initial", "reserved", None, 1),
    (2, "mc:c", "done", "reserved", "done", None, 1),
    (3, "mc:b", "reserve", "initial", "reserved", None, 2),
    (3, "mc:b", "failed", "reserved", "initial", None, 2),
    (3, "mc:b", "reserve", "initial", "reserved", None, 3),
    (3, "mc:b", "failed", "reserved", "failed", None, 3),
    (4, "mc:c", "reset", "done", "initial", None, 1),
]


def rows(events: pd.DataFrame) -> list[tuple]:
    def value(v):
        return None if pd.isna(v) else v

    return [(int(round((t.value / 1e9 - T0) / 10)), d, e, value(o), s, value(w), int(a))
            for t, d, e, o, s, w, a in zip(events["t"], events["did"], events["event"], events["old_state"],
                                           events["state"], events["worker"], events["attempt"])]


def test_recorder_derives_events_from_snapshots(tmp_path):
    clock = Clock()
    recorder = ProjectRecorder(ScriptedClient(SCRIPT), 8, tmp_path / "log.jsonl", clock=clock, sleep=clock.sleep)
    counts = []
    for _ in SCRIPT:
        counts.append(len(recorder.poll_once()))
        clock.sleep(10)
    assert counts == [3, 2, 4, 4, 1]
    assert rows(recorder.events()) == EXPECTED
    assert recorder.poll_once() == []  # nothing changed


def test_file_holds_handle_log_records(tmp_path):
    path = tmp_path / "log.jsonl"
    clock = Clock()
    recorder = ProjectRecorder(ScriptedClient(SCRIPT[:2]), 8, path, clock=clock)
    recorder.poll_once()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    first = next(read_records(path))
    assert set(first) == {"type", "t", "data", "project_id", "namespace", "name"}
    assert first["type"] == "state" and first["t"] == T0 and first["data"]["event"] == "create"


def test_same_events_frame_as_the_server_log_when_polls_see_every_transition(tmp_path):
    """One transition per interval: the recorder's frame equals the server's log frame (apart from times)."""
    snapshots = [project(handle("a")), project(handle("a", "reserved", "w1", 1)),
                 project(handle("a", "initial", None, 1)),
                 project(handle("a", "reserved", "w2", 2)), project(handle("a", "done", None, 2)),
                 project(handle("a", "initial", None, 2))]
    server_log = [
        {"type": "state", "t": T0 + 3 + i, "data": d, "project_id": 8, "namespace": "mc", "name": "a"}
        for i, d in enumerate([
            {"event": "create", "state": "initial"},
            {"event": "reserve", "old_state": "initial", "worker": "w1", "state": "reserved"},
            {"event": "failed", "worker": "w1", "state": "initial", "old_state": "reserved"},
            {"event": "reserve", "old_state": "initial", "worker": "w2", "state": "reserved"},
            {"event": "done", "worker": "w2", "state": "done", "old_state": "reserved"},
            {"event": "reset", "worker": None, "state": "initial", "old_state": "done"},
        ])
    ]
    clock = Clock()
    recorder = ProjectRecorder(ScriptedClient(snapshots), 8, tmp_path / "r.jsonl", clock=clock)
    for _ in snapshots:
        recorder.poll_once()
        clock.sleep(10)
    recorded = recorder.events().drop(columns="t")
    expected = events_frame(server_log).drop(columns="t")
    pd.testing.assert_frame_equal(recorded, expected)


def test_resume_continues_without_duplicates(tmp_path):
    path = tmp_path / "log.jsonl"
    clock = Clock()
    first = ProjectRecorder(ScriptedClient(SCRIPT), 8, path, clock=clock)
    first.poll_once()
    clock.sleep(10)
    first.poll_once()
    clock.sleep(10)
    second = ProjectRecorder(ScriptedClient(SCRIPT[2:]), 8, path, clock=clock)  # a restarted kernel
    for _ in SCRIPT[2:]:
        second.poll_once()
        clock.sleep(10)
    assert rows(second.events()) == EXPECTED


def test_torn_last_line_is_cut_on_resume(tmp_path, caplog):
    path = tmp_path / "log.jsonl"
    clock = Clock()
    ProjectRecorder(ScriptedClient(SCRIPT), 8, path, clock=clock).poll_once()
    with open(path, "ab") as stream:
        stream.write(b'{"type": "state", "t": 17000')  # a crash in the middle of a write
    with caplog.at_level(logging.WARNING):
        recorder = ProjectRecorder(ScriptedClient(SCRIPT[1:]), 8, path, clock=clock)
    assert "torn" in caplog.text
    clock.sleep(10)
    recorder.poll_once()
    assert path.read_bytes().endswith(b"\n")
    assert [r["data"]["event"] for r in recorder.records()] == ["create"] * 3 + ["reserve"] * 2


def test_file_of_another_project_is_refused(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"type": "state", "t": 1.0, "project_id": 9, "namespace": "x", "name": "y", '
                    '"data": {"event": "create", "state": "initial"}}\n')
    with pytest.raises(ValueError, match="project 9"):
        ProjectRecorder(ScriptedClient(SCRIPT), 8, path)


def test_late_start_records_a_baseline(tmp_path):
    snapshot = project(handle("a", "done", None, 2), handle("b", "reserved", "w9", 1), handle("c"))
    recorder = ProjectRecorder(ScriptedClient([snapshot]), 8, tmp_path / "l.jsonl", clock=Clock())
    records = recorder.poll_once()
    assert [r["data"].get("baseline", False) for r in records] == [True, True, False]
    events = recorder.events()
    assert events["state"].tolist() == ["done", "reserved", "initial"]
    assert events["attempt"].tolist() == [2, 1, 0]
    assert events["worker"].tolist()[1] == "w9"


def test_run_polls_until_finished(tmp_path):
    finished = project(handle("a", "done", None, 1), state="done", active=False)
    script = [project(handle("a")), project(handle("a", "reserved", "w", 1)), finished, finished]
    clock = Clock()
    client = ScriptedClient(script)
    recorder = ProjectRecorder(client, 8, tmp_path / "run.jsonl", interval=10.0, clock=clock, sleep=clock.sleep)
    assert recorder.run() == 3
    assert client.calls == 3 and clock.now == T0 + 20
    assert recorder.finished()


def test_run_stops_after_duration_and_on_interrupt(tmp_path):
    clock = Clock()
    client = ScriptedClient([project(handle("a"))])
    recorder = ProjectRecorder(client, 8, tmp_path / "d.jsonl", interval=10.0, clock=clock, sleep=clock.sleep)
    recorder.run(duration=25)
    assert client.calls == 3  # at 0, 10 and 20 s

    def interrupt(seconds):
        raise KeyboardInterrupt

    recorder.sleep = interrupt
    recorder.run()
    assert client.calls == 4


def test_inference_rules_for_ambiguous_and_impossible_changes(caplog):
    reserved = HandleState("reserved", "w1", 1, 0)
    assert [d["event"] for d in infer_transitions(reserved, HandleState("initial", None, 1, 0))] == ["failed"]
    assert [d["event"] for d in infer_transitions(reserved, HandleState("failed", None, 1, 1))] == ["worker_timeout"]
    assert [d["event"] for d in infer_transitions(HandleState("done", None, 1, 0),
                                                  HandleState("reserved", "w2", 2, 0))] == ["reset", "reserve"]
    assert infer_transitions(reserved, HandleState("reserved", "w1", 1, 0)) == []
    with caplog.at_level(logging.WARNING):
        steps = infer_transitions(HandleState("done", None, 1, 0), HandleState("failed", None, 1, 0))
    assert [(d["event"], d["old_state"], d["state"]) for d in steps] == [("failed", "done", "failed")]
    assert "unexplained" in caplog.text
    with pytest.raises(ValueError):
        ProjectRecorder(ScriptedClient([]), 8, "unused.jsonl", interval=0)
