"""The standard project JSON that SQLite writes, the pieces it is sent in, and the columnar twin.

SQLite writes each handle's JSON text; the bytes must equal ``orjson``'s of
the Python records in every case, including the values SQLite cannot write
exactly (floats, unusual stored types, a replica on an RSE the server does
not know), which are built by Python.
"""

from __future__ import annotations

import socket
import sqlite3

import orjson
import pytest
import requests

from dd_notebook.server import LocalServer
from dd_notebook.server.auth.users import UserStore
from dd_notebook.server.core.json_pieces import json_pieces
from dd_notebook.server.dd.projects import ProjectStore
from dd_notebook.server.dd.standard_json import BATCH_ROWS

COLUMNS = "application/vnd.dd-notebook.columns+jsonl"


def _python_record(db_path, project_id: int, with_files: bool, with_replicas: bool) -> bytes:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        store = ProjectStore(conn, UserStore(conn))
        return orjson.dumps(store.record(store.require(project_id), with_files, with_replicas))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def odd_project(tmp_path_factory):
    """A project whose handles and replicas hold every case SQLite must hand over to Python."""
    db = tmp_path_factory.mktemp("standard") / "dd.sqlite"
    with LocalServer(db=db, demo=True, demo_files=0) as srv:
        admin = requests.Session()
        admin.headers["X-Authentication-Token"] = srv.issue_token("admin")
        files = [{"namespace": "ünï", "name": f"f\u2028{i}\"q\\.root", "attributes": {"x": 0.1 + i, "s": "é"}}
                 for i in range(6)] + [f"plain:f{i:05d}" for i in range(BATCH_ROWS + 10)]
        pid = admin.post(f"{srv.url}/create_project", json={"files": files, "project_attributes": {"p": 1.5}})
        pid = pid.json()["project_id"]
        for did, rse in (("plain:f00000", "FNAL_DCACHE"), ("plain:f00000", "UK_RAL"),
                         ("ünï:f\u20280\"q\\.root", "CERN_EOS"), ("plain:f00001", "CERN_EOS"),
                         ("plain:f00002", "FNAL_DCACHE"), (f"plain:f{BATCH_ROWS + 3:05d}", "UK_RAL")):
            ns, name = did.split(":", 1)
            assert admin.post(f"{srv.url}/replica_available", params={"rse": rse, "namespace": ns, "name": name},
                              json={"path": "/p\"a\\th", "urls": ["root://x/p"], "preference": 3}).status_code == 200
        admin.get(f"{srv.url}/replica_unavailable", params={"rse": "UK_RAL", "namespace": "plain", "name": "f00000"})
        for worker in ('w"1\n', "w2"):  # reserved handles carry a float timestamp: built by Python
            assert admin.get(f"{srv.url}/next_file", params={"project_id": pid, "worker_id": worker}).ok
        with sqlite3.connect(srv.db_path) as conn:  # stored values SQLite would write differently, or not at all
            conn.execute("UPDATE replicas SET preference = 2.5 WHERE rse = 'CERN_EOS' AND name = 'f00001'")
            conn.execute("INSERT INTO replicas(namespace, name, rse, path, urls, preference, available) "
                         "VALUES ('plain', 'f00003', 'NOT_AN_RSE', '/x', '[]', 0, 1)")
            conn.execute("UPDATE replicas SET available = 2 WHERE name = 'f00002'")
            conn.execute("UPDATE rses SET is_available = NULL WHERE name = 'UK_RAL'")
            conn.execute("UPDATE handles SET attempts = 1.5 WHERE name = 'f00004'")
        yield srv, admin, pid


@pytest.mark.parametrize(("with_files", "with_replicas"), [("yes", "yes"), ("yes", "no"), ("no", "no")])
def test_the_json_sqlite_writes_is_byte_identical_to_the_python_records(odd_project, with_files, with_replicas):
    srv, admin, pid = odd_project
    expected = _python_record(srv.db_path, pid, with_files == "yes", with_replicas == "yes")
    got = admin.get(f"{srv.url}/project", params={"project_id": pid, "with_files": with_files,
                                                  "with_replicas": with_replicas})
    assert got.status_code == 200
    assert got.headers["content-length"] == str(len(expected))
    assert got.content == expected
    record = orjson.loads(got.content)
    if with_files == "yes":
        by_name = {h["name"]: h for h in record["file_handles"]}
        assert len(by_name) == BATCH_ROWS + 16  # the handles span more than one batch
        assert by_name["f00004"]["attempts"] == 1.5
    if with_replicas == "yes":
        assert by_name["f00003"]["replicas"]["NOT_AN_RSE"]["rse_available"] is False
        assert by_name["f00001"]["replicas"]["CERN_EOS"]["preference"] == 2.5
        assert by_name["f00000"]["replicas"]["FNAL_DCACHE"]["path"] == "/p\"a\\th"
        assert by_name["f00000"]["replicas"]["UK_RAL"]["available"] is False


def test_the_columnar_listing_holds_the_same_handles_and_replicas(odd_project):
    srv, admin, pid = odd_project
    standard = admin.get(f"{srv.url}/project", params={"project_id": pid}).json()
    body = admin.get(f"{srv.url}/project", params={"project_id": pid}, headers={"Accept": COLUMNS}).content
    header, *lines = body.split(b"\n")
    tables = orjson.loads(header)["tables"]
    columns = iter(orjson.loads(line) for line in lines)
    handles = {name: next(columns) for name in tables["handles"]}
    replicas = {name: next(columns) for name in tables["replicas"]}
    assert handles["name"] == [h["name"] for h in standard["file_handles"]]
    assert sorted(zip(replicas["name"], replicas["rse"], strict=True)) == sorted(
        (h["name"], rse) for h in standard["file_handles"] for rse in h["replicas"])


def test_the_answer_to_a_write_is_the_same_json(odd_project):
    srv, admin, pid = odd_project
    answer = admin.get(f"{srv.url}/cancel_project", params={"project_id": pid})
    assert answer.status_code == 200
    assert answer.content == _python_record(srv.db_path, pid, True, True)


def test_a_body_in_pieces_reaches_a_raw_http_client_whole(odd_project):
    """The pieces go out as one ordinary body of the announced length (no chunked encoding)."""
    srv, admin, pid = odd_project
    host, port = srv.url.split("//")[1].split("/")[0].split(":")
    token = admin.headers["X-Authentication-Token"]
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"GET /dd/data/project?project_id={pid} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"X-Authentication-Token: {token}\r\nConnection: close\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(1 << 16):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    headers = dict(line.split(b": ", 1) for line in head.lower().split(b"\r\n")[1:])
    length = int(headers[b"content-length"])
    assert len(body) == length
    assert body == _python_record(srv.db_path, pid, True, True)


@pytest.mark.parametrize("value", [
    [], {}, [1, 2], {"a": [{"b": list(range(7))} for _ in range(9)], "c": list(range(25))},
    [list(range(12)), {"x": list(range(30))}, "s", None, 1.5],
    {"file_handles": [{"name": f"f{i}", "replicas": {"R": {"p": i}}} for i in range(23)], "k": {1: "v"}},
])
def test_json_pieces_concatenate_to_orjson_bytes(value):
    option = orjson.OPT_NON_STR_KEYS
    pieces = json_pieces(value, option=option, piece=4)
    assert b"".join(pieces) == orjson.dumps(value, option=option)
    assert all(isinstance(piece, bytes) for piece in pieces)


def _python_handles(db_path, project_id: int, with_replicas: bool, keep) -> bytes:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        handles = ProjectStore(conn, UserStore(conn)).handles(project_id, with_replicas)
        return orjson.dumps([h for h in handles if keep(h["state"])])
    finally:
        conn.close()


@pytest.mark.parametrize(("endpoint", "params", "with_replicas", "keep"), [
    ("project_files", {}, True, lambda s: True),
    ("project_files", {"state": "reserved"}, True, lambda s: s == "reserved"),
    ("project_files", {"state": "done"}, True, lambda s: False),
    ("handles", {}, False, lambda s: True),
    ("handles", {"state": "initial"}, False, lambda s: s == "initial"),
    ("handles", {"not_state": "initial"}, False, lambda s: s != "initial"),
    ("handles", {"state": "initial", "with_replicas": "yes"}, False, lambda s: True),  # upstream: no filter then
])
def test_handle_listings_written_by_sqlite_are_byte_identical(odd_project, endpoint, params, with_replicas, keep):
    srv, admin, pid = odd_project
    got = admin.get(f"{srv.url}/{endpoint}", params={"project_id": pid, **params})
    assert got.status_code == 200
    assert got.content == _python_handles(srv.db_path, pid, with_replicas, keep)
