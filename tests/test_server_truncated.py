"""Cut-off requests and answers: no endpoint runs on half a body, a failed stream is visibly incomplete."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from metacat.webapi import MetaCatClient as UpstreamClient

import dd_notebook.server.catalog.web as catalog_web
from dd_notebook.errors import DDNotebookError
from dd_notebook.metacat import MetaCatClient
from dd_notebook.server import LocalServer
from dd_notebook.server.core.errors import HTTPError
from dd_notebook.server.core.http import read_body
from dd_notebook.server.serving import ConnectionLimits

CATALOG_FILES = 2500  # more than one fetched batch (1,000 rows), so a stream has a first chunk and a rest
QUERY = "files from dune:all"
#: A budget that lets the first batch out and interrupts the query afterwards (found with this demo catalog).
SMALL_BUDGET = 50_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A demo server with a catalog bigger than one streamed batch and a short body deadline."""
    db = tmp_path_factory.mktemp("truncated") / "dd.sqlite"
    with LocalServer(db=db, demo=True, demo_files=CATALOG_FILES,
                     limits=ConnectionLimits(body_timeout=1.0)) as srv:
        yield srv


def _project_names(server: LocalServer) -> list[str]:
    token = server.issue_token("alice")
    response = requests.get(f"{server.url}/projects", params={"with_handles": "yes"},
                            headers={"X-Authentication-Token": token})
    assert response.status_code == 200, response.text
    return [h["name"] for project in response.json() for h in project.get("file_handles", [])]


def _half_body(server: LocalServer, close: bool) -> bytes:
    """Send ``create_project`` whose first half is already a whole JSON body, then close or stall.

    Returns what the server answered before the connection ended.
    """
    whole = b'{"files": [{"namespace": "cut", "name": "half"}]}' + b" " * 4000
    address = urlsplit(server.url)
    head = (f"POST {address.path}/create_project HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"X-Authentication-Token: {server.issue_token('alice')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(whole)}\r\n\r\n").encode()
    answer = b""
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(head + whole[: len(whole) // 2])
        if close:
            sock.shutdown(socket.SHUT_WR)
        sock.settimeout(15)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def test_closed_half_body_runs_no_endpoint(server):
    answer = _half_body(server, close=True)
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert "half" not in _project_names(server)


def test_stalled_half_body_is_timed_out_without_running_the_endpoint(server):
    answer = _half_body(server, close=False)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"Request body not received" in answer
    assert "half" not in _project_names(server)
    # the same body sent whole is accepted: the refusals above were about the cut, not the content
    whole = requests.post(f"{server.url}/create_project", json={"files": [{"namespace": "cut", "name": "whole"}]},
                          headers={"X-Authentication-Token": server.issue_token("alice")})
    assert whole.status_code == 200, whole.text
    assert "whole" in _project_names(server)


def _receive_from(messages: list[dict[str, Any]]) -> Any:
    pending = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(pending)
    return receive


@pytest.mark.parametrize(("messages", "headers", "fragment"), [
    ([{"type": "http.request", "body": b'{"a": 1}', "more_body": True}, {"type": "http.disconnect"}], [],
     "connection closed after 8 bytes"),
    ([{"type": "http.disconnect"}], [(b"content-length", b"5")], "connection closed after 0 bytes"),
    ([{"type": "http.request", "body": b"12345", "more_body": False}], [(b"content-length", b"10")],
     "5 of 10 bytes"),
])
def test_read_body_refuses_a_cut_body(messages, headers, fragment):
    with pytest.raises(HTTPError) as caught:
        asyncio.run(read_body(_receive_from(messages), headers, 1000, lambda n: f"too large {n}"))
    assert caught.value.status == 400
    assert "request body incomplete" in caught.value.message and fragment in caught.value.message


def test_read_body_accepts_a_whole_body_in_pieces():
    messages = [{"type": "http.request", "body": b"12", "more_body": True},
                {"type": "http.request", "body": b"345", "more_body": False}]
    body = asyncio.run(read_body(_receive_from(messages), [(b"content-length", b"5")], 1000, str))
    assert body == bytearray(b"12345")


# ---- catalog streams that fail after the 200 ------------------------------------------------------

def test_whole_stream_without_budget_limit(server):
    with MetaCatClient(server.metacat_url, timeout=(5, 60)) as client:
        assert len(list(client.query(QUERY))) == CATALOG_FILES


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_web, "MAX_QUERY_STEPS", SMALL_BUDGET)


def test_stream_cut_by_the_work_budget_is_incomplete_on_the_wire(server, small_budget):
    response = requests.post(f"{server.metacat_url}/data/query", data=QUERY.encode(), stream=True)
    assert response.status_code == 200  # the first batch went out before the budget ran out
    assert response.headers["content-type"].startswith("application/json-seq")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        response.content  # noqa: B018  (reading the body is the test)


def test_our_client_raises_a_typed_error_on_a_cut_stream(server, small_budget):
    with MetaCatClient(server.metacat_url, timeout=(5, 60)) as client:
        records = client.query(QUERY)
        seen = 0
        with pytest.raises(DDNotebookError) as caught:
            for _ in records:
                seen += 1
    assert 0 < seen < CATALOG_FILES
    assert "connection" in str(caught.value).lower() or "incomplete" in str(caught.value).lower(), caught.value


def test_upstream_client_raises_on_a_cut_stream(server, small_budget, tmp_path):
    upstream = UpstreamClient(server_url=server.metacat_url, token_library=str(tmp_path / "library"))
    with pytest.raises(Exception) as caught:  # noqa: B017  (upstream's own exception types vary by layer)
        list(upstream.query(QUERY))
    assert "ChunkedEncodingError" in type(caught.value).__name__ or "ended prematurely" in str(caught.value)


def test_a_cut_stream_logs_its_reason_once_and_no_traceback(server, small_budget, caplog):
    uvicorn_errors = logging.getLogger("uvicorn.error")  # uvicorn's own handlers do not reach the root logger
    uvicorn_errors.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO):
            response = requests.post(f"{server.metacat_url}/data/query", data=QUERY.encode(), stream=True)
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                response.content  # noqa: B018  (reading the body is the test)
    finally:
        uvicorn_errors.removeHandler(caplog.handler)
    reasons = [r for r in caplog.records if "stopped while streaming" in r.getMessage()]
    assert [r.levelno for r in reasons] == [logging.WARNING]
    assert "work budget" in reasons[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or "Exception in ASGI application" in r.getMessage()]
