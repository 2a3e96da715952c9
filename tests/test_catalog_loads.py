"""Big catalog loads: written in chunks that others can write between, invisible until complete, all or nothing.

Chunks are made small here (``LOAD_CHUNK_FILES``) so that a few hundred files
make a load of several chunks. A hook between two chunks holds or breaks the
load; what other clients see meanwhile is checked by events, not by time.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import requests

from dd_notebook.catalog import Catalog
from dd_notebook.server import LocalServer
from dd_notebook.server.catalog import loads
from dd_notebook.server.catalog.files import declare_files
from dd_notebook.server.catalog.loads import recover_loads

CHUNK = 100
N_FILES = 450  # five chunks
TABLES = ("mc_files", "mc_meta_values", "mc_meta_stats", "mc_dataset_files", "mc_provenance", "mc_loading")


def _files(prefix: str, n: int = N_FILES) -> list[dict]:
    return [{"name": f"{prefix}_{i:05d}.root", "size": 10 + i,
             "metadata": {"core.runs": [1000 + i // 50], "core.data_tier": "raw"},
             "parents": [{"did": f"ld:{prefix}_{i - 1:05d}.root"}] if i % 7 == 3 else []} for i in range(n)]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loads, "LOAD_CHUNK_FILES", CHUNK)


def _snapshot(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    return {table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall()) for table in TABLES}


def test_a_big_load_lets_dispatch_run_between_chunks_and_appears_at_once(tmp_path, small_chunks, monkeypatch):
    held, release = threading.Event(), threading.Event()

    def hold(chunk: int) -> None:
        if chunk == 1:
            held.set()
            assert release.wait(30)
    monkeypatch.setattr(loads, "after_chunk", hold)
    with LocalServer(db=tmp_path / "dd.sqlite", demo=True, demo_files=0) as srv:
        admin = requests.Session()
        admin.headers["X-Authentication-Token"] = srv.issue_token("admin")
        metacat = srv.metacat_url
        assert admin.get(f"{metacat}/data/create_namespace", params={"name": "ld"}).ok
        assert admin.post(f"{metacat}/data/create_dataset", json={"namespace": "ld", "name": "all"}).ok
        virtual = {"files": ["p:a", "p:b"], "project_attributes": {"virtual": True}}
        pid = admin.post(f"{srv.url}/create_project", json=virtual).json()["project_id"]
        answer: dict[str, requests.Response] = {}
        loader = threading.Thread(target=lambda: answer.setdefault("load", admin.post(
            f"{metacat}/data/declare_files", params={"namespace": "ld", "dataset": "ld:all"}, json=_files("f"))))
        loader.start()
        try:
            assert held.wait(30)  # two chunks are committed, the load is held before the third
            reserved = admin.get(f"{srv.url}/next_file", params={"project_id": pid, "worker_id": "w"}, timeout=10)
            assert reserved.status_code == 200 and reserved.json()["handle"]["name"] in ("a", "b")
            query = admin.post(f"{metacat}/data/query", data=b"files from ld:all", timeout=10)
            assert query.status_code == 200 and query.text.strip() == ""  # nothing of the load is there yet
            assert admin.get(f"{metacat}/data/file", params={"did": "ld:f_00000.root"}).status_code == 404
            assert admin.get(f"{metacat}/data/dataset", params={"dataset": "ld:all"}).json()["file_count"] == 0
        finally:
            release.set()
            loader.join(60)
        assert answer["load"].status_code == 200 and len(answer["load"].json()) == N_FILES
        listed = admin.post(f"{metacat}/data/query", data=b"files from ld:all", params={"with_provenance": "yes"})
        assert listed.text.count("\x1e") == N_FILES  # json-seq: one record separator per file
        assert admin.get(f"{metacat}/data/dataset", params={"dataset": "ld:all"}).json()["file_count"] == N_FILES
        child = admin.get(f"{metacat}/data/file", params={"did": "ld:f_00003.root"}).json()
        assert [p["fid"] for p in child["parents"]] == [
            admin.get(f"{metacat}/data/file", params={"did": "ld:f_00002.root"}).json()["fid"]]
        with sqlite3.connect(srv.db_path) as conn:
            assert conn.execute("SELECT count(*) FROM mc_loading").fetchone()[0] == 0


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    cat = Catalog.open(tmp_path / "c.sqlite")
    cat.create_namespace("ld", owner_user="alice", creator="alice")
    cat.create_dataset("ld", "all", creator="alice")
    cat.declare_files(_files("old", 20), namespace="ld", dataset="ld:all", creator="alice")
    yield cat
    cat.close()


def test_a_load_that_fails_midway_leaves_nothing(catalog, small_chunks, monkeypatch):
    before = _snapshot(catalog.conn)

    def fail(chunk: int) -> None:
        if chunk == 2:
            raise sqlite3.OperationalError("disk I/O error")
    monkeypatch.setattr(loads, "after_chunk", fail)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        declare_files(catalog.conn, _files("new"), namespace="ld", dataset=("ld", "all"), creator="alice")
    assert _snapshot(catalog.conn) == before
    assert catalog.get_dataset("ld", "all")["file_count"] == 20


def test_a_load_cut_short_by_a_crash_is_invisible_and_removed_at_the_next_start(catalog, small_chunks, monkeypatch):
    before = _snapshot(catalog.conn)

    def crash(chunk: int) -> None:
        if chunk == 2:
            raise KeyboardInterrupt  # not an error the load handles: what a killed process leaves behind
    monkeypatch.setattr(loads, "after_chunk", crash)
    with pytest.raises(KeyboardInterrupt):
        declare_files(catalog.conn, _files("new"), namespace="ld", dataset=("ld", "all"), creator="alice")
    left = catalog.conn.execute("SELECT count(*) FROM mc_files").fetchone()[0]
    assert left == 20 + 3 * CHUNK  # three chunks were committed ...
    assert len(list(catalog.query("files from ld:all"))) == 20  # ... and none of them is visible
    assert len(list(catalog.query("files where core.data_tier = raw"))) == 20
    assert catalog.get_files([{"did": "ld:new_00000.root"}]) == []
    assert recover_loads(catalog.conn) == 1
    assert _snapshot(catalog.conn) == before
    monkeypatch.setattr(loads, "after_chunk", lambda chunk: None)
    again = declare_files(catalog.conn, _files("new"), namespace="ld", dataset=("ld", "all"), creator="alice")
    assert len(again) == N_FILES and catalog.get_dataset("ld", "all")["file_count"] == 20 + N_FILES
