"""The catalog web app over real HTTP: wire format, public vs. authenticated endpoints, bad input.

The app is mounted at ``/metacat/app`` of a Starlette app served by uvicorn on a
free loopback port (as the embedded server mounts it), on a real SQLite file.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
import requests
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from dd_notebook.catalog import Catalog
from dd_notebook.server.catalog.app import create_catalog_app
from dd_notebook.server.catalog.sample import load_sample_catalog
from dd_notebook.server.core.errors import HTTPError

FILE_KEYS = ["fid", "namespace", "name", "retired", "retired_by", "updated_by", "retired_timestamp",
             "updated_timestamp", "created_timestamp", "checksums", "size", "creator"]


@dataclass(frozen=True)
class StubUser:
    username: str
    is_admin: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)


TOKENS = {"admin-token": StubUser("admin", True, frozenset({"prod"})),
          "alice-token": StubUser("alice"), "carol-token": StubUser("carol", False, frozenset({"prod"}))}


def stub_authenticate(request: Request) -> StubUser:
    """Accept the fixed ``X-Authentication-Token`` values of :data:`TOKENS`."""
    token = request.headers.get("X-Authentication-Token")
    if token is None:
        raise HTTPError(401, "Token not found")
    if token not in TOKENS:
        raise HTTPError(401, "invalid token")
    return TOKENS[token]


def _serve(db: Path) -> Iterator[str]:
    app = Starlette(routes=[Mount("/metacat/app", app=create_catalog_app(str(db), stub_authenticate))])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}/metacat/app"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def catalog_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real SQLite file in WAL mode holding the sample catalog."""
    db = tmp_path_factory.mktemp("catalog") / "catalog.sqlite"
    with Catalog.open(db) as catalog:
        load_sample_catalog(catalog)
    return db


@pytest.fixture(scope="module")
def catalog_url(catalog_db: Path) -> Iterator[str]:
    """Base URL (``.../metacat/app``) of the catalog app served by uvicorn in a thread."""
    yield from _serve(catalog_db)


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def seq(response: requests.Response) -> list[dict]:
    """Parse a json-seq body strictly: every record is RS + one JSON line + LF."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json-seq"
    records = response.content.split(b"\n")
    assert records[-1] == b""
    assert all(r.startswith(b"\x1e") and b"\x1e" not in r[1:] for r in records[:-1])
    return [orjson.loads(r[1:]) for r in records[:-1]]


def query(http: requests.Session, url: str, mql: str, token: str | None = None, **params: str) -> requests.Response:
    headers = {"Content-Type": "text/json", **({"X-Authentication-Token": token} if token else {})}
    return http.post(f"{url}/data/query", params=params, data=mql, headers=headers)


# ---------------------------------------------------------------- queries on the wire
def test_query_streams_json_seq_in_wire_shape(http, catalog_url):
    files = seq(query(http, catalog_url, "files from s:mid ordered", with_meta="no", with_provenance="no"))
    assert [f["name"] for f in files] == ["f01", "f02"]
    assert list(files[0]) == FILE_KEYS
    assert files[0]["checksums"] == {"adler32": "00000001"} and files[0]["retired"] is False


def test_query_with_metadata_and_provenance(http, catalog_url):
    files = seq(query(http, catalog_url, "files s:f04", with_meta="yes", with_provenance="yes"))
    assert list(files[0]) == FILE_KEYS + ["metadata", "parents", "children"]
    assert files[0]["metadata"]["x.n"] == 4.5
    assert sorted(p["fid"] for p in files[0]["parents"]) == ["s01", "s02"]
    assert files[0]["children"] == []


def test_query_get_form_namespace_and_retired(http, catalog_url):
    got = seq(http.get(f"{catalog_url}/data/query", params={"query": "files f01, f02", "namespace": "s"}))
    assert sorted(f["name"] for f in got) == ["f01", "f02"]
    retired = seq(query(http, catalog_url, "files from s:all where x.n = 9", include_retired_files="yes"))
    assert [(f["name"], f["retired"], f["retired_by"]) for f in retired] == [("f09", True, "alice")]
    assert seq(query(http, catalog_url, "files from s:all where x.n = 9")) == []


def test_query_summaries(http, catalog_url):
    count = query(http, catalog_url, "files from s:mid", summary="count")
    assert count.headers["content-type"] == "application/json"
    assert count.json() == {"count": 2, "total_size": 300}
    keys = query(http, catalog_url, "files from s:mid", summary="keys").json()
    assert keys == sorted({"core.runs", "core.data_tier", "x.n", "x.s", "x.b", "x.f", "x.list", "x.obj", "x.t"})


def test_empty_query_is_an_empty_list(http, catalog_url):
    response = query(http, catalog_url, "  ")
    assert response.status_code == 200 and response.json() == []


def test_public_endpoints_ignore_bad_tokens(http, catalog_url):
    headers = {"X-Authentication-Token": "expired.garbage.token", "Content-Type": "text/json"}
    response = http.post(f"{catalog_url}/data/query", data="files from s:mid", headers=headers)
    assert len(seq(response)) == 2
    assert http.get(f"{catalog_url}/data/file", params={"fid": "s01"}, headers=headers).status_code == 200


def test_upstream_client_trimquery_parameter_is_ignored(http, catalog_url):
    raw = f"{catalog_url}/data/query?with_meta=no&with_provenance=no&trimquery=files from s:mid where x.n=1 & y"
    assert [f["name"] for f in seq(http.post(raw, data="files from s:mid where x.n = 1"))] == ["f01"]


@pytest.mark.parametrize("mql, status, words", [
    ("files frm s:mid", 400, ["MQLSyntaxError: MQL syntax error at line 1, column 11", "unexpected"]),
    ("files from s:mid where x.n = ", 400, ["line 1, column 30", "end of query"]),
    ("files from s:nope", 404, ["dataset s:nope not found"]),
    ("files where bogus = 1", 400, ["MQLCompilationError: unknown attribute 'bogus'"]),
    ("files where x.s ~ '('", 400, ["invalid regular expression"]),
    ("files where x.n in 1:'a'", 400, ["range ends must have the same type"]),
    ("files limit 123456789012345678901234567890", 400, ["too large"]),
    ("files where x.n = 99999999999999999999999", 400, ["out of range"]),
    ("files selected by s:q", 400, ["not supported"]),
    ("files a, b", 400, ["has no namespace"]),
    ("files where " + "(" * 5000 + "x.n = 1" + ")" * 5000, 200, []),
])
def test_bad_queries_are_4xx_with_a_message(http, catalog_url, mql, status, words):
    response = query(http, catalog_url, mql)
    assert response.status_code == status, response.text
    if status != 200:
        assert response.headers["content-type"].startswith("text/plain")
        assert all(word in response.text for word in words), response.text


@pytest.mark.parametrize("method, path, params, body", [
    ("POST", "data/query", {"summary": "everything"}, b"files"),
    ("POST", "data/query", {"namespace": "bad name!"}, b"files a"),
    ("POST", "data/query", {}, b"\xff\xfe not utf-8"),
    ("POST", "data/query", {"save_as": "s:new"}, b"files from s:mid"),
    ("GET", "data/file", {}, None),
    ("GET", "data/file", {"fid": "no such fid"}, None),
    ("GET", "data/file", {"did": "nonamespace"}, None),
    ("GET", "data/file", {"fid": "zzz"}, None),
    ("GET", "data/file/s:nofile", {}, None),
    ("POST", "data/files", {}, b"{not json"),
    ("POST", "data/files", {}, b'{"fid": "s01"}'),
    ("POST", "data/files", {}, b'[{"fid": 5}]'),
    ("POST", "data/files", {}, b'[{"bogus": 1}]'),
    ("GET", "data/dataset", {}, None),
    ("GET", "data/dataset", {"dataset": "s:missing"}, None),
    ("GET", "data/dataset", {"dataset": "no-colon-and bad"}, None),
    ("GET", "data/dataset_files", {"dataset": "s:missing"}, None),
    ("GET", "data/dataset_counts", {"dataset": "s:missing"}, None),
    ("GET", "data/namespace", {"name": "missing"}, None),
    ("GET", "data/namespace", {}, None),
    ("POST", "data/namespaces", {}, b'{"a": 1}'),
    ("GET", "data/create_namespace", {"name": "x"}, None),
    ("POST", "data/declare_files", {"dataset": "s:all"}, b"[]"),
    ("GET", "data/nonexistent", {}, None),
])
def test_bad_requests_are_4xx(http, catalog_url, method, path, params, body):
    response = http.request(method, f"{catalog_url}/{path}", params=params, data=body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.text.strip()


# ---------------------------------------------------------------- lookups
def test_file_lookups(http, catalog_url):
    by_fid = http.get(f"{catalog_url}/data/file", params={"fid": "s03"}).json()
    assert by_fid["name"] == "f03" and by_fid["metadata"]["x.s"] == "Gamma"
    assert [c["fid"] for c in by_fid["children"]] == ["s06"]
    by_did = http.get(f"{catalog_url}/data/file", params={"did": "s:f03", "with_metadata": "no"}).json()
    assert "metadata" not in by_did and by_did["fid"] == "s03"
    by_path = http.get(f"{catalog_url}/data/file/s:f03", params={"with_datasets": "yes"}).json()
    assert by_path["datasets"] == [{"namespace": "s", "name": "all"}, {"namespace": "s", "name": "low"},
                                   {"namespace": "s", "name": "odd"}]
    assert http.get(f"{catalog_url}/data/file/s03").json()["name"] == "f03"
    missing = http.get(f"{catalog_url}/data/file", params={"fid": "nope"})
    assert missing.status_code == 404 and "File not found" in missing.text
    many = http.post(f"{catalog_url}/data/files", params={"with_metadata": "yes"},
                     json=[{"fid": "s01"}, {"namespace": "o", "name": "o2"}, {"did": "s:f02"}, {"fid": "gone"}]).json()
    assert sorted(f["name"] for f in many) == ["f01", "f02", "o2"] and all("metadata" in f for f in many)


def test_datasets_and_namespaces(http, catalog_url):
    listed = http.get(f"{catalog_url}/data/datasets").json()
    assert [(d["namespace"], d["name"], d["file_count"]) for d in listed][:3] == [
        ("o", "misc", 3), ("s", "all", 12), ("s", "empty", 0)]
    mid = http.get(f"{catalog_url}/data/dataset", params={"dataset": "s:mid"}).json()
    assert mid["file_count"] == 2 and mid["metadata"] == {"ds.kind": "mid", "ds.rank": 3}
    assert mid["file_meta_requirements"] == {} and mid["frozen"] is False
    assert http.get(f"{catalog_url}/data/dataset/s:mid").json() == mid
    counts = http.get(f"{catalog_url}/data/dataset_counts", params={"dataset": "s:mid"}).json()
    assert counts == {"dataset": "s:mid", "file_count": 2, "parent_count": 1, "child_count": 1,
                      "superset_count": 1, "subset_count": 1}
    assert http.get(f"{catalog_url}/data/dataset_count", params={"dataset": "s:top"}).json() == {"file_count": 1}
    files = seq(http.get(f"{catalog_url}/data/dataset_files", params={"dataset": "s:mid", "with_metadata": "yes"}))
    assert sorted(f["name"] for f in files) == ["f01", "f02"] and "metadata" in files[0]
    names = [n["name"] for n in http.get(f"{catalog_url}/data/namespaces").json()]
    assert names == ["o", "s"]
    assert http.post(f"{catalog_url}/data/namespaces", json=["s"]).json()[0]["owner_user"] == "alice"
    assert http.get(f"{catalog_url}/data/namespace/o").json()["owner_role"] == "prod"
    assert http.get(f"{catalog_url}/data/namespace_counts", params={"name": "s"}).json() == {
        "nfiles": 12, "ndatasets": 7, "nqueries": 0}
    assert http.get(f"{catalog_url}/data/version").text.strip()


# ---------------------------------------------------------------- writes
def _auth(token: str) -> dict[str, str]:
    return {"X-Authentication-Token": token}


def test_writes_need_a_valid_token(http, catalog_url):
    response = http.get(f"{catalog_url}/data/create_namespace", params={"name": "w0"})
    assert response.status_code == 401 and "Token not found" in response.text
    response = http.get(f"{catalog_url}/data/create_namespace", params={"name": "w0"}, headers=_auth("bad"))
    assert response.status_code == 401 and "invalid token" in response.text


def test_load_a_catalog_over_http(http, catalog_url):
    created = http.get(f"{catalog_url}/data/create_namespace", params={"name": "w1", "description": "a b"},
                       headers=_auth("alice-token"))
    assert created.status_code == 200, created.text
    assert created.json()["owner_user"] == "alice" and created.json()["description"] == "a b"
    again = http.get(f"{catalog_url}/data/create_namespace", params={"name": "w1"}, headers=_auth("alice-token"))
    assert again.status_code == 409
    role = http.get(f"{catalog_url}/data/create_namespace", params={"name": "w2", "owner_role": "prod"},
                    headers=_auth("alice-token"))
    assert role.status_code == 403
    ds = http.post(f"{catalog_url}/data/create_dataset", headers=_auth("alice-token"),
                   json={"namespace": "w1", "name": "set", "metadata": {"ds.kind": "w"}, "description": "d"})
    assert ds.status_code == 200 and ds.json()["creator"] == "alice"
    denied = http.post(f"{catalog_url}/data/create_dataset", headers=_auth("carol-token"),
                       json={"namespace": "w1", "name": "other"})
    assert denied.status_code == 403
    declared = http.post(f"{catalog_url}/data/declare_files", params={"dataset": "w1:set"},
                         headers=_auth("alice-token"),
                         json=[{"did": "w1:a.root", "size": 10, "metadata": {"core.runs": [99]}, "creator": "mallory",
                                "checksums": {"adler32": "0A0B0C0D"}, "parents": [{"fid": "s01"}]},
                               {"namespace": "w1", "name": "b.root", "size": 20, "fid": "wb"}])
    assert declared.status_code == 200, declared.text
    assert [f["name"] for f in declared.json()] == ["a.root", "b.root"]
    assert declared.json()[0]["checksums"] == {"adler32": "0a0b0c0d"}
    assert {f["creator"] for f in declared.json()} == {"alice"}
    found = seq(query(http, catalog_url, "files from w1:set where 99 in core.runs", with_provenance="yes"))
    assert [f["parents"] for f in found] == [[{"fid": "s01"}]]
    duplicate = http.post(f"{catalog_url}/data/declare_files", params={"dataset": "w1:set"},
                          headers=_auth("alice-token"), json=[{"did": "w1:a.root", "size": 1}])
    assert duplicate.status_code == 409
    assert duplicate.text.splitlines() == ["The following files already exist:", "  w1:a.root"]
    added = http.post(f"{catalog_url}/data/add_files", params={"dataset": "w1:set"}, headers=_auth("alice-token"),
                      json={"query": "files from s:mid"})
    assert added.json() == {"files_added": 2}
    saved = query(http, catalog_url, "files from w1:set where size > 15", "alice-token", save_as="w1:big")
    saved_names = sorted(f["name"] for f in seq(saved))
    assert saved_names == ["b.root", "f01", "f02"]
    unauthenticated = query(http, catalog_url, "files from w1:set", add_to="w1:big")
    assert unauthenticated.status_code == 401
    big = http.get(f"{catalog_url}/data/dataset", params={"dataset": "w1:big"}).json()
    assert big["file_count"] == 3
    exists = query(http, catalog_url, "files from w1:set", "alice-token", save_as="w1:big")
    assert exists.status_code == 409
    foreign = query(http, catalog_url, "files from w1:set", "carol-token", add_to="w1:big")
    assert foreign.status_code == 403
    assert len(seq(query(http, catalog_url, "fids s05", "alice-token", add_to="w1:big"))) == 1
    assert http.get(f"{catalog_url}/data/dataset", params={"dataset": "w1:big"}).json()["file_count"] == 4


@pytest.mark.parametrize("body, words", [
    ([{"did": "w9:x", "size": 1}], "namespace w9 not found"),
    ([{"name": "x", "size": -1, "namespace": "s"}], "size of file #0"),
    ([{"name": "x", "size": 2**70, "namespace": "s"}], "size of file #0"),
    ([{"name": "x", "size": "1", "namespace": "s"}], "size of file #0"),
    ([{"name": "x y", "size": 1, "namespace": "s"}], "invalid name"),
    ([{"name": "x", "size": 1, "namespace": "s", "metadata": {"nodot": 1}}], "category.name"),
    (b'[{"name": "x", "size": 1, "namespace": "s", "metadata": {"a.b": NaN}}]', "not valid JSON"),
    ([{"name": "x", "size": 1, "namespace": "s", "checksums": {"adler32": "xyz"}}], "hexadecimal"),
    ([{"name": "x", "size": 1, "namespace": "s", "parents": [{"fid": "nope"}]}], "parent of file #0"),
    ([{"name": "x", "size": 1, "namespace": "s"}, {"name": "x", "size": 1, "namespace": "s"}], "twice"),
    ({"not": "a list"}, "JSON array"),
    (["not an object"], "file #0 must be a JSON object"),
])
def test_declare_files_rejects_bad_entries(http, catalog_url, body, words):
    payload = {"data": body} if isinstance(body, bytes) else {"json": body}
    response = http.post(f"{catalog_url}/data/declare_files", params={"dataset": "s:all"},
                         headers=_auth("admin-token"), **payload)
    assert 400 <= response.status_code < 500, response.text
    assert words in response.text
