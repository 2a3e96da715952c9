"""The time-driven sweeps survive whatever a project holds, and the server restarts on such a database.

Users set file and project attributes freely, so the ``timeouts`` counter and
``retry_on_timeout`` may hold text, nulls, huge numbers or nested objects; a
database written by another process may even hold values no request could
send. A project the sweep cannot read is logged once per sweep and skipped;
every other project keeps being swept.
"""

from __future__ import annotations

import logging
import sqlite3
import time

import pytest
from conftest import DDHttp, start_server

from dd_notebook.server import SweepSettings
from dd_notebook.server.core.db import connect
from dd_notebook.server.dd.dispatch import Dispatcher
from dd_notebook.server.dd.projects import ProjectStore
from dd_notebook.server.dd.rses import RSEStore
from dd_notebook.server.auth.users import UserStore

FAST = SweepSettings(worker_timeout_interval=0.2, idle_interval=0.2)
SLOW = SweepSettings(worker_timeout_interval=3600, idle_interval=3600)
ODD_COUNTERS = {"text": "x", "null": None, "huge": 2**64 - 1, "float": 1e300, "object": {"a": {"b": 1}},
                "list": [1, 2], "negative": -5, "fraction": 2.5, "bool": True, "numeric_text": "3"}


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _handle(dd: DDHttp, pid: int, name: str) -> dict:
    handles = dd.ok(dd.get("project", params={"project_id": pid}))["file_handles"]
    return next(h for h in handles if h["name"] == name)


def _reserve(dd: DDHttp, pid: int, worker: str = "w") -> dict:
    reply = dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": worker}))
    assert reply["handle"] is not None, reply
    return reply["handle"]


def _timed_out_project(dd: DDHttp, attributes: dict, **project_attributes) -> int:
    files = [{"namespace": "odd", "name": "f", "attributes": attributes}]
    return dd.create(files, project_attributes={"virtual": True, **project_attributes},
                     worker_timeout=0)["project_id"]


def test_odd_timeout_counters_are_swept_and_survive_a_restart(tmp_path):
    db = tmp_path / "dd.sqlite"
    server = start_server(db, sweeps=FAST)
    try:
        dd = DDHttp(server)
        projects = {label: _timed_out_project(dd, {"timeouts": value}) for label, value in ODD_COUNTERS.items()}
        normal = _timed_out_project(dd, {"timeouts": 4})
        for pid in [*projects.values(), normal]:
            _reserve(dd, pid)
        for label, pid in projects.items():
            handle = _wait_for(lambda pid=pid: (h := _handle(dd, pid, "f"))["state"] == "initial" and h)
            assert handle["attributes"]["timeouts"] == 1, label
        assert _wait_for(lambda: _handle(dd, normal, "f")["attributes"]["timeouts"] == 5)
    finally:
        server.stop()
    server = start_server(db, sweeps=FAST)
    try:
        dd = DDHttp(server)
        _reserve(dd, projects["text"])
        assert _wait_for(lambda: _handle(dd, projects["text"], "f")["attributes"]["timeouts"] == 2)
    finally:
        server.stop()


@pytest.mark.parametrize("retry_flag", [None, {"nested": ["True"]}, 2**64 - 1, 1e300, ["True"], "true"])
def test_odd_retry_on_timeout_values_fail_the_handle(dd, retry_flag):
    pid = _timed_out_project(dd, {}, retry_on_timeout=retry_flag)
    _reserve(dd, pid)
    handle = _wait_for(lambda: (h := _handle(dd, pid, "f"))["state"] != "reserved" and h)
    assert handle["state"] == "failed" and handle["attributes"] == {"timeouts": 1}


def _break(db, sql: str, args: tuple) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(sql, args)
    finally:
        conn.close()


BROKEN = {
    "worker_timeout text": ("UPDATE projects SET worker_timeout = 'x' WHERE id = ?", ()),
    "project attributes not JSON": ("UPDATE projects SET attributes = '{not json' WHERE id = ?", ()),
    "project attributes a list": ("UPDATE projects SET attributes = '[1]' WHERE id = ?", ()),
    "handle attributes not JSON": ("UPDATE handles SET attributes = 'nope' WHERE project_id = ?", ()),
    "handle attributes too deep": ("UPDATE handles SET attributes = ? WHERE project_id = ?",
                                   ('{"a":' + "[" * 300 + "]" * 300 + "}",)),
}


def _sweep_logs(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dd_notebook.server.dd.dispatch"
            and r.levelno == logging.WARNING]


@pytest.mark.parametrize("breakage", sorted(BROKEN))
def test_unreadable_project_is_logged_once_per_sweep_and_skipped(tmp_path, caplog, breakage):
    db = tmp_path / "dd.sqlite"
    server = start_server(db, sweeps=SLOW)
    try:
        dd = DDHttp(server)
        bad, good = _timed_out_project(dd, {}), _timed_out_project(dd, {})
        _reserve(dd, bad)
        _reserve(dd, good)
    finally:
        server.stop()
    sql, args = BROKEN[breakage]
    _break(db, sql, (*args, bad))
    conn = connect(db)
    try:
        users = UserStore(conn)
        dispatcher = Dispatcher(ProjectStore(conn, users), RSEStore(conn))
        with caplog.at_level(logging.WARNING, logger="dd_notebook.server.dd.dispatch"):
            released = dispatcher.sweep_worker_timeouts(now=time.time() + 10)
        states = dict(conn.execute("SELECT project_id, state FROM handles").fetchall())
    finally:
        conn.close()
    assert released == 1 and states == {bad: "reserved", good: "initial"}
    messages = _sweep_logs(caplog)
    assert len(messages) == 1 and f"project {bad}" in messages[0], messages


def test_server_starts_and_keeps_sweeping_with_an_unreadable_project(tmp_path, caplog):
    db = tmp_path / "dd.sqlite"
    server = start_server(db, sweeps=SLOW)
    try:
        dd = DDHttp(server)
        bad = _timed_out_project(dd, {})
        _reserve(dd, bad)
    finally:
        server.stop()
    _break(db, "UPDATE projects SET worker_timeout = 'x', idle_timeout = 'y' WHERE id = ?", (bad,))
    with caplog.at_level(logging.WARNING, logger="dd_notebook.server.dd.dispatch"):
        server = start_server(db, sweeps=FAST)
        try:
            dd = DDHttp(server)
            for round_ in range(3):
                good = _timed_out_project(dd, {})
                _reserve(dd, good)
                assert _wait_for(lambda good=good: _handle(dd, good, "f")["state"] == "initial"), round_
            assert _handle(dd, bad, "f")["state"] == "reserved"
        finally:
            server.stop()
    assert any(f"project {bad}" in m for m in _sweep_logs(caplog))
