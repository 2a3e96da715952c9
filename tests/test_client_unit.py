"""Unit tests of dd_notebook.client with mocked HTTP (``responses``): wire format, errors, tokens."""

from __future__ import annotations

import hashlib
import http.server
import inspect
import json
import logging
import os
import re
import socket
import stat
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests
import responses

import dd_notebook.client as client_pkg
import dd_notebook.errors as tree_mod
from dd_notebook.client import (
    AlreadyExistsError,
    AuthenticationError,
    AuthExpiredError,
    BadRequestError,
    DataDispatcherClient,
    DataDispatcherError,
    EndpointUnavailableError,
    HTTPError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RequestTimeoutError,
    ServerError,
    TokenLibrary,
)
from dd_notebook.client import errors as errors_mod
from dd_notebook.client import http as http_mod
from dd_notebook.client import workers as workers_mod
from dd_notebook.client.tokens import Token

URL = "http://dd.test:8080/dd/data"
AUTH = "http://dd.test:8080/auth"
JSON = "text/json; charset=UTF-8"
#: The seed's signatures, recorded from the upstream Python API page (see tests/data/README.md).
SEED = json.loads((Path(__file__).resolve().parent / "data" / "upstream-api-signatures.json").read_text())
SEED_SIGNATURES: dict[str, str] = SEED["signatures"]

UPSTREAM_EXTRAS = ["delete_project", "replica_available", "replica_unavailable"]


def bare_signature(func) -> str:
    """Signature text without annotations and without ``self``."""
    sig = inspect.signature(func)
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values() if p.name != "self"]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def make_token(sub: str = "alice", exp_in: float = 3600.0) -> str:
    now = time.time()
    payload = {"sub": sub, "exp": now + exp_in, "iat": now, "nbf": now, "jti": "abcd1234"}
    return jwt.encode(payload, hashlib.sha256(b"secret").digest(), algorithm="HS256")


def query_of(call) -> list[tuple[str, str]]:
    """Decode a recorded request's query string the way the server does (unquote-plus)."""
    return parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True)


def body_of(call):
    return json.loads(call.request.body)


@pytest.fixture
def client(tmp_path, monkeypatch) -> DataDispatcherClient:
    monkeypatch.chdir(tmp_path)
    return DataDispatcherClient(
        URL, AUTH, worker_id="w1", token=make_token(), token_library=str(tmp_path / "lib"), timeout=5
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


class FakeClock:
    """Replaces ``time`` and ``random`` inside a client module: sleeping advances the clock."""

    def __init__(self, rand: float = 0.5) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []
        self.rand = rand

    def time(self) -> float:
        return self.now

    monotonic = time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def random(self) -> float:
        return self.rand


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    for module in (workers_mod, http_mod):
        monkeypatch.setattr(module, "time", fake)
        monkeypatch.setattr(module, "random", fake)
    return fake


# --------------------------------------------------------------------------- signatures and exports


def test_recorded_seed_covers_every_upstream_method():
    public = {n for n in vars(DataDispatcherClient) if not n.startswith("_")} | {
        n for cls in DataDispatcherClient.__mro__ for n in vars(cls) if not n.startswith("_")}
    assert "__init__" in SEED_SIGNATURES and len(SEED_SIGNATURES) == 29
    assert set(SEED_SIGNATURES) - {"__init__"} <= public
    for name in SEED["static_methods"]:
        assert isinstance(inspect.getattr_static(DataDispatcherClient, name), staticmethod)


@pytest.mark.parametrize("name", sorted(SEED_SIGNATURES))
def test_signature_matches_seed(name):
    assert bare_signature(getattr(DataDispatcherClient, name)) == SEED_SIGNATURES[name]


@pytest.mark.parametrize("name", sorted(SEED_SIGNATURES) + UPSTREAM_EXTRAS)
def test_signature_matches_upstream(name):
    upstream = pytest.importorskip("data_dispatcher.api").DataDispatcherClient
    assert bare_signature(getattr(DataDispatcherClient, name)) == bare_signature(getattr(upstream, name))


def test_random_worker_id_is_static():
    assert isinstance(inspect.getattr_static(DataDispatcherClient, "random_worker_id"), staticmethod)
    assert re.fullmatch(r"px[0-9a-f]{8}", DataDispatcherClient.random_worker_id("px"))


def test_exports():
    for name in client_pkg.__all__:
        assert hasattr(client_pkg, name)
    public_errors = {
        n for n, v in vars(errors_mod).items()
        if isinstance(v, type) and issubclass(v, Exception) and not n.startswith("_")
    }
    assert public_errors <= set(client_pkg.__all__)
    assert set(errors_mod.__all__) >= public_errors


def test_exception_tree():
    for cls in (HTTPError, BadRequestError, AuthenticationError, AuthExpiredError, PermissionDeniedError,
                NotFoundError, ServerError, EndpointUnavailableError, RequestTimeoutError, NetworkError):
        assert issubclass(cls, DataDispatcherError)
    assert issubclass(AuthExpiredError, AuthenticationError)
    assert issubclass(RequestTimeoutError, TimeoutError)
    assert issubclass(NetworkError, ConnectionError)
    assert "DataDispatcherError" in errors_mod.__doc__
    assert "DataDispatcherError" in tree_mod.__doc__ and "AuthExpiredError" in tree_mod.__doc__


# --------------------------------------------------------------------------- construction


def test_construction_defaults_from_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DATA_DISPATCHER_URL", URL)
    monkeypatch.delenv("DATA_DISPATCHER_AUTH_URL", raising=False)
    c = DataDispatcherClient()
    assert c.ServerURL == URL and c.AuthURL == URL + "/auth" and c.CPUSite == "DEFAULT"
    assert c.Token is None
    assert os.listdir(tmp_path) == []  # neither a worker-id file nor a token library is created
    monkeypatch.setenv("DATA_DISPATCHER_AUTH_URL", AUTH)
    assert DataDispatcherClient().AuthURL == AUTH


def test_construction_without_url_fails(monkeypatch):
    monkeypatch.delenv("DATA_DISPATCHER_URL", raising=False)
    with pytest.raises(ValueError, match="DATA_DISPATCHER_URL"):
        DataDispatcherClient()


def test_token_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tok = make_token("bob")
    (tmp_path / "tokfile").write_text(tok + "\n")
    from_file = DataDispatcherClient(URL, token_file=str(tmp_path / "tokfile"), token_library=str(tmp_path / "l"))
    assert from_file.Token.subject == "bob"
    TokenLibrary(str(tmp_path / "lib")).store(URL, make_token("carol"))
    assert DataDispatcherClient(URL, token_library=str(tmp_path / "lib")).Token.subject == "carol"
    assert DataDispatcherClient(URL, token=tok.encode()).Token.subject == "bob"


def test_worker_id_file_written_only_when_needed(tmp_path, monkeypatch, rsps):
    monkeypatch.chdir(tmp_path)
    c = DataDispatcherClient(URL, token_library=str(tmp_path / "lib"))
    wid_file = tmp_path / ".data_dispatcher_worker_id"
    assert not wid_file.exists()
    rsps.get(f"{URL}/release", json={"state": "done"}, content_type="text/json")
    c.file_done(1, "ns:f")
    wid = wid_file.read_text()
    assert re.fullmatch(r"[0-9a-f]{8}", wid)
    assert ("worker_id", wid) in query_of(rsps.calls[0])
    assert DataDispatcherClient(URL, token_library=str(tmp_path / "lib")).WorkerID == wid
    assert c.new_worker_id("mine") == "mine" and wid_file.read_text() == "mine" and c.WorkerID == "mine"
    other = tmp_path / "other_id"
    assert c.new_worker_id(worker_id_file=str(other)) == other.read_text() == c.WorkerID


# --------------------------------------------------------------------------- projects: wire format


def test_version_and_token_header(client, rsps):
    rsps.get(f"{URL}/version", body="2.0.3", content_type="text/html; charset=UTF-8")
    assert client.version() == "2.0.3"
    assert rsps.calls[0].request.headers["X-Authentication-Token"] == client.Token.encoded


def test_no_token_no_header(tmp_path, rsps):
    c = DataDispatcherClient(URL, worker_id="w", token_library=str(tmp_path / "none"))
    rsps.get(f"{URL}/version", body="2.0.3")
    c.version()
    assert "X-Authentication-Token" not in rsps.calls[0].request.headers


def test_create_project_body(client, rsps):
    rsps.post(f"{URL}/create_project", json={"project_id": 5}, content_type="text/json")
    common = {"a": 1, "b": 2}
    files = ["ns:x:y", {"namespace": "n2", "name": "f", "attributes": {"b": 3}, "size": 10}]
    assert client.create_project(files, common_attributes=common, project_attributes={"virtual": True},
                                 query="files from x", users=("bob",)) == {"project_id": 5}
    req = rsps.calls[0].request
    assert "Content-Type" not in req.headers
    assert body_of(rsps.calls[0]) == {
        "files": [
            {"name": "x:y", "namespace": "ns", "attributes": {"a": 1, "b": 2}},
            {"name": "f", "namespace": "n2", "attributes": {"a": 1, "b": 3}},
        ],
        "project_attributes": {"virtual": True},
        "query": "files from x",
        "worker_timeout": None,
        "idle_timeout": 259200,
        "users": ["bob"],
        "roles": [],
    }
    assert common == {"a": 1, "b": 2}
    assert inspect.signature(DataDispatcherClient.create_project).parameters["common_attributes"].default == {}


@pytest.mark.parametrize("bad", [["nocolon"], [{"namespace": "x"}], [42]])
def test_create_project_rejects_bad_specs_before_sending(client, rsps, bad):
    with pytest.raises(ValueError):
        client.create_project(bad)
    assert len(rsps.calls) == 0


def test_post_404_returns_none(client, rsps):
    rsps.post(f"{URL}/create_project", status=404, body="gone")
    assert client.create_project(["a:b"]) is None


@pytest.mark.parametrize(
    "given, sent",
    [(None, "default"), ("default", "default"), ("none", "no timeout"), ("None", "no timeout"),
     ("no timeout", "no timeout"), ("10m", 600.0), ("2", 2.0), ("1.5h", 5400.0), ("2D", 172800.0),
     (90, 90.0), (1.5, 1.5)],
)
def test_copy_project_timeouts(client, rsps, given, sent):
    rsps.post(f"{URL}/copy_project", json={"project_id": 6}, content_type="text/json")
    client.copy_project(3, common_attributes={"f": 1}, project_attributes={"p": 2}, worker_timeout=given,
                        idle_timeout=given)
    assert body_of(rsps.calls[0]) == {
        "project_id": 3, "file_attributes": {"f": 1}, "project_attributes": {"p": 2},
        "worker_timeout": sent, "idle_timeout": sent,
    }


def test_copy_project_bad_timeout(client):
    with pytest.raises(ValueError):
        client.copy_project(1, worker_timeout="soon")


def test_restart_handles_bodies(client, rsps):
    rsps.post(f"{URL}/restart_handles", json={}, content_type="text/json")
    client.restart_handles(4, all=True)
    client.restart_handles(4, failed=True)
    client.restart_handles(4, done=True, handles=["a:b", "c:d"])
    assert [body_of(c) for c in rsps.calls] == [
        {"project_id": 4, "done": True, "failed": True, "reserved": True},
        {"project_id": 4, "done": False, "failed": True, "reserved": False},
        {"project_id": 4, "handles": ["a:b", "c:d"]},
    ]


@pytest.mark.parametrize("method, endpoint", [("cancel_project", "cancel_project"),
                                              ("activate_project", "activate_project"),
                                              ("delete_project", "delete_project")])
def test_project_id_endpoints(client, rsps, method, endpoint):
    rsps.get(f"{URL}/{endpoint}", body="null", content_type="text/json")
    assert getattr(client, method)(12) is None
    assert rsps.calls[0].request.url == f"{URL}/{endpoint}?project_id=12"


def test_get_project(client, rsps):
    rsps.get(f"{URL}/project", json={"project_id": 1}, content_type="text/json")
    assert client.get_project(1) == {"project_id": 1}
    client.get_project(1, with_files=False, with_replicas=True)
    assert rsps.calls[0].request.url == f"{URL}/project?project_id=1&with_files=yes&with_replicas=no"
    assert rsps.calls[1].request.url == f"{URL}/project?project_id=1&with_files=no&with_replicas=yes"


def test_get_project_not_found(client, rsps):
    rsps.get(f"{URL}/project", status=404, body="Project not found")
    assert client.get_project(99) is None


def test_list_projects_query_order(client, rsps):
    rsps.get(f"{URL}/projects", json=[], content_type="text/json")
    client.list_projects()
    client.list_projects(owner="all", state="failed", not_state=None, attributes={"step": "a b"}, with_files=False,
                         with_replicas=True)
    expected = "state=active&not_state=abandoned&with_handles=yes&with_replicas=no"
    assert urlsplit(rsps.calls[0].request.url).query == expected
    assert query_of(rsps.calls[1]) == [("owner", "all"), ("state", "failed"), ("with_handles", "no"),
                                       ("with_replicas", "yes"), ("attributes", '{"step": "a b"}')]


def test_search_projects_body(client, rsps):
    rsps.post(f"{URL}/search_projects", json=[], content_type="text/json")
    client.search_projects("owner=alice")
    client.search_projects("x present", owner="bob", state="all", with_files=False, with_replicas=True)
    assert body_of(rsps.calls[0]) == {"query": "owner=alice", "with_handles": True, "with_replicas": False,
                                      "state": "active"}
    assert body_of(rsps.calls[1]) == {"query": "x present", "with_handles": False, "with_replicas": True,
                                      "owner": "bob"}


def test_deprecated_endpoints(client, rsps):
    rsps.get(f"{URL}/file", status=404, body="<html>invalid path: /file</html>")
    rsps.get(f"{URL}/handles", json=[], content_type="text/json")
    assert client.get_file("ns", "n") is None
    assert client.list_handles(3, state="reserved", with_replicas=True) == []
    assert query_of(rsps.calls[1]) == [("project_id", "3"), ("state", "reserved")]


# --------------------------------------------------------------------------- odd DIDs


ODD_NAMES = ["a+b.root", "with space.root", "x&y=z.root", "hash#tag.root", "c:o:l.root", "pct%41.root", "semi;colon"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_dids_survive_the_query_string(client, rsps, name):
    rsps.get(f"{URL}/release", json={"state": "done"}, content_type="text/json")
    rsps.get(f"{URL}/file_handle", body="null", content_type="text/json")
    client.file_done(7, f"ns:{name}")
    client.file_failed(7, f"ns:{name}", retry=False, worker_id="w 2")
    client.get_handle(7, "n s", name)
    assert query_of(rsps.calls[0]) == [("handle_id", f"7:ns:{name}"), ("failed", "no"), ("worker_id", "w1")]
    assert query_of(rsps.calls[1]) == [("handle_id", f"7:ns:{name}"), ("failed", "yes"), ("retry", "no"),
                                       ("worker_id", "w 2")]
    assert query_of(rsps.calls[2]) == [("project_id", "7"), ("namespace", "n s"), ("name", name)]


def test_ordinary_did_is_byte_identical_to_upstream(client, rsps):
    rsps.get(f"{URL}/release", json={}, content_type="text/json")
    client.file_failed(24, "test:r1")
    assert rsps.calls[0].request.url == f"{URL}/release?handle_id=24:test:r1&failed=yes&retry=yes&worker_id=w1"


# --------------------------------------------------------------------------- workers


def handle(name: str = "f1") -> dict:
    return {"project_id": 1, "namespace": "ns", "name": name, "state": "reserved", "replicas": {}}


def test_next_file_returns_handle(client, rsps, clock):
    rsps.get(f"{URL}/next_file", json={"handle": handle(), "reason": "reserved", "retry": False},
             content_type="text/json")
    assert client.next_file(1, stagger=0) == handle()
    assert rsps.calls[0].request.url == f"{URL}/next_file?project_id=1&worker_id=w1&cpu_site=DEFAULT"
    assert clock.sleeps == []
    client.next_file(1, cpu_site="FNAL", worker_id="w9", stagger=4)
    assert query_of(rsps.calls[1]) == [("project_id", "1"), ("worker_id", "w9"), ("cpu_site", "FNAL")]
    assert clock.sleeps == [2.0]  # stagger * random()


def test_next_file_no_cpu_site(tmp_path, rsps, clock):
    c = DataDispatcherClient(URL, worker_id="w", cpu_site=None, token_library=str(tmp_path / "l"))
    rsps.get(f"{URL}/next_file", json={"handle": None, "reason": "project inactive", "retry": False},
             content_type="text/json")
    assert c.next_file(1) is False
    assert query_of(rsps.calls[0]) == [("project_id", "1"), ("worker_id", "w")]
    assert clock.sleeps == [5.0]  # default stagger 10 s


def test_next_file_retries_then_gets_a_file(client, rsps, clock):
    retry = {"handle": None, "reason": "retry", "retry": True}
    rsps.get(f"{URL}/next_file", json=retry, content_type="text/json")
    rsps.get(f"{URL}/next_file", json=retry, content_type="text/json")
    rsps.get(f"{URL}/next_file", json={"handle": handle(), "reason": "reserved", "retry": False},
             content_type="text/json")
    assert client.next_file(1, stagger=0)["name"] == "f1"
    assert clock.sleeps == [30.5, 30.5]  # 1 + (60 - 1) * 0.5


def test_next_file_times_out(client, rsps, clock):
    rsps.get(f"{URL}/next_file", json={"handle": None, "reason": "retry", "retry": True}, content_type="text/json")
    assert client.next_file(1, timeout=3, stagger=0) is True
    assert clock.sleeps == [2.0, 1.0]  # between 1 s and the remaining time
    assert len(rsps.calls) == 3


@pytest.mark.parametrize("status, body, level", [(400, "Inactive project. State=done", logging.INFO),
                                                 (403, "Not authorized", logging.WARNING),
                                                 (404, "Project not found", logging.WARNING),
                                                 (500, "boom", logging.WARNING),
                                                 (401, "Token expired", logging.WARNING)])
def test_next_file_http_errors_mean_project_ended(client, rsps, clock, caplog, status, body, level):
    rsps.get(f"{URL}/next_file", status=status, body=body)
    with caplog.at_level(logging.INFO, logger="dd_notebook.client"):
        assert client.next_file(1, stagger=0) is False
    assert [r.levelno for r in caplog.records if "next_file" in r.getMessage()] == [level]


def test_next_file_network_error_raises(client, rsps, clock):
    rsps.get(f"{URL}/next_file", body=requests.ConnectionError("refused"))
    with pytest.raises(NetworkError):
        client.next_file(1, stagger=0)


def test_reserved_handles(client, rsps):
    handles = [dict(handle("a"), worker_id="w1"), dict(handle("b"), worker_id="w2"),
               dict(handle("c"), worker_id="w1", state="done")]
    rsps.get(f"{URL}/project", json={"project_id": 1, "file_handles": handles}, content_type="text/json")
    assert [h["name"] for h in client.reserved_handles(1)] == ["a"]
    assert [h["name"] for h in client.reserved_handles(1, worker_id="w2")] == ["b"]
    assert query_of(rsps.calls[0]) == [("project_id", "1"), ("with_files", "yes"), ("with_replicas", "no")]


def test_reserved_handles_unknown_project(client, rsps):
    rsps.get(f"{URL}/project", status=404, body="Project not found")
    with pytest.raises(NotFoundError):
        client.reserved_handles(1)


# --------------------------------------------------------------------------- RSEs


def test_rse_methods(client, rsps):
    rse = {"name": "R", "is_available": True}
    rsps.get(f"{URL}/rses", json=[rse], content_type="text/json")
    rsps.get(f"{URL}/get_rse", json=rse, content_type="text/json")
    rsps.get(f"{URL}/set_rse_availability", json=rse, content_type="text/json")
    rsps.get(f"{URL}/delete_rse", body="null", content_type="text/json")
    assert client.list_rses() == [rse]
    assert client.get_rse("R") == rse
    assert client.set_rse_availability("R", False) == rse
    assert client.delete_rse("R") is None
    assert [urlsplit(c.request.url).query for c in rsps.calls[1:]] == [
        "name=R", "name=R&available=no", "name=R"]


def test_rse_not_found(client, rsps):
    rsps.get(f"{URL}/get_rse", status=404, body="RSE X not found")
    rsps.get(f"{URL}/set_rse_availability", status=404, body="RSE X not found")
    assert client.get_rse("X") is None
    assert client.set_rse_availability("X", True) is None


def test_create_and_update_rse_bodies(client, rsps):
    rsps.post(f"{URL}/create_rse", json={}, content_type="text/json")
    rsps.post(f"{URL}/update_rse", json={}, content_type="text/json")
    client.create_rse("R", "desc", preference=3, interface="wlcg")
    client.update_rse("R", add_prefix="/p", is_available=False)
    assert body_of(rsps.calls[0]) == {
        "name": "R", "description": "desc", "is_enabled": True, "is_available": True, "is_tape": False,
        "pin_url": None, "poll_url": None, "remove_prefix": None, "add_prefix": None, "pin_prefix": None,
        "preference": 3, "interface": "wlcg"}
    assert body_of(rsps.calls[1]) == {
        "Name": "R", "Description": None, "Enabled": None, "Available": False, "Tape": None, "PinURL": None,
        "PollURL": None, "RemovePrefix": None, "AddPrefix": "/p", "PinPrefix": None, "Preference": None,
        "Type": None}


def test_replica_methods(client, rsps):
    rsps.post(f"{URL}/replica_available", status=404, body="not here")
    rsps.get(f"{URL}/replica_unavailable", status=404, body="not here")
    assert client.replica_available("ns", "a+b", "R", path="/p", preference=2, url="root://x") is None
    assert query_of(rsps.calls[0]) == [("rse", "R"), ("namespace", "ns"), ("name", "a+b")]
    assert body_of(rsps.calls[0]) == {"path": "/p", "url": "root://x", "preference": 2}
    with pytest.raises(NotFoundError):
        client.replica_unavailable("ns", "a", "R")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("status, cls", [(400, BadRequestError), (403, PermissionDeniedError),
                                         (404, NotFoundError), (500, ServerError), (502, ServerError),
                                         (409, AlreadyExistsError), (418, HTTPError)])
def test_error_mapping(client, rsps, status, cls, clock):
    rsps.get(f"{URL}/cancel_project", status=status, body="Some message\n")
    with pytest.raises(cls) as info:
        client.cancel_project(3)
    err = info.value
    assert type(err) is cls
    assert err.url == f"{URL}/cancel_project?project_id=3" == err.URL
    assert err.status == status == err.StatusCode
    assert err.message == "Some message" == err.Message == str(err)
    assert err.Body == "Some message\n"


def test_authentication_error_names_user_server_and_login(client, rsps, tmp_path):
    rsps.get(f"{URL}/cancel_project", status=401, body="Some message\n")
    with pytest.raises(AuthenticationError) as info:
        client.cancel_project(3)
    assert type(info.value) is AuthenticationError and info.value.status == 401
    assert str(info.value).startswith("Some message (token of user 'alice' for http://dd.test:8080/dd/data)")
    assert "log in again with client.login_password" in str(info.value)
    anonymous = DataDispatcherClient(URL, worker_id="w", token_library=str(tmp_path / "empty"))
    with pytest.raises(AuthenticationError, match=r"no user is logged in to http://dd\.test:8080/dd/data; log in"):
        anonymous.cancel_project(3)
    with pytest.raises(AuthenticationError, match=r"No token found: no user is logged in to .*; log in with"):
        anonymous.auth_info()


def test_error_message_from_html_traceback(client, rsps):
    page = "<html><body><h2>Application error</h2>\n<h3>name &#x27;db&#x27; is not defined</h3><pre>Traceback</pre>"
    rsps.get(f"{URL}/project_handles_log", status=500, body=page, content_type="text/html; charset=UTF-8")
    with pytest.raises(EndpointUnavailableError):
        client.get_handles_log(1)
    rsps.get(f"{URL}/cancel_project", status=500, body=page, content_type="text/html; charset=UTF-8")
    with pytest.raises(ServerError, match="name 'db' is not defined"):
        client.cancel_project(1)


def test_error_message_from_json_body(client, rsps):
    rsps.get(f"{URL}/cancel_project", status=403, json={"message": "nope"}, content_type="application/json")
    with pytest.raises(PermissionDeniedError, match="^nope$"):
        client.cancel_project(1)


def test_expired_token_from_server_text(client, rsps):
    rsps.get(f"{URL}/cancel_project", status=401, body="Token expired")
    with pytest.raises(AuthExpiredError) as info:
        client.cancel_project(1)
    assert re.fullmatch(r"the token of user 'alice' for http://dd\.test:8080/dd/data expired at "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: log in again with .*login_password.*", str(info.value))
    assert info.value.expiration == client.Token.expiration


def test_expired_local_token(tmp_path, rsps):
    c = DataDispatcherClient(URL, token=make_token(exp_in=-60), worker_id="w", token_library=str(tmp_path / "l"))
    rsps.get(f"{URL}/projects", status=401, body="Signature has expired")
    with pytest.raises(AuthExpiredError, match="log in again"):
        c.list_projects()


def test_network_and_timeout_errors(client, rsps):
    rsps.get(f"{URL}/version", body=requests.ConnectionError("refused"))
    rsps.get(f"{URL}/rses", body=requests.ReadTimeout("slow"))
    with pytest.raises(NetworkError):
        client.version()
    with pytest.raises(RequestTimeoutError):
        client.list_rses()


def test_response_decoding(client, rsps):
    rsps.get(f"{URL}/rses", body='[{"a": 1}]', content_type="application/json")
    rsps.get(f"{URL}/get_rse", body='\x1e{"a": 1}\n\x1e{"a": 2}\n', content_type="application/json-seq")
    rsps.get(f"{URL}/version", body="2.0.3", content_type="text/plain")
    assert client.list_rses() == [{"a": 1}]
    assert client.get_rse("x") == [{"a": 1}, {"a": 2}]
    assert client.version() == "2.0.3"


# --------------------------------------------------------------------------- retries


def test_retry_on_503_then_success(client, rsps, clock):
    for status in (503, 502, 504):
        rsps.get(f"{URL}/version", status=status, body="busy")
    rsps.get(f"{URL}/version", body="2.0.3")
    assert client.version() == "2.0.3"
    assert len(rsps.calls) == 4
    assert clock.sleeps == [0.5, 0.75, 1.125]  # random() * 1, 1.5, 2.25


def test_retry_budget_exhausted(client, rsps, clock):
    rsps.get(f"{URL}/version", status=503, body="busy")
    resp = client.retry_request("get", f"{URL}/version", timeout=10)
    assert resp.status_code == 503
    assert len(rsps.calls) > 2 and sum(clock.sleeps) <= 5  # the client's timeout (5 s) caps the budget
    with pytest.raises(ServerError):
        client.version()  # the budget ran out, then the 503 is an error


def test_retry_timeout_zero_is_one_attempt(client, rsps, clock):
    rsps.get(f"{URL}/version", status=503, body="busy")
    assert client.retry_request("get", f"{URL}/version", timeout=0).status_code == 503
    assert len(rsps.calls) == 1 and clock.sleeps == []


def test_retry_request_passes_arguments(client, rsps):
    rsps.post(f"{URL}/x", body="ok")
    resp = client.retry_request("post", f"{URL}/x", data=b"abc", headers={"X-A": "1"})
    assert resp.text == "ok" and rsps.calls[0].request.body == b"abc"
    assert rsps.calls[0].request.headers["X-A"] == "1"


def test_cookies_are_refused(client, rsps):
    rsps.get(f"{URL}/version", body="2.0.3", headers={"Set-Cookie": "auth_token=stale; Path=/"})
    client.version()
    client.version()
    assert "Cookie" not in rsps.calls[1].request.headers and not client.session.cookies


def test_one_session_is_reused(client):
    assert client.session is client._http.session
    assert isinstance(client.session, requests.Session)


# --------------------------------------------------------------------------- extensions


def test_get_handle_via_file_handle(client, rsps):
    h = dict(handle(), replicas={"R": {}})
    rsps.get(f"{URL}/file_handle", json=h, content_type="text/json")
    assert client.get_handle(1, "ns", "f1") == h


def test_get_handle_fallback_and_caching(client, rsps):
    rsps.get(f"{URL}/file_handle", status=500, body="broken")
    rsps.get(f"{URL}/project", json={"file_handles": [handle("a"), handle("b")]}, content_type="text/json")
    assert client.get_handle(1, "ns", "b")["name"] == "b"
    assert client.get_handle(1, "ns", "zz") is None
    endpoints = [urlsplit(c.request.url).path.rsplit("/", 1)[1] for c in rsps.calls]
    assert endpoints == ["file_handle", "project", "project"]
    assert query_of(rsps.calls[1]) == [("project_id", "1"), ("with_files", "yes"), ("with_replicas", "yes")]


def test_get_handle_fallback_unknown_project(client, rsps):
    rsps.get(f"{URL}/file_handle", status=404, body="Project not found")
    rsps.get(f"{URL}/project", status=404, body="Project not found")
    assert client.get_handle(1, "ns", "b") is None


def test_get_handles_log(client, rsps):
    rec = {"type": "state", "t": 1.0, "data": {"event": "create"}, "project_id": 1, "namespace": "n", "name": "a"}
    rsps.get(f"{URL}/project_handles_log", json=[rec], content_type="text/json")
    assert client.get_handles_log(1) == [rec]
    assert query_of(rsps.calls[0]) == [("project_id", "1")]


def test_get_handles_log_gui_fallback(client, rsps):
    rsps.get(f"{URL}/project_handles_log", status=500, body="name 'db' is not defined")
    rsps.get("http://gui.test/dd/gui/P/handle_logs", json=[{"t": 1}], content_type="text/json")
    assert client.get_handles_log(4, gui_url="http://gui.test/dd/gui/") == [{"t": 1}]
    assert rsps.calls[1].request.url == "http://gui.test/dd/gui/P/handle_logs?project_id=4"
    with pytest.raises(EndpointUnavailableError, match="gui_url"):
        client.get_handles_log(4)


def test_get_handles_log_unknown_project(client, rsps):
    rsps.get(f"{URL}/project_handles_log", status=404, body="Project not found")
    with pytest.raises(NotFoundError):
        client.get_handles_log(4)


def test_project_files(client, rsps):
    rsps.get(f"{URL}/project_files", json=[handle()], content_type="text/json")
    assert client.project_files(2) == [handle()]
    client.project_files(2, state="initial", ready_only=True)
    assert query_of(rsps.calls[0]) == [("project_id", "2")]
    assert query_of(rsps.calls[1]) == [("project_id", "2"), ("state", "initial"), ("ready_only", "yes")]


def test_project_files_fallback(client, rsps):
    up = {"available": True, "rse_available": True}
    handles = [dict(handle("a"), state="initial", replicas={"R": up}),
               dict(handle("b"), state="initial", replicas={"R": dict(up, rse_available=False)}),
               dict(handle("c"), state="done", replicas={"R": up})]
    rsps.get(f"{URL}/project_files", status=500, body="'DBProject' object has no attribute 'files'")
    rsps.get(f"{URL}/project", json={"file_handles": handles}, content_type="text/json")
    assert [h["name"] for h in client.project_files(2, ready_only=True)] == ["a"]
    assert [h["name"] for h in client.project_files(2, state="done")] == ["c"]


class FakeMetaCat:
    def __init__(self, records):
        self.records = records
        self.calls = []

    def query(self, query, with_metadata=False):
        self.calls.append((query, with_metadata))
        return iter(self.records)


def test_create_project_from_query(client, rsps):
    records = [{"fid": "1", "namespace": "ns", "name": "a", "size": 10, "checksums": {"adler32": "01"},
                "metadata": {"core.runs": [1], "size": "meta-size"}},
               {"fid": "2", "namespace": "ns", "name": "b", "size": 20, "checksums": {}}]
    mc = FakeMetaCat(records)
    rsps.post(f"{URL}/create_project", json={"project_id": 9}, content_type="text/json")
    result = client.create_project_from_query("files from ns:ds", metacat=mc, copy_metadata="size,checksums,core.runs",
                                              common_attributes={"size": 0, "x": 1}, idle_timeout=None)
    assert result == {"project_id": 9}
    assert mc.calls == [("files from ns:ds", True)]
    body = body_of(rsps.calls[0])
    assert body["query"] == "files from ns:ds" and body["idle_timeout"] is None
    assert body["files"] == [
        {"namespace": "ns", "name": "a", "attributes": {"size": 10, "x": 1, "checksums": {"adler32": "01"},
                                                        "core.runs": [1]}},
        {"namespace": "ns", "name": "b", "attributes": {"size": 20, "x": 1, "checksums": {}, "core.runs": None}},
    ]


def test_create_project_from_query_without_copy(client, rsps):
    mc = FakeMetaCat([{"namespace": "ns", "name": "a"}])
    rsps.post(f"{URL}/create_project", json={"project_id": 9}, content_type="text/json")
    client.create_project_from_query("files from ns:ds", metacat=mc)
    assert mc.calls == [("files from ns:ds", False)]
    assert body_of(rsps.calls[0])["files"] == [{"namespace": "ns", "name": "a", "attributes": {}}]
    with pytest.raises(ValueError, match="Empty file list"):
        client.create_project_from_query("files from empty", metacat=FakeMetaCat([]))


def test_create_project_from_query_needs_metacat_url(client, monkeypatch):
    monkeypatch.delenv("METACAT_SERVER_URL", raising=False)
    with pytest.raises(ValueError, match="METACAT_SERVER_URL"):
        client.create_project_from_query("files from x")


# --------------------------------------------------------------------------- login flows


def token_reply(sub: str = "alice", exp_in: float = 7 * 86400):
    tok = make_token(sub, exp_in)
    return tok, {"X-Authentication-Token": tok}


def test_login_ldap(client, rsps, tmp_path):
    tok, headers = token_reply("bob")
    rsps.post(f"{AUTH}/auth", status=200, body="", headers=headers)
    user, exp = client.login_ldap("bob", "pw:with:colons")
    assert user == "bob" and exp == pytest.approx(time.time() + 7 * 86400, abs=60)
    req = rsps.calls[0].request
    assert req.url == f"{AUTH}/auth?method=ldap" and req.body == b"bob:pw:with:colons"
    assert client.Token.encoded == tok
    assert TokenLibrary(str(tmp_path / "lib")).get(URL).encoded == tok


def digest_server(password: str, realm: str = "metacat"):
    """A responses callback implementing the server side of RFC 2617 digest (qop=auth)."""

    def callback(request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return 401, {"WWW-Authenticate": f'Digest realm="{realm}", nonce="n0nce", algorithm=MD5, qop="auth"'}, \
                "Authorization required"
        fields = dict(re.findall(r'(\w+)="?([^",]+)"?', header[7:]))
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
        ha1 = md5(f"{fields['username']}:{realm}:{password}")
        ha2 = md5(f"{request.method}:{fields['uri']}")
        expected = md5(f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
        if fields["response"] != expected:
            return 401, {}, "Authentication failed\n"
        return 200, {"X-Authentication-Token": make_token(fields["username"])}, ""

    return callback


def test_login_digest(client, rsps, tmp_path):
    rsps.add_callback(responses.GET, f"{AUTH}/auth", callback=digest_server("s3cret"))
    assert client.login_digest("alice", "s3cret")[0] == "alice"
    assert len(rsps.calls) == 2 and "Authorization" not in rsps.calls[0].request.headers
    assert TokenLibrary(str(tmp_path / "lib")).get(URL).subject == "alice"
    with pytest.raises(AuthenticationError, match="Authentication failed"):
        client.login_digest("alice", "wrong")


def test_login_password_falls_back_to_digest(client, rsps):
    rsps.post(f"{AUTH}/auth", status=401, body="LDAP is not configured\n")
    rsps.add_callback(responses.GET, f"{AUTH}/auth", callback=digest_server("pw"))
    assert client.login_password("carol", "pw")[0] == "carol"
    assert [c.request.method for c in rsps.calls] == ["POST", "GET", "GET"]


def test_login_password_ldap_success(client, rsps):
    rsps.post(f"{AUTH}/auth", body="", headers=token_reply("dave")[1])
    assert client.login_password("dave", "pw")[0] == "dave"
    assert len(rsps.calls) == 1


def test_login_token(client, rsps, monkeypatch, tmp_path):
    rsps.post(f"{AUTH}/auth", body="", headers=token_reply("alice")[1])
    client.login_token("alice", b"SCITOKEN")
    req = rsps.calls[0].request
    assert req.url == f"{AUTH}/auth?method=token&username=alice"
    assert req.headers["Authorization"] == "bearer SCITOKEN"
    monkeypatch.setenv("BEARER_TOKEN", "FROM_ENV")
    client.login_token("alice", None)
    assert rsps.calls[1].request.headers["Authorization"] == "bearer FROM_ENV"
    monkeypatch.delenv("BEARER_TOKEN")
    (tmp_path / "bt").write_text("FROM_FILE\n")
    monkeypatch.setenv("BEARER_TOKEN_FILE", str(tmp_path / "bt"))
    client.login_token("alice", "")
    assert rsps.calls[2].request.headers["Authorization"] == "bearer FROM_FILE"


def test_login_token_none_found(client, monkeypatch, tmp_path):
    for var in ("BEARER_TOKEN", "BEARER_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(AuthenticationError, match="BEARER_TOKEN"):
        client.login_token("alice", None)


def test_login_x509(client, rsps):
    rsps.get(f"{AUTH}/auth", status=401, body="HTTPS scheme required\n")
    with pytest.raises(AuthenticationError, match="HTTPS scheme required") as info:
        client.login_x509("alice", "/no/such/cert.pem")
    assert info.value.status == 401
    assert rsps.calls[0].request.url == f"{AUTH}/auth?method=x509&username=alice"


def test_auth_info(client, rsps):
    rsps.get(f"{AUTH}/verify", body="OK")
    assert client.auth_info() == (client.Token.subject, client.Token.expiration)
    assert rsps.calls[0].request.headers["X-Authentication-Token"] == client.Token.encoded


def test_auth_info_errors(tmp_path, rsps):
    c = DataDispatcherClient(URL, AUTH, worker_id="w", token_library=str(tmp_path / "l"))
    with pytest.raises(AuthenticationError, match="No token found"):
        c.auth_info()
    c = DataDispatcherClient(URL, AUTH, worker_id="w", token=make_token(exp_in=-5), token_library=str(tmp_path / "l"))
    rsps.get(f"{AUTH}/verify", status=401, body="Token expired")
    with pytest.raises(AuthExpiredError):
        c.auth_info()


# --------------------------------------------------------------------------- token library


def test_token_library_created_0600_and_round_trip_with_upstream(tmp_path):
    token_lib = pytest.importorskip("metacat.common.token_lib")
    path = tmp_path / ".token_library"
    lib = TokenLibrary(str(path))
    assert lib.path is None and not path.exists()
    tok = make_token("alice")
    lib.store(URL, tok)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == f"{URL} {tok}\n"
    upstream = token_lib.TokenLib(str(path))
    assert upstream.get(URL).encode() == tok.encode()
    other = make_token("bob")
    upstream["http://other/dd/data"] = other
    again = TokenLibrary(str(path))
    assert again.get(URL).encoded == tok and again.get("http://other/dd/data").subject == "bob"
    assert sorted(os.listdir(tmp_path)) == [".token_library"]  # no temporary files left


def test_token_library_default_location(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    lib = TokenLibrary()
    lib.store(URL, make_token())
    assert lib.path == str(tmp_path / ".token_library")


def test_token_library_keeps_entries_written_meanwhile(tmp_path):
    path = str(tmp_path / "lib")
    first, second = TokenLibrary(path), TokenLibrary(path)
    first.store("http://a", make_token("a"))
    second.store("http://b", make_token("b"))
    assert {u for u, _ in TokenLibrary(path).items()} == {"http://a", "http://b"}
    second.remove("http://a")
    assert list(TokenLibrary(path)) == ["http://b"]


def test_token_library_never_wiped(tmp_path, caplog):
    path = tmp_path / "lib"
    good = make_token("alice")
    path.write_text(f"\n{URL} {good}\ngarbage line here\nhttp://x not-a-jwt\n")
    os.chmod(path, 0o640)
    with caplog.at_level(logging.WARNING):
        lib = TokenLibrary(str(path))
    assert lib.get(URL).encoded == good
    assert "line 3" in caplog.text and "line 4" in caplog.text
    lib.store("http://new", make_token("bob"))
    assert path.read_text().splitlines() == [f"{URL} {good}", f"http://new {lib.get('http://new').encoded}"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # mode kept on rewrite
    assert (tmp_path / "lib.rejected").read_text() == "garbage line here\nhttp://x not-a-jwt\n"


def test_token_library_keeps_expired_tokens(tmp_path):
    path = tmp_path / "lib"
    expired = make_token(exp_in=-100)
    path.write_text(f"{URL} {expired}\n")
    c = DataDispatcherClient(URL, token_library=str(path), worker_id="w")
    assert c.Token.encoded == expired and c.Token.expired()


def test_token_decode():
    tok = make_token("zoe")
    t = Token.decode(tok.encode())
    assert t.subject == "zoe" and t.token_id == "abcd1234" and not t.expired()

    class Signed:  # upstream SignedToken-like object
        def encode(self):
            return tok.encode()

    assert Token.decode(Signed()).encoded == tok
    with pytest.raises(ValueError):
        Token.decode("not a token")


# --------------------------------------------------------------------------- direct send (real sockets, no mocking)


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with 200 text/json and records what arrived."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, dict, bytes]] = []
    ports: list[int] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.seen.append((self.command, self.path, dict(self.headers), body))
        Recorder.ports.append(self.client_address[1])
        payload = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "text/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recorder():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Recorder.seen, Recorder.ports = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}/dd/data"
    server.shutdown()
    server.server_close()


def test_direct_send_wire_format_and_keep_alive(recorder, tmp_path):
    c = DataDispatcherClient(recorder, token=make_token(), worker_id="w1", token_library=str(tmp_path / "l"))
    assert c.get_rse("a b+c") == {"ok": True}
    assert c.create_project(["ns:x"]) == {"ok": True}
    (m1, path1, headers1, _), (m2, path2, headers2, body2) = Recorder.seen
    assert (m1, path1) == ("GET", "/dd/data/get_rse?name=a%20b%2Bc")
    assert m2 == "POST" and path2 == "/dd/data/create_project" and json.loads(body2)["files"][0]["name"] == "x"
    assert "Content-Type" not in headers2 and headers2["Content-Length"] == str(len(body2))
    assert headers1["X-Authentication-Token"] == headers2["X-Authentication-Token"] == c.Token.encoded
    assert Recorder.ports[0] == Recorder.ports[1]  # the second request reused the connection
    c.close()
    assert c.list_rses() == {"ok": True}  # a closed client opens a new connection
    assert Recorder.ports[2] != Recorder.ports[1]


def test_direct_send_steps_aside_when_session_is_customised(recorder, tmp_path):
    c = DataDispatcherClient(recorder, worker_id="w1", token_library=str(tmp_path / "l"))
    calls = []
    c.session.hooks["response"].append(lambda r, *a, **k: calls.append(r.url))
    c.version()
    assert calls == [f"{recorder}/version"]


def test_direct_send_network_errors(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = DataDispatcherClient(f"http://127.0.0.1:{port}/dd/data", worker_id="w", token_library=str(tmp_path / "l"))
    with pytest.raises(NetworkError):
        c.version()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        c = DataDispatcherClient(f"http://127.0.0.1:{silent.getsockname()[1]}/dd/data", worker_id="w",
                                 token_library=str(tmp_path / "l"), timeout=0.2)
        with pytest.raises(RequestTimeoutError):
            c.version()
        with pytest.raises(RequestTimeoutError):  # not swallowed by next_file (only HTTP errors are)
            c.next_file(1, stagger=0)
