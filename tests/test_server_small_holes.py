"""Smaller holes: owners-only save_as/add_to, redirects that keep the token home, single-use digest nonces,
bounded DD file names, MQL bodies sent as forms."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from requests.auth import HTTPDigestAuth

from dd_notebook.client import DataDispatcherClient
from dd_notebook.server import LocalServer
from dd_notebook.server.auth.nonces import NonceLedger, NonceRejected


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(db=tmp_path_factory.mktemp("holes") / "h.sqlite", demo=True, demo_files=20) as server:
        yield server


def token(server: LocalServer, user: str) -> dict[str, str]:
    return {"X-Authentication-Token": server.issue_token(user)}


def query(server: LocalServer, user: str, **params: str) -> requests.Response:
    return requests.post(f"{server.metacat_url}/data/query", params=params, headers=token(server, user),
                         data="files from dune:all limit 3", timeout=30)


def dataset_exists(server: LocalServer, did: str) -> bool:
    answer = requests.get(f"{server.metacat_url}/data/dataset", params={"dataset": did}, timeout=30)
    return answer.status_code == 200


def test_an_admin_cannot_save_into_a_namespace_they_do_not_own(srv: LocalServer) -> None:
    refused = query(srv, "admin", save_as="mengel:by-admin")
    assert refused.status_code == 403 and "does not own namespace mengel" in refused.text
    assert not dataset_exists(srv, "mengel:by-admin")
    assert query(srv, "admin", add_to="mengel:gen_cfg").status_code == 403
    saved = query(srv, "bob", save_as="mengel:by-bob")
    assert saved.status_code == 200, saved.text
    assert dataset_exists(srv, "mengel:by-bob")


@pytest.mark.parametrize("target", ["https://evil.example/steal", "//evil.example/x", "http://127.0.0.1:1/x",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_a_login_never_redirects_off_the_server(srv: LocalServer, target: str) -> None:
    answer = requests.post(f"{srv.auth_url}/auth", params={"method": "ldap", "redirect": target},
                           data=b"bob:bob", allow_redirects=False, timeout=30)
    assert answer.status_code == 400 and "redirect" in answer.text
    assert "X-Authentication-Token" not in answer.headers


@pytest.mark.parametrize("target", ["/dd/data/projects", "next?x=1", "{base}/metacat/app/data/version"])
def test_relative_and_same_origin_redirects_work(srv: LocalServer, target: str) -> None:
    target = target.format(base=srv.base_url)
    answer = requests.post(f"{srv.auth_url}/auth", params={"method": "ldap", "redirect": target},
                           data=b"bob:bob", allow_redirects=False, timeout=30)
    assert answer.status_code == 302 and answer.headers["Location"] == target
    assert answer.headers["X-Authentication-Token"]


def test_a_captured_digest_header_cannot_be_replayed(srv: LocalServer) -> None:
    url = f"{srv.auth_url}/auth?method=digest"
    first = requests.get(url, auth=HTTPDigestAuth("alice", "alice"), timeout=30)
    assert first.status_code == 200
    captured = first.request.headers["Authorization"]
    replay = requests.get(url, headers={"Authorization": captured}, timeout=30)
    assert replay.status_code == 401 and "X-Authentication-Token" not in replay.headers
    assert "stale=TRUE" in replay.headers["WWW-Authenticate"]
    session = requests.Session()
    session.auth = HTTPDigestAuth("alice", "alice")
    assert [session.get(url, timeout=30).status_code for _ in range(3)] == [200, 200, 200]


def test_our_client_logs_in_by_digest_repeatedly(srv: LocalServer) -> None:
    client = DataDispatcherClient(srv.url, srv.auth_url)
    for _ in range(2):
        user, _ = client.login_digest("bob", "bob")
        assert user == "bob"


def test_nonce_ledger_counts_up_and_bounds_memory() -> None:
    ledger = NonceLedger(b"k", max_tracked=2)
    nonce = ledger.issue()
    ledger.check(nonce, "00000001")
    ledger.consume(nonce, "00000001")
    with pytest.raises(NonceRejected, match="already used"):
        ledger.check(nonce, "00000001")
    ledger.check(nonce, "00000002")
    with pytest.raises(NonceRejected, match="unknown"):
        ledger.check(nonce[:-1] + ("0" if nonce[-1] != "0" else "1"), "00000001")
    second, third = ledger.issue(), ledger.issue()
    ledger.consume(second, "1")
    with pytest.raises(NonceRejected, match="too many"):
        ledger.consume(third, "1")


@pytest.mark.parametrize("name, problem", [("bad\x00name", "control characters"), ("x" * 1_000_000, "1000 bytes"),
                                           ("é" * 501, "1000 bytes"), ("line\nbreak", "control characters")])
def test_dd_file_names_are_bounded(srv: LocalServer, name: str, problem: str) -> None:
    for spec in ({"namespace": "n", "name": name}, f"n:{name}"):
        answer = requests.post(f"{srv.url}/create_project", json={"files": [spec]}, headers=token(srv, "alice"),
                               timeout=30)
        assert answer.status_code == 400 and problem in answer.text, answer.text[:200]


def test_a_name_of_1000_bytes_is_accepted(srv: LocalServer) -> None:
    answer = requests.post(f"{srv.url}/create_project", json={"files": [{"namespace": "n", "name": "y" * 999}]},
                           headers=token(srv, "alice"), timeout=30)
    assert answer.status_code == 200, answer.text


def test_an_mql_form_body_is_refused_not_read_as_empty(srv: LocalServer) -> None:
    answer = requests.post(f"{srv.metacat_url}/data/query", data={"query": "files from dune:all"}, timeout=30)
    assert answer.status_code == 415 and "application/x-www-form-urlencoded" in answer.text
