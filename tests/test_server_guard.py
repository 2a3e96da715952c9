"""A web page in the user's browser cannot drive the server: foreign Host, cross-origin requests, form bodies."""

from __future__ import annotations

import http.client
import json

import pytest
import requests

from dd_notebook.server import LocalServer
from dd_notebook.server.core.guard import GuardPolicy, split_host


def raw(server: LocalServer, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, str]:
    """Send one request with exactly these headers (``Host`` included) and return (status, body text)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body or method == "POST":
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def project_count(server: LocalServer) -> int:
    token = server.issue_token("alice")
    answer = requests.get(f"{server.url}/projects", headers={"X-Authentication-Token": token}, timeout=30)
    assert answer.status_code == 200, answer.text
    return len(answer.json())


def test_a_foreign_host_is_refused_before_anything_runs(server: LocalServer) -> None:
    own = f"127.0.0.1:{server.port}"
    status, text = raw(server, "GET", "/dd/data/version", {"Host": "attacker.example:8080"})
    assert status == 400
    assert "attacker.example" in text and "--allowed-host" in text
    assert raw(server, "GET", "/dd/data/version", {"Host": own})[0] == 200
    assert raw(server, "GET", "/dd/data/version", {"Host": f"localhost:{server.port}"})[0] == 200
    assert raw(server, "GET", "/dd/data/version", {"Host": f"[::1]:{server.port}"})[0] == 200


def test_a_cross_origin_text_plain_write_is_refused_and_writes_nothing(server: LocalServer) -> None:
    token = server.issue_token("alice")
    body = json.dumps({"files": [{"namespace": "n", "name": "guard-f"}]}).encode()
    before = project_count(server)
    status, text = raw(server, "POST", "/dd/data/create_project",
                       {"Host": f"127.0.0.1:{server.port}", "Origin": "http://evil.example",
                        "Content-Type": "text/plain", "X-Authentication-Token": token}, body)
    assert status == 403 and "evil.example" in text
    status, text = raw(server, "POST", "/dd/data/create_project",
                       {"Host": f"127.0.0.1:{server.port}", "Content-Type": "text/plain;charset=UTF-8",
                        "X-Authentication-Token": token}, body)
    assert status == 415 and "text/plain" in text
    assert project_count(server) == before


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_browser_form_bodies_are_refused_everywhere(server: LocalServer, content_type: str) -> None:
    for path in ("/dd/data/create_project", "/auth/auth?method=ldap", "/metacat/app/data/query"):
        status, text = raw(server, "POST", path, {"Host": f"127.0.0.1:{server.port}", "Content-Type": content_type},
                           b"alice:alice")
        assert status == 415, (path, status, text)
        assert content_type.split(";")[0] in text


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_cross_site_read_is_refused(server: LocalServer, site: str) -> None:
    status, text = raw(server, "GET", "/metacat/app/data/query?query=files%20from%20a:b",
                       {"Host": f"127.0.0.1:{server.port}", "Sec-Fetch-Site": site})
    assert status == 403 and site in text


def test_a_page_on_another_port_of_localhost_is_another_origin(server: LocalServer) -> None:
    status, _ = raw(server, "POST", "/dd/data/create_project",
                    {"Host": f"localhost:{server.port}", "Origin": "http://localhost:8888"}, b"{}")
    assert status == 403


def test_same_origin_and_client_requests_pass(server: LocalServer) -> None:
    token = server.issue_token("alice")
    own = f"127.0.0.1:{server.port}"
    body = json.dumps({"files": [{"namespace": "n", "name": "guard-ok"}]}).encode()
    for headers in ({}, {"Content-Type": "text/json"}, {"Content-Type": "application/json; charset=utf-8"},
                    {"Origin": f"http://{own}", "Sec-Fetch-Site": "same-origin"}):
        status, text = raw(server, "POST", "/dd/data/create_project",
                           {"Host": own, "X-Authentication-Token": token, **headers}, body)
        assert status == 200, (headers, status, text)
    assert raw(server, "GET", "/dd/data/version", {"Host": own, "Sec-Fetch-Site": "none"})[0] == 200


def test_an_operator_can_allow_a_name(tmp_path) -> None:
    with LocalServer(db=tmp_path / "g.sqlite", allowed_hosts=("dd.example.org",)) as srv:
        assert raw(srv, "GET", "/dd/data/version", {"Host": f"DD.example.org.:{srv.port}"})[0] == 200
        assert raw(srv, "GET", "/dd/data/version", {"Host": "other.example.org"})[0] == 400


def test_host_policy_rules() -> None:
    assert split_host("[::1]:80") == ("::1", "80")
    assert split_host("Example.ORG.") == ("example.org", None)
    loopback = GuardPolicy("127.0.0.1")
    assert loopback.host_allowed("127.0.0.2") and loopback.host_allowed("app.localhost")
    assert not loopback.host_allowed("10.1.2.3") and not loopback.host_allowed("localhost.evil.example")
    bound = GuardPolicy("10.1.2.3")
    assert bound.host_allowed("10.1.2.3") and not bound.host_allowed("10.1.2.4")
    assert GuardPolicy("0.0.0.0").host_allowed("10.1.2.4")
    assert GuardPolicy("login.example.org").host_allowed("login.example.org")
