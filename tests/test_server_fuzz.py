"""Property-based fuzzing of every endpoint: never a 5xx (but a plain 503 "busy"), and an intact database after.

One embedded server on a real SQLite file (a 50-file demo catalog, a few projects
with reserved, done and failed handles) receives generated requests: any method,
hostile query parameters (ids as huge ints, Unicode digits, floats, NUL, quotes,
SQL, JSON), JSON bodies of any shape, and no token, an admin's, a user's, an
expired or a forged one. Each answer must come within the request timeout, be a
non-5xx (or a plain 503), and never show SQLite's texts or a traceback. After
the fuzzing (the last test of the module) the database must pass SQLite's
integrity checks and keep the invariants of the DD server and the catalog.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dd_notebook.server import LocalServer
from dd_notebook.server.dd.counts import HANDLE_STATES

#: DD endpoint → the query parameters and body keys it reads (the fuzz mostly sends those, with hostile values).
DD_ENDPOINTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "version": ((), ()), "probe": ((), ()), "rses": ((), ()), "proximity_map": ((), ()),
    "create_project": ((), ("files", "attributes", "query", "worker_timeout", "idle_timeout", "users", "roles")),
    "copy_project": ((), ("project_id", "attributes", "worker_timeout", "idle_timeout", "users", "roles")),
    "delete_project": (("project_id",), ()),
    "cancel_project": (("project_id", "force"), ()),
    "activate_project": (("project_id",), ()),
    "restart_project": (("project_id", "failed_only", "force"), ()),
    "restart_handles": ((), ("project_id", "handles", "failed", "done", "reserved", "initial", "dids")),
    "project": (("project_id", "with_files", "with_replicas"), ()),
    "projects": (("owner", "attributes", "state", "not_state", "with_handles", "with_replicas"), ()),
    "search_projects": ((), ("query", "owner", "state", "with_handles", "with_replicas")),
    "next_file": (("project_id", "worker_id", "cpu_site"), ()),
    "release": (("handle_id", "failed", "retry", "worker_id"), ()),
    "handles": (("project_id", "state", "not_state", "with_replicas"), ()),
    "get_rse": (("name",), ()), "delete_rse": (("name",), ()),
    "create_rse": ((), ("name", "description", "is_available", "is_tape", "preference", "interface")),
    "update_rse": (("name",), ("description", "is_available", "is_tape", "preference", "interface")),
    "set_rse_availability": (("name", "available"), ()),
    "project_files": (("project_id", "state", "ready_only"), ()),
    "project_handles_log": (("project_id", "after", "limit"), ()),
    "file_handle": (("handle_id",), ()),
    "replica_available": (("rse", "namespace", "name"), ("urls", "url", "path", "preference")),
    "replica_unavailable": (("rse", "namespace", "name"), ()),
    "set_proximity": ((), ("cpu", "rse", "proximity")),
    "project_counts": (("project_ids",), ()),
    "file_summary": ((), ("dids",)),
    "gui:handle_logs": (("project_id",), ()), "gui:handle_state_counts": (("project_id",), ()),
}
AUTH_PREFIXES = ("/auth", "/dd/data/auth", "/metacat/app/auth")
AUTH_ENDPOINTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "auth": (("method", "username", "password", "token", "redirect"), ()),
    "verify": (("username",), ()), "whoami": ((), ()), "mydn": ((), ()), "probe": ((), ()),
}
CATALOG_ENDPOINTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "version": ((), ()),
    "query": (("query", "namespace", "summary", "with_meta", "with_provenance", "include_retired_files",
               "save_as", "add_to"), ()),
    "file": (("fid", "did", "namespace", "name", "with_metadata", "with_provenance", "with_datasets"), ()),
    "files": (("with_metadata", "with_provenance"), ("fid", "namespace", "name", "did")),
    "datasets": (("namespace",), ()), "dataset": (("dataset",), ()), "dataset_count": (("dataset",), ()),
    "dataset_counts": (("dataset",), ()), "dataset_files": (("dataset", "with_metadata"), ()),
    "namespaces": (("owner_user", "owner_role"), ()), "namespace": (("name",), ()),
    "namespace_counts": (("name",), ()),
    "create_namespace": (("name", "owner_role", "description"), ()),
    "create_dataset": ((), ("namespace", "name", "frozen", "monotonic", "metadata", "file_meta_requirements",
                           "description", "files_query")),
    "add_child_dataset": (("parent", "child"), ()),
    "declare_files": (("namespace", "dataset", "dry_run"), ("namespace", "files")),
    "add_files": (("dataset",), ("namespace", "file_list", "query")),
}
PROJECT_STATES = {"active", "done", "failed", "cancelled", "abandoned"}
LEAKED_TEXTS = ("traceback", "sqlite3.", "operationalerror", "integrityerror", 'file "/')
REQUEST_TIMEOUT = (5.0, 30.0)  # the bound on every answer: connect, then read
EXTRA_PARAMS = ("spec", "recursive", "0", "q", "project_id", "with_handles")

HOSTILE_TEXTS = ("'", '"', "' OR 1=1 --", "\x00", "a\x00b", "1; DROP TABLE projects", "%", "_", "*", "..", "/",
                 ":", "ns:", "1:ns:name", "99999999999999999999:ns:n", "(.|.){0,26}Z", "a{4294967295}",
                 "[", "{", "\\", "\u00b2", "\u0661\u0662", "\uff11", "1e300", "-0", "0x10", "1_000", " 1", "nan",
                 "inf", "yes", "no", "true", "null", "all", "~", "!" * 50, "(" * 60, "union(" * 40,
                 "FNAL_DCACHE", "DEFAULT", "dune", "dune:all", "admin", "alice", "x" * 5000)
MQL_TEXTS = ("files from dune:all", "files from dune:all where core.runs[any] in 1:10000000000",
             "files where core.data_tier = 'raw' limit 5", "files from dune:all - files from dune:all",
             "union(files from dune:all, files from dune:all)", "parents(files from dune:all)",
             "files where name ~ '(.|.){0,26}Z'", "files where name ~ 'a{4294967295}'", "datasets dune:*",
             "files from dune:all where " + " or ".join(f"core.runs[any] = {i}" for i in range(300)),
             "files from dune:all where x.y = 1e300", "files dune:f1, dune:f2", "files from nosuch:dataset",
             "files from dune:all skip -1 limit 99999999999999999999", "files where core.runs[any] in (1, 'a')",
             "union(" * 1000, "parents(" * 50 + "files from dune:all" + ")" * 50,
             "files where " + " or ".join(f"x.n = {i}" for i in range(10_000)))
SEARCH_TEXTS = ("owner = alice", "state = active and attr.seed > 5", "attr.seed ~ '(.|.){0,26}Z'",
                "owner ~* '^a'", "not (state = done)", "attr.seed = 99999999999999999999", "!" * 5000,
                "(" * 500 + "owner = alice" + ")" * 500)

_json_leaf = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
              | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(HOSTILE_TEXTS)
              | st.text(st.characters(exclude_categories=("Cs",)), max_size=12))
json_values = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)
hostile_params = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=4),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(HOSTILE_TEXTS),
    json_values.map(json.dumps),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
)


@dataclass(frozen=True)
class Body:
    """How a generated body is sent: JSON, raw bytes, deep nesting, or a type the server does not accept."""

    data: bytes | None
    content_type: str | None


def _nested(key: str, depth: int) -> bytes:
    return b'{"' + key.encode() + b'": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


methods = st.sampled_from(("GET",) * 6 + ("POST",) * 6 + ("PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"))
extra_paths = st.sampled_from(("",) * 12 + ("/1", "/dune:all", "/x/y", "/%00", "/..", "/dune"))
token_kinds = st.sampled_from(("admin", "admin", "alice", "alice", "bob", "none", "expired", "forged", "garbage"))
token_headers = st.sampled_from(("X-Authentication-Token",) * 3 + ("Authorization",))
def _did_dict(did: str) -> dict[str, str]:
    namespace, name = did.split(":", 1)
    return {"namespace": namespace, "name": name}


@dataclass(frozen=True)
class Names:
    """What exists on the fuzzed server, so that most generated requests reach past the first checks."""

    dids: tuple[str, ...]
    fids: tuple[str, ...]
    datasets: tuple[str, ...]
    namespaces: tuple[str, ...]
    rses: tuple[str, ...]

    def param(self, name: str) -> st.SearchStrategy[str]:
        """A plausible value of the query parameter ``name``."""
        ids = st.integers(min_value=1, max_value=8)
        did = st.sampled_from(self.dids)
        users = st.sampled_from(("alice", "admin", "bob", "carol"))
        choices: dict[str, st.SearchStrategy[str]] = {
            "project_id": ids.map(str),
            "project_ids": st.lists(ids, min_size=1, max_size=4).map(lambda v: ",".join(map(str, v))),
            "handle_id": st.tuples(ids, did).map(lambda t: f"{t[0]}:{t[1]}"),
            "worker_id": st.sampled_from(("seed-0", "seed-10", "w1")),
            "state": st.sampled_from((*HANDLE_STATES, *PROJECT_STATES, "all")),
            "owner": users, "username": users, "password": users, "owner_user": users,
            "owner_role": st.sampled_from(("prod", "analysis")),
            "name": st.sampled_from(self.rses + self.namespaces), "rse": st.sampled_from(self.rses),
            "namespace": st.sampled_from(self.namespaces), "did": did, "fid": st.sampled_from(self.fids),
            "dataset": st.sampled_from(self.datasets), "parent": st.sampled_from(self.datasets),
            "child": st.sampled_from(self.datasets),
            "save_as": st.sampled_from(self.namespaces).map(lambda ns: f"{ns}:fuzz"),
            "add_to": st.sampled_from(self.datasets), "query": st.sampled_from(MQL_TEXTS),
            "summary": st.sampled_from(("count", "keys")),
            "attributes": st.dictionaries(st.sampled_from(("seed", "x")), json_values, max_size=2).map(json.dumps),
            "after": st.integers(min_value=-1, max_value=200).map(str),
            "limit": st.integers(min_value=-1, max_value=200).map(str),
            "method": st.sampled_from(("password", "ldap", "token", "digest", "x509")),
            "redirect": st.sampled_from(("/", "/dd/gui/P", "http://evil.example/", "//evil.example", "ok")),
            "token": st.just("not.a.token"), "cpu_site": st.sampled_from(("FNAL", "CERN", "DEFAULT")),
            "description": st.text(max_size=10),
        }
        return choices.get(name, st.sampled_from(("yes", "no")))

    def body_value(self, key: str) -> st.SearchStrategy[Any]:
        """A plausible value of the body key ``key``."""
        did = st.sampled_from(self.dids)
        small = st.integers(min_value=-5, max_value=1000) | st.floats(min_value=-1, max_value=1e6)
        metadata = st.dictionaries(st.sampled_from(("seed", "core.runs", "core.data_tier", "x.y")), json_values,
                                   max_size=3)
        new_file = st.fixed_dictionaries({"name": st.text(st.characters(categories=("L", "N")), min_size=1,
                                                          max_size=8)},
                                         optional={"size": small, "metadata": metadata, "fid": st.text(max_size=8),
                                                   "checksums": st.dictionaries(st.text(max_size=4), json_values,
                                                                                max_size=2),
                                                   "parents": st.lists(st.sampled_from(self.fids).map(
                                                       lambda fid: {"fid": fid}), max_size=2)})
        choices: dict[str, st.SearchStrategy[Any]] = {
            "files": st.lists(did.map(_did_dict) | did | new_file | json_values, max_size=6),
            "dids": st.lists(did, max_size=6), "handles": st.lists(did | did.map(_did_dict), max_size=4),
            "file_list": st.lists(st.sampled_from(self.fids).map(lambda fid: {"fid": fid}) | did.map(_did_dict),
                                  max_size=4),
            "query": st.sampled_from(MQL_TEXTS + SEARCH_TEXTS), "files_query": st.sampled_from(MQL_TEXTS),
            "project_id": st.integers(min_value=1, max_value=8),
            "attributes": metadata, "metadata": metadata, "file_meta_requirements": metadata,
            "users": st.lists(st.sampled_from(("alice", "bob")), max_size=2),
            "roles": st.lists(st.sampled_from(("prod", "analysis")), max_size=2),
            "name": st.sampled_from(self.rses + self.namespaces) | st.text("ABC_", min_size=1, max_size=8),
            "cpu": st.sampled_from(("FNAL", "CERN", "DEFAULT")), "rse": st.sampled_from(self.rses),
            "namespace": st.sampled_from(self.namespaces), "fid": st.sampled_from(self.fids),
            "did": did, "urls": st.lists(st.text(max_size=10), max_size=2),
        }
        for number in ("proximity", "preference", "worker_timeout", "idle_timeout", "size"):
            choices[number] = small
        return choices.get(key, st.booleans() | st.text(max_size=10))


def draw_request(data: st.DataObject, names: Names, params: tuple[str, ...],
                 body_keys: tuple[str, ...]) -> tuple[dict[str, Any], Body]:
    """Draw query parameters and a body for an endpoint that reads ``params`` and ``body_keys``."""
    query: dict[str, Any] = {}
    for name in params:
        if data.draw(st.integers(0, 9)) < 7:
            query[name] = data.draw(names.param(name) | names.param(name) | hostile_params
                                    | st.lists(names.param(name), min_size=2, max_size=3))
    if data.draw(st.integers(0, 9)) == 0:
        query[data.draw(st.sampled_from(EXTRA_PARAMS) | st.text(min_size=1, max_size=4))] = data.draw(hostile_params)
    kind = data.draw(st.integers(0, 9)) if body_keys else data.draw(st.sampled_from((0, 7, 8, 9, 9, 9, 9)))
    if kind <= 5:
        content: dict[str, Any] = {}
        for key in body_keys:
            if data.draw(st.integers(0, 9)) < 7:
                content[key] = data.draw(names.body_value(key) | names.body_value(key) | json_values)
        body = Body(json.dumps(content).encode(), "application/json")
    elif kind == 6:
        depth = data.draw(st.integers(min_value=100, max_value=3000))
        body = Body(_nested(data.draw(st.sampled_from(body_keys)), depth), "application/json")
    elif kind == 7:
        body = Body(json.dumps(data.draw(json_values)).encode(), data.draw(st.sampled_from((None, "application/json"))))
    elif kind == 8:
        raw = data.draw(st.binary(max_size=64) | st.sampled_from(HOSTILE_TEXTS).map(str.encode))
        body = Body(raw, data.draw(st.sampled_from((None, "text/plain", "application/x-www-form-urlencoded"))))
    else:
        body = Body(None, None)
    return query, body


FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


@dataclass(repr=False)
class Target:
    """The fuzzed server, its tokens and one keep-alive session."""

    server: LocalServer
    db: Path
    tokens: dict[str, str]
    session: requests.Session
    origin: str
    names: Names | None = None

    def send(self, method: str, path: str, params: dict[str, Any], body: Body, token: str,
             header: str, authorization: str | None = None) -> requests.Response:
        """Send one request (``token`` names an entry of :attr:`tokens`, or none) and read all of the answer."""
        headers: dict[str, str] = {}
        value = self.tokens.get(token)
        if value:
            headers[header] = value if header != "Authorization" else f"Bearer {value}"
        if authorization is not None:  # a digest or basic header of its own (replaces a bearer token)
            headers["Authorization"] = authorization
        if body.content_type:
            headers["Content-Type"] = body.content_type
        response = self.session.request(method, self.origin + path, params=params, data=body.data,
                                        headers=headers, timeout=REQUEST_TIMEOUT, allow_redirects=False)
        _ = response.content  # the whole answer, streamed ones included, within the timeout
        return response

    def __repr__(self) -> str:
        return f"Target({self.origin})"


def _forged_token(username: str) -> str:
    claims = {"sub": username, "exp": time.time() + 3600, "iat": time.time(), "jti": "forged"}
    return jwt.encode(claims, "not the secret of this server, 32 bytes or more", algorithm="HS256")


def _seed(target: Target) -> Names:
    """Projects with handles in every state, so that small ids in the fuzz hit real rows; what exists."""
    alice = {"X-Authentication-Token": target.tokens["alice"]}
    catalog = target.server.metacat_url + "/data"
    files = requests.get(f"{catalog}/dataset_files", params={"dataset": "dune:all"}, timeout=REQUEST_TIMEOUT)
    assert files.status_code == 200, files.text
    records = [json.loads(line.strip("\x1e")) for line in files.text.splitlines() if line.strip("\x1e ")]
    dids = [f"{record['namespace']}:{record['name']}" for record in records]
    for start in range(0, 30, 10):
        created = requests.post(f"{target.server.url}/create_project", headers=alice, timeout=REQUEST_TIMEOUT,
                                json={"files": [_did_dict(did) for did in dids[start:start + 10]],
                                      "attributes": {"seed": start}})
        assert created.status_code == 200, created.text
        project_id = created.json()["project_id"]
        for outcome in ("done", "failed", None):
            handle = requests.get(f"{target.server.url}/next_file", headers=alice, timeout=REQUEST_TIMEOUT,
                                  params={"project_id": project_id, "worker_id": f"seed-{start}"})
            assert handle.status_code == 200, handle.text
            if outcome is not None:
                reserved = handle.json()["handle"]
                did = f"{project_id}:{reserved['namespace']}:{reserved['name']}"
                released = requests.get(f"{target.server.url}/release", headers=alice, timeout=REQUEST_TIMEOUT,
                                        params={"handle_id": did, "failed": "yes" if outcome == "failed" else "no"})
                assert released.status_code == 200, released.text
    datasets = requests.get(f"{catalog}/datasets", timeout=REQUEST_TIMEOUT).json()
    namespaces = requests.get(f"{catalog}/namespaces", timeout=REQUEST_TIMEOUT).json()
    rses = requests.get(f"{target.server.url}/rses", timeout=REQUEST_TIMEOUT).json()
    return Names(dids=tuple(dids[:20]) + ("nosuch:file",), fids=tuple(r["fid"] for r in records[:20]) + ("0",),
                 datasets=tuple(f"{d['namespace']}:{d['name']}" for d in datasets) + ("nosuch:dataset",),
                 namespaces=tuple(n["name"] for n in namespaces) + ("nosuch",),
                 rses=tuple(r["name"] for r in rses) + ("NOSUCH_RSE",))


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The fuzzed server (a 50-file demo catalog, three projects), with tokens of every kind."""
    db = tmp_path_factory.mktemp("fuzz") / "dd.sqlite"
    with LocalServer(db=db, demo=True, demo_files=50) as server:
        server.add_user("carol", "carol", roles=("prod",))
        origin = server.url.rsplit("/dd/data", 1)[0]
        tokens = {"admin": server.issue_token("admin"), "alice": server.issue_token("alice"),
                  "bob": server.issue_token("bob"), "expired": server.issue_token("alice", time.time() - 60),
                  "forged": _forged_token("admin"), "garbage": "not.a.token"}
        with requests.Session() as session:
            session.trust_env = False
            found = Target(server, db, tokens, session, origin)
            found.names = _seed(found)
            yield found


def _check_answer(response: requests.Response, what: str) -> None:
    status, text = response.status_code, response.text
    if status >= 500:
        assert status == 503, f"{what}: {status} {text[:300]!r}"
        assert text.strip() and response.headers.get("content-type", "").startswith(("text/plain", "text/html")), \
            f"{what}: a 503 without a plain message: {text[:300]!r}"
    if status != 200:
        assert not any(leak in text.lower() for leak in LEAKED_TEXTS), f"{what}: {status} {text[:300]!r}"
    elif response.request.method != "HEAD" and "json" in response.headers.get("content-type", "") \
            and "json-seq" not in response.headers["content-type"]:
        json.loads(text)  # a 200 JSON answer is whole and well-formed


def _wait_for_bulk_work(conn: sqlite3.Connection) -> None:
    """Wait until no chunked write (delete, restart) is still in progress."""
    deadline = time.monotonic() + 30
    while conn.execute("SELECT count(*) FROM bulk_work").fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.05)


def _assert_intact(target: Target) -> None:
    """SQLite's checks, the DD invariants, exact dataset counts, and ``project_counts`` equal to the table."""
    assert target.send("GET", "/dd/data/version", {}, Body(None, None), "none", "").status_code == 200
    conn = sqlite3.connect(f"file:{target.db}?mode=ro", uri=True)
    try:
        _wait_for_bulk_work(conn)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM bulk_work").fetchone()[0] == 0
        orphans = conn.execute("SELECT count(*) FROM handles WHERE project_id NOT IN (SELECT id FROM projects)")
        assert orphans.fetchone()[0] == 0
        unowned = conn.execute("SELECT count(*) FROM handles WHERE state = 'reserved' "
                               "AND (worker_id IS NULL OR worker_id = '')")
        assert unowned.fetchone()[0] == 0
        handle_states = {row[0] for row in conn.execute("SELECT DISTINCT state FROM handles")}
        assert handle_states <= set(HANDLE_STATES), handle_states
        project_states = {row[0] for row in conn.execute("SELECT DISTINCT state FROM projects")}
        assert project_states <= PROJECT_STATES, project_states
        expected: dict[str, dict[str, int]] = {}
        project_ids = [row[0] for row in conn.execute("SELECT id FROM projects ORDER BY id")]
        for project_id in project_ids:
            expected[str(project_id)] = dict.fromkeys(HANDLE_STATES, 0)
        for project_id, state, count in conn.execute(
                "SELECT project_id, state, count(*) FROM handles GROUP BY project_id, state"):
            expected[str(project_id)][state] = count
        datasets = conn.execute("SELECT d.id, d.file_count, (SELECT count(*) FROM mc_dataset_files m "
                                "WHERE m.dataset_id = d.id) FROM mc_datasets d").fetchall()
        assert [row for row in datasets if row[1] != row[2]] == []
        dangling = conn.execute("SELECT count(*) FROM mc_dataset_files WHERE dataset_id NOT IN "
                                "(SELECT id FROM mc_datasets) OR file_id NOT IN (SELECT id FROM mc_files)")
        assert dangling.fetchone()[0] == 0
    finally:
        conn.close()
    if project_ids:
        counts = target.send("GET", "/dd/data/project_counts", {"project_ids": ",".join(map(str, project_ids))},
                             Body(None, None), "admin", "X-Authentication-Token")
        assert counts.status_code == 200, counts.text
        assert {key: {state: value.get(state, 0) for state in HANDLE_STATES} for key, value in counts.json().items()} \
            == expected


# ---- the fuzzing runs ----------------------------------------------------------------------------

@settings(FUZZ, max_examples=1000)
@given(endpoint=st.sampled_from(sorted(DD_ENDPOINTS)), extra=extra_paths, method=methods, token=token_kinds,
       header=token_headers, data=st.data())
def test_dd_endpoints_never_fail(target, endpoint, extra, method, token, header, data):
    assert target.names is not None
    params, body = draw_request(data, target.names, *DD_ENDPOINTS[endpoint])
    path = f"/dd/gui/P/{endpoint[4:]}" if endpoint.startswith("gui:") else f"/dd/data/{endpoint}"
    response = target.send(method, path + extra, params, body, token, header)
    _check_answer(response, f"{method} {path}{extra} {params!r} {body!r} {token}")


DIGESTS = ('Digest username="admin", realm="x", nonce="n", uri="/", response="00"', "Basic YWRtaW46YWRtaW4=",
           "Digest " + "a=b, " * 200, 'Digest username="admin\x00", nonce="' + "9" * 40 + '"', "Bearer", "Digest")


@settings(FUZZ, max_examples=250)
@given(prefix=st.sampled_from(AUTH_PREFIXES), endpoint=st.sampled_from(sorted(AUTH_ENDPOINTS)), method=methods,
       token=token_kinds, header=token_headers, data=st.data(),
       digest=st.none() | st.sampled_from(DIGESTS)
       | st.text(st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=80).map(str.strip))
def test_auth_endpoints_never_fail(target, prefix, endpoint, method, token, header, data, digest):
    assert target.names is not None
    params, body = draw_request(data, target.names, *AUTH_ENDPOINTS[endpoint])
    response = target.send(method, f"{prefix}/{endpoint}", params, body, token, header, digest)
    _check_answer(response, f"{method} {prefix}/{endpoint} {params!r} {body!r} {token} {digest!r}")


@settings(FUZZ, max_examples=750)
@given(endpoint=st.sampled_from(sorted(CATALOG_ENDPOINTS)), extra=extra_paths, method=methods, token=token_kinds,
       header=token_headers, data=st.data())
def test_catalog_endpoints_never_fail(target, endpoint, extra, method, token, header, data):
    assert target.names is not None
    params, body = draw_request(data, target.names, *CATALOG_ENDPOINTS[endpoint])
    path = f"/metacat/app/data/{endpoint}{extra}"
    response = target.send(method, path, params, body, token, header)
    _check_answer(response, f"{method} {path} {params!r} {body!r} {token}")


def test_database_intact_after_fuzzing(target):
    _assert_intact(target)
