"""End-to-end tests of dd_notebook.client against the embedded server (real HTTP, real SQLite file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dd_notebook.client import (
    AuthenticationError,
    AuthExpiredError,
    DataDispatcherClient,
    NotFoundError,
    PermissionDeniedError,
    TokenLibrary,
)

LocalServer = pytest.importorskip("dd_notebook.server").LocalServer


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = LocalServer(db=tmp_path_factory.mktemp("dd-client") / "dd.sqlite", demo=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("client-home")


def make_client(srv: LocalServer, workdir: Path, user: str | None = "alice", **kw) -> DataDispatcherClient:
    kw.setdefault("worker_id_file", str(workdir / f"wid-{user}"))
    kw.setdefault("token_library", str(workdir / "unused_library"))
    kw.setdefault("token", srv.issue_token(user) if user else None)
    return DataDispatcherClient(srv.url, srv.auth_url, **kw)


@pytest.fixture(scope="module")
def alice(srv, workdir) -> DataDispatcherClient:
    return make_client(srv, workdir, "alice")


@pytest.fixture(scope="module")
def bob(srv, workdir) -> DataDispatcherClient:
    return make_client(srv, workdir, "bob")


@pytest.fixture(scope="module")
def admin(srv, workdir) -> DataDispatcherClient:
    return make_client(srv, workdir, "admin")


def dids(project: dict) -> list[str]:
    return [f"{h['namespace']}:{h['name']}" for h in project["file_handles"]]


def virtual_project(client: DataDispatcherClient, n: int = 3, prefix: str = "f", **kw) -> dict:
    kw.setdefault("project_attributes", {"virtual": True})
    return client.create_project([f"test:{prefix}{i}" for i in range(n)], **kw)


# --------------------------------------------------------------------------- basics and projects


def test_version(alice):
    assert alice.version()


def test_create_get_and_list(alice, bob):
    odd = ["a+b.root", "sp ace.root", "x&y=z#1.root", "c:o:l", "pct%41"]
    files = [f"test:{n}" for n in odd] + [{"namespace": "test", "name": "own", "attributes": {"k": 2}}]
    project = alice.create_project(files, common_attributes={"k": 1, "c": "x"}, project_attributes={"virtual": True},
                                   query="files from test:odd", worker_timeout=600, users=["bob"])
    pid = project["project_id"]
    assert project["owner"] == "alice" and project["state"] == "active"
    assert project["worker_timeout"] == 600 and project["idle_timeout"] == 259200 and project["users"] == ["bob"]
    assert sorted(dids(project)) == sorted(f"test:{n}" for n in odd + ["own"])
    attrs = {h["name"]: h["attributes"] for h in project["file_handles"]}
    assert attrs["own"] == {"k": 2, "c": "x"} and attrs["a+b.root"] == {"k": 1, "c": "x"}

    fetched = alice.get_project(pid, with_files=False)
    assert fetched["project_id"] == pid and "file_handles" not in fetched
    assert alice.get_project(10**9) is None
    for name in odd:
        handle = alice.get_handle(pid, "test", name)
        assert handle is not None and handle["name"] == name and "replicas" in handle
    assert alice.get_handle(pid, "test", "missing") is None

    mine = alice.list_projects(with_files=False)
    assert pid in [p["project_id"] for p in mine] and all(p["owner"] == "alice" for p in mine)
    assert pid not in [p["project_id"] for p in bob.list_projects()]
    assert pid in [p["project_id"] for p in bob.list_projects(owner="alice")]
    assert [p["project_id"] for p in alice.list_projects(owner="all", attributes={"virtual": True})].count(pid) == 1
    found = alice.search_projects(f"id = {pid} and owner = alice", with_files=False)
    assert [p["project_id"] for p in found] == [pid]
    assert alice.search_projects(f"id = {pid}", state="done") == []


def test_copy_cancel_activate_delete(alice, bob):
    original = virtual_project(alice, 2, "cp", worker_timeout=100, idle_timeout=60)
    pid = original["project_id"]
    copied = bob.copy_project(pid, common_attributes={"x": 1}, project_attributes={"step": 2})
    assert copied["owner"] == "bob" and copied["worker_timeout"] == 100 and copied["idle_timeout"] == 60
    assert copied["attributes"] == {"virtual": True, "step": 2}
    assert all(h["attributes"] == {"x": 1} for h in copied["file_handles"])
    numeric = alice.copy_project(pid, worker_timeout=30, idle_timeout="10m")
    assert numeric["worker_timeout"] == 30 and numeric["idle_timeout"] == 600
    none = alice.copy_project(pid, worker_timeout="none", idle_timeout="none")
    assert none["worker_timeout"] is None and none["idle_timeout"] is None
    assert alice.copy_project(10**9) is None

    with pytest.raises(PermissionDeniedError):
        bob.cancel_project(pid)
    cancelled = alice.cancel_project(pid)
    assert cancelled["state"] == "cancelled" and cancelled["ended_timestamp"] is not None
    assert alice.activate_project(pid)["state"] == "active"
    assert alice.delete_project(pid) is None
    assert alice.get_project(pid) is None
    with pytest.raises(NotFoundError):
        alice.cancel_project(pid)


# --------------------------------------------------------------------------- workers


def test_worker_loop_drains_a_project(srv, workdir, alice):
    project = virtual_project(alice, 12, "w")
    pid = project["project_id"]
    worker = make_client(srv, workdir, "alice", worker_id="loop-1")
    failed_once: set[str] = set()
    seen = []
    while True:
        handle = worker.next_file(pid, stagger=0, timeout=5)
        if handle is False:
            break
        assert isinstance(handle, dict) and handle["worker_id"] == "loop-1"
        assert handle["project_attributes"] == {"virtual": True}
        did = f"{handle['namespace']}:{handle['name']}"
        seen.append(did)
        assert [h["name"] for h in worker.reserved_handles(pid)] == [handle["name"]]
        if did.endswith("3") and did not in failed_once:
            failed_once.add(did)
            assert worker.file_failed(pid, did)["state"] == "initial"
        elif did.endswith("7"):
            assert worker.file_failed(pid, did, retry=False)["state"] == "failed"
        else:
            assert worker.file_done(pid, did)["state"] == "done"
    assert sorted(set(seen)) == sorted(dids(project)) and len(seen) == 13
    final = alice.get_project(pid)
    assert final["state"] == "failed" and final["active"] is False
    assert {h["state"] for h in final["file_handles"]} == {"done", "failed"}

    restarted = alice.restart_handles(pid, failed=True)
    assert restarted["state"] == "active"
    assert [h["name"] for h in restarted["file_handles"] if h["state"] == "initial"] == ["w7"]
    assert alice.restart_handles(pid, handles=["test:w0"])["file_handles"][0]["state"] == "initial"
    assert {h["state"] for h in alice.restart_handles(pid, all=True)["file_handles"]} == {"initial"}


def test_odd_dids_reserve_and_release(alice):
    names = ["a+b.root", "sp ace.root", "x&y=z#1.root", "c:o:l", "pct%41", "semi;colon"]
    pid = alice.create_project([f"odd:{n}" for n in names], project_attributes={"virtual": True})["project_id"]
    released = []
    while (handle := alice.next_file(pid, stagger=0, worker_id="odd")) is not False:
        released.append(alice.file_done(pid, f"odd:{handle['name']}", worker_id="odd")["name"])
    assert sorted(released) == sorted(names)
    assert alice.get_project(pid, with_files=False)["state"] == "done"


def test_next_file_timeout_and_errors(srv, workdir, alice, bob, monkeypatch):
    project = virtual_project(alice, 1, "t")
    pid = project["project_id"]
    first = make_client(srv, workdir, "alice", worker_id="t-1")
    assert first.next_file(pid, stagger=0)["name"] == "t0"
    monkeypatch.setattr("dd_notebook.client.workers.MIN_POLL_INTERVAL", 0.05)
    started = time.monotonic()
    assert first.next_file(pid, stagger=0, timeout=0.3) is True  # nothing free, project still running
    assert time.monotonic() - started < 5
    assert bob.next_file(pid, stagger=0) is False  # 403 becomes False (Q-NEXTERR)
    assert alice.next_file(10**9, stagger=0) is False  # 404 too
    with pytest.raises(PermissionDeniedError, match="wrong worker_id"):
        alice.file_done(pid, "test:t0", worker_id="somebody-else")
    assert first.file_done(pid, "test:t0")["state"] == "done"
    assert first.next_file(pid, stagger=0) is False


def test_project_users_may_reserve(alice, bob):
    pid = virtual_project(alice, 1, "u", users=["bob"])["project_id"]
    handle = bob.next_file(pid, stagger=0, worker_id="bob-w")
    assert handle["name"] == "u0"
    with pytest.raises(PermissionDeniedError):  # Q-AUTH: users may reserve but not release
        bob.file_done(pid, "test:u0", worker_id="bob-w")
    assert alice.file_done(pid, "test:u0", worker_id="bob-w")["state"] == "done"


def test_worker_id_file_is_written_on_first_need(srv, tmp_path):
    wid_file = tmp_path / "wid"
    client = DataDispatcherClient(srv.url, srv.auth_url, token=srv.issue_token("alice"), worker_id_file=str(wid_file),
                                  token_library=str(tmp_path / "lib"))
    pid = virtual_project(client, 1, "wid")["project_id"]
    assert not wid_file.exists()
    handle = client.next_file(pid, stagger=0)
    assert handle["worker_id"] == wid_file.read_text() == client.WorkerID


def test_deprecated_methods(alice):
    pid = virtual_project(alice, 2, "dep")["project_id"]
    assert [h["name"] for h in alice.list_handles(pid)] == ["dep0", "dep1"]
    assert alice.list_handles(pid, state="done") == []
    assert alice.get_file("test", "dep0") is None


# --------------------------------------------------------------------------- RSEs and replicas


def test_rses_as_admin(admin, alice):
    names = [r["name"] for r in admin.list_rses()]
    assert "FNAL_DCACHE" in names
    assert admin.get_rse("FNAL_DCACHE")["name"] == "FNAL_DCACHE"
    assert admin.get_rse("NO_SUCH_RSE") is None
    created = admin.create_rse("CLIENT_TEST", "made by a test", preference=3)
    assert created["name"] == "CLIENT_TEST" and created["is_enabled"] is True and created["preference"] == 3
    assert admin.update_rse("CLIENT_TEST", add_prefix="/p")["add_prefix"] == "/p"
    assert admin.update_rse("NO_SUCH_RSE", add_prefix="/p") is None
    assert admin.set_rse_availability("CLIENT_TEST", False)["is_available"] is False
    assert admin.set_rse_availability("CLIENT_TEST", True)["is_available"] is True
    assert admin.set_rse_availability("NO_SUCH_RSE", True) is None
    with pytest.raises(PermissionDeniedError):
        alice.set_rse_availability("CLIENT_TEST", False)
    with pytest.raises(PermissionDeniedError):
        alice.create_rse("NOPE", "x")
    assert admin.delete_rse("CLIENT_TEST") is None
    assert admin.get_rse("CLIENT_TEST") is None


def test_replicas_and_extensions(admin, alice):
    project = alice.create_project(["real:r1", "real:r2", "real:r 3+"], worker_timeout=None)
    pid = project["project_id"]
    replica = admin.replica_available("real", "r1", "FNAL_DCACHE", path="/pnfs/r1", url="root://fnal/r1", preference=1)
    assert replica["rse"] == "FNAL_DCACHE" and replica["available"] is True
    admin.replica_available("real", "r 3+", "CERN_EOS", url="root://cern/r3")
    admin.replica_available("real", "r2", "CERN_EOS", url="root://cern/r2")
    assert admin.replica_unavailable("real", "r2", "CERN_EOS")["available"] is False
    with pytest.raises(NotFoundError):
        admin.replica_unavailable("real", "nothing", "CERN_EOS")

    handle = alice.get_handle(pid, "real", "r 3+")
    assert list(handle["replicas"]) == ["CERN_EOS"] and handle["replicas"]["CERN_EOS"]["url"] == "root://cern/r3"
    ready = alice.project_files(pid, ready_only=True)
    assert sorted(h["name"] for h in ready) == ["r 3+", "r1"]
    assert alice.project_files(pid, state="done") == []
    assert len(alice.project_files(pid)) == 3

    got = alice.next_file(pid, cpu_site="FNAL", worker_id="rw", stagger=0)
    assert got["name"] in ("r1", "r 3+") and got["replicas"]
    assert alice.file_done(pid, f"real:{got['name']}", worker_id="rw")["state"] == "done"
    assert [h["name"] for h in alice.project_files(pid, state="done")] == [got["name"]]
    with pytest.raises(NotFoundError):
        alice.project_files(10**9)

    log = alice.get_handles_log(pid)
    events = [(r["name"], r["data"]["event"]) for r in log]
    assert ("r1", "create") in events and (got["name"], "reserve") in events and (got["name"], "done") in events
    with pytest.raises(NotFoundError):
        alice.get_handles_log(10**9)


class StubMetaCat:
    def __init__(self, records):
        self.records = records

    def query(self, query, with_metadata=False):
        return [dict(r) if with_metadata else {k: r[k] for k in ("namespace", "name", "fid")} for r in self.records]


def test_create_project_from_query(alice):
    records = [{"fid": "1", "namespace": "mq", "name": "a", "size": 5, "checksums": {"adler32": "0a"},
                "metadata": {"core.runs": [7]}}]
    project = alice.create_project_from_query("files from mq:ds", metacat=StubMetaCat(records),
                                              copy_metadata=["size", "core.runs"],
                                              project_attributes={"virtual": True})
    assert project["query"] == "files from mq:ds" and project["attributes"] == {"virtual": True}
    assert project["file_handles"][0]["attributes"] == {"size": 5, "core.runs": [7]}


@pytest.fixture(scope="module")
def catalog_dataset(srv, workdir) -> str:
    """Declare three files in the embedded catalog with the upstream MetaCat client; return the MQL query."""
    webapi = pytest.importorskip("metacat.webapi")
    mc = webapi.MetaCatClient(srv.metacat_url, token=srv.issue_token("alice"), token_library=str(workdir / "mclib"))
    files = [{"namespace": "cq", "name": f"f{i}", "size": 100 + i, "checksums": {"adler32": f"0000000{i}"},
              "metadata": {"core.runs": [i], "dd.step": "reco"}} for i in range(3)]
    try:
        mc.create_namespace("cq")
        mc.create_dataset("cq:ds")
        mc.declare_files("cq:ds", files)
    except Exception as exc:  # the catalog is developed separately; skip while it is incomplete
        pytest.skip(f"no usable catalog at {srv.metacat_url}: {exc}")
    return "files from cq:ds"


def test_create_project_from_query_with_upstream_metacat(srv, workdir, alice, catalog_dataset):
    mc = pytest.importorskip("metacat.webapi").MetaCatClient(srv.metacat_url, token_library=str(workdir / "mclib"))
    project = alice.create_project_from_query(catalog_dataset, metacat=mc, copy_metadata="size,checksums,core.runs",
                                              common_attributes={"size": -1, "extra": 1},
                                              project_attributes={"virtual": True})
    assert project["query"] == catalog_dataset and sorted(dids(project)) == ["cq:f0", "cq:f1", "cq:f2"]
    attrs = {h["name"]: h["attributes"] for h in project["file_handles"]}
    assert attrs["f1"] == {"size": 101, "checksums": {"adler32": "00000001"}, "core.runs": [1], "extra": 1}


def test_create_project_from_query_matches_ddisp(srv, tmp_path, alice, catalog_dataset, monkeypatch):
    fields = "size,checksums,fid,core.runs,dd.step,missing"
    TokenLibrary(str(tmp_path / ".token_library")).store(srv.url, alice.Token)
    monkeypatch.setenv("METACAT_SERVER_URL", srv.metacat_url)
    result = ddisp(["project", "create", "-p", "json", "-c", fields, "-A", "virtual=True", catalog_dataset],
                   tmp_path, srv)
    assert result.returncode == 0, result.stderr
    theirs = json.loads(result.stdout)
    mc = pytest.importorskip("metacat.webapi").MetaCatClient(srv.metacat_url, token_library=str(tmp_path / "mclib"))
    ours = alice.create_project_from_query(catalog_dataset, metacat=mc, copy_metadata=fields.split(","),
                                           project_attributes={"virtual": "True"}, worker_timeout=43200)

    def files(project: dict) -> dict:
        return {(h["namespace"], h["name"]): h["attributes"] for h in project["file_handles"]}

    assert files(ours) == files(theirs)
    for key in ("query", "attributes", "worker_timeout", "idle_timeout"):
        assert ours[key] == theirs[key], key


# --------------------------------------------------------------------------- errors and authentication


def test_expired_token(srv, workdir):
    expired = make_client(srv, workdir, None, token=srv.issue_token("alice", time.time() - 10))
    with pytest.raises(AuthExpiredError, match="log in again"):
        expired.list_projects()
    with pytest.raises(AuthExpiredError):
        expired.auth_info()
    anonymous = make_client(srv, workdir, None)
    with pytest.raises(AuthenticationError):
        anonymous.list_projects()
    assert anonymous.get_project(10**9) is None  # public endpoint


@pytest.mark.parametrize("method", ["login_digest", "login_ldap", "login_password"])
def test_password_logins(srv, tmp_path, method):
    library = tmp_path / "lib"
    client = DataDispatcherClient(srv.url, srv.auth_url, token_library=str(library), worker_id="w")
    user, exp = getattr(client, method)("bob", "bob")
    assert user == "bob" and exp > time.time() + 3600
    assert client.auth_info() == ("bob", exp)
    assert TokenLibrary(str(library)).get(srv.url).subject == "bob"
    assert virtual_project(client, 1, "lg")["owner"] == "bob"
    with pytest.raises(AuthenticationError):
        getattr(client, method)("bob", "wrong")


def test_token_login_and_x509(srv, tmp_path, monkeypatch):
    client = DataDispatcherClient(srv.url, srv.auth_url, token_library=str(tmp_path / "lib"), worker_id="w")
    assert client.login_token("alice", srv.issue_token("alice"))[0] == "alice"
    monkeypatch.setenv("BEARER_TOKEN", srv.issue_token("bob"))
    assert client.login_token("bob", None)[0] == "bob"
    with pytest.raises(AuthenticationError):
        client.login_token("alice", srv.issue_token("bob"))
    cert = tmp_path / "cert.pem"
    cert.write_text("not used over plain HTTP")
    with pytest.raises(AuthenticationError, match="HTTPS"):
        client.login_x509("alice", str(cert))


def test_default_auth_url_is_under_the_data_server(srv, tmp_path):
    client = DataDispatcherClient(srv.url, token_library=str(tmp_path / "lib"), worker_id="w")
    assert client.AuthURL == srv.url + "/auth"
    try:
        user, _ = client.login_digest("alice", "alice")
    except NotFoundError:
        pytest.skip("the embedded server does not mount the auth endpoints under the data URL")
    except AuthenticationError as exc:
        if exc.status == 404:
            pytest.skip("the embedded server does not mount the auth endpoints under the data URL")
        raise
    assert user == "alice"


# --------------------------------------------------------------------------- interoperability with upstream ddisp


def ddisp_executable() -> str:
    beside_python = Path(sys.executable).with_name("ddisp")
    exe = str(beside_python) if beside_python.exists() else shutil.which("ddisp")
    if not exe:
        pytest.skip("the upstream ddisp CLI is not installed")
    return exe


def ddisp(args: list[str], home: Path, srv: LocalServer, stdin: str = "") -> subprocess.CompletedProcess:
    """Run upstream ``ddisp`` with its own HOME (token library) and working directory (worker id file)."""
    env = dict(os.environ, HOME=str(home), DATA_DISPATCHER_URL=srv.url, DATA_DISPATCHER_AUTH_URL=srv.auth_url)
    # start_new_session: no controlling terminal, so getpass reads the password from stdin
    return subprocess.run([ddisp_executable(), *args], input=stdin, capture_output=True, text=True, env=env,
                          cwd=home, timeout=60, start_new_session=True)


def test_token_from_ddisp_login_is_used_by_our_client(srv, tmp_path, monkeypatch):
    result = ddisp(["login", "-m", "password", "alice"], tmp_path, srv, stdin="alice\n")
    assert result.returncode == 0, result.stderr
    assert "alice" in result.stdout
    library = tmp_path / ".token_library"
    assert oct(library.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    client = DataDispatcherClient(srv.url, srv.auth_url)
    assert client.Token is not None and client.auth_info()[0] == "alice"
    assert virtual_project(client, 1, "ddl")["owner"] == "alice"


def test_login_to_a_throwaway_server_leaves_the_token_library_alone(srv, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    client = DataDispatcherClient(srv.url, srv.auth_url)
    assert client.login_password("bob", "bob")[0] == "bob"
    assert client.auth_info()[0] == "bob" and client.token()["sub"] == "bob"
    assert not (tmp_path / ".token_library").exists() and not client.tokens_saved()
    assert DataDispatcherClient(srv.url, srv.auth_url).Token is None  # nothing was stored for the next client


def test_token_saved_by_our_client_is_used_by_ddisp(srv, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    client = DataDispatcherClient(srv.url, srv.auth_url, token_library=str(tmp_path / ".token_library"))
    client.login_password("bob", "bob")
    assert client.tokens_saved()
    pid = virtual_project(client, 1, "our")["project_id"]
    assert not (tmp_path / ".data_dispatcher_worker_id").exists()
    result = ddisp(["project", "list"], tmp_path, srv)
    assert result.returncode == 0, result.stderr
    assert str(pid) in result.stdout and "bob" in result.stdout
