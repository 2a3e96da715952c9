"""Request bodies are bounded per endpoint: small for anonymous callers, big only for logged-in bulk writes.

A body above the limit is answered 413 with a message naming the limit. A
declared ``Content-Length`` above it is refused before any byte of the body
is sent: the tests send only the request head on a raw socket and get the
answer (a server that waited for the body would never answer).
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import requests

from dd_notebook.server.core.body_limits import ANONYMOUS_BODY_BYTES, BULK_BODY_BYTES, files_that_fit


def head_only(base_url: str, path: str, length: int, token: str | None = None) -> tuple[int, str]:
    """POST a request head declaring ``length`` body bytes, send none of them, return (status, body)."""
    parts = urlsplit(base_url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}", f"Content-Length: {length}",
             "Content-Type: application/json", "Connection: close"]
    if token:
        lines.append(f"X-Authentication-Token: {token}")
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def test_a_big_anonymous_catalog_body_is_refused_before_it_is_read(server):
    status, text = head_only(server.base_url, "/metacat/app/data/files", 100_000_000)
    assert status == 413
    assert f"limit {ANONYMOUS_BODY_BYTES:,} bytes" in text


def test_a_big_anonymous_dd_body_is_refused_before_it_is_read(server):
    status, text = head_only(server.base_url, "/dd/data/file_summary", 100_000_000)
    assert status == 413 and f"limit {ANONYMOUS_BODY_BYTES:,} bytes" in text
    assert "logged-in users may send up to" in text


def test_an_anonymous_create_project_is_told_the_logged_in_limit(server):
    status, text = head_only(server.base_url, "/dd/data/create_project", 10_000_000)
    assert status == 413
    assert f"limit {ANONYMOUS_BODY_BYTES:,} bytes" in text and f"{BULK_BODY_BYTES:,} bytes" in text


def test_create_project_413_says_how_many_files_fit(server):
    status, text = head_only(server.base_url, "/dd/data/create_project", BULK_BODY_BYTES + 1,
                             server.issue_token("alice"))
    assert status == 413
    assert f"limit {BULK_BODY_BYTES:,} bytes" in text
    assert f"about {files_that_fit(BULK_BODY_BYTES):,} files" in text
    assert files_that_fit(BULK_BODY_BYTES) >= 1_000_000


def test_a_streamed_anonymous_body_is_cut_off_at_the_limit(server):
    def chunks():
        piece = b" " * 65536
        for _ in range(ANONYMOUS_BODY_BYTES // len(piece) + 2):
            yield piece

    response = requests.post(f"{server.metacat_url}/data/files", data=chunks())
    assert response.status_code == 413 and "too large" in response.text
    dd = requests.post(f"{server.url}/search_projects", data=chunks())
    assert dd.status_code == 413 and "too large" in dd.text


def test_a_logged_in_bulk_write_may_exceed_the_anonymous_limit(server):
    token = server.issue_token("alice")
    body = b'{"files": ["big:one", "big:two"]}' + b" " * (ANONYMOUS_BODY_BYTES + 1)
    created = requests.post(f"{server.url}/create_project", data=body, headers={"X-Authentication-Token": token})
    assert created.status_code == 200, created.text
    assert [h["name"] for h in created.json()["file_handles"]] == ["one", "two"]


def test_a_bad_token_does_not_lift_the_anonymous_limit(server):
    status, text = head_only(server.base_url, "/dd/data/create_project", ANONYMOUS_BODY_BYTES + 1, "not-a-token")
    assert status == 413 and "logged-in users may send up to" in text


@pytest.mark.parametrize("path", ["/dd/data/version", "/auth/auth", "/metacat/app/data/query"])
def test_small_endpoints_stay_small_even_when_logged_in(server, path):
    status, text = head_only(server.base_url, path, ANONYMOUS_BODY_BYTES + 1, server.issue_token("alice"))
    assert status == 413 and f"limit {ANONYMOUS_BODY_BYTES:,} bytes" in text


def test_declare_files_accepts_bulk_bodies_only_from_logged_in_users(server):
    status, text = head_only(server.base_url, "/metacat/app/data/declare_files?dataset=a:b", 10_000_000)
    assert status == 413 and "logged-in users may send up to" in text
    status, text = head_only(server.base_url, "/metacat/app/data/declare_files?dataset=a:b",
                             BULK_BODY_BYTES + 1, server.issue_token("alice"))
    assert status == 413 and f"limit {BULK_BODY_BYTES:,} bytes" in text
