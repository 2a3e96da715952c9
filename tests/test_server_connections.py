"""Connections cannot starve everyone: header/body deadlines, header size, caps that close idle sockets first."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
import requests

from dd_notebook.client import DataDispatcherClient
from dd_notebook.server import LocalServer
from dd_notebook.server.serving import ConnectionLimits

LIMITS = ConnectionLimits(header_timeout=0.5, body_timeout=0.5, keep_alive_timeout=5,
                          max_connections=24, max_connections_per_client=12, max_header_bytes=8192)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(db=tmp_path_factory.mktemp("conn") / "c.sqlite", demo=True, demo_files=0,
                     limits=LIMITS) as server:
        yield server


def connect(server: LocalServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=10)
    sock.settimeout(10)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket timeout)."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.0)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_a_slowloris_client_is_cut_off(srv: LocalServer) -> None:
    sock = connect(srv)
    sock.sendall(f"GET /dd/data/version HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n".encode())
    sent = 0
    sock.settimeout(0.1)
    answer = b""
    for sent in range(1, 1000):  # a header line every 0.1 s, forever unless the server stops it
        try:
            sock.sendall(b"X-Dribble: %d\r\n" % sent)
            answer = sock.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        if answer:
            break
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"headers not received" in answer
    assert sent < 999


def test_a_slow_body_is_cut_off_and_nothing_is_created(srv: LocalServer) -> None:
    token = srv.issue_token("alice")
    sock = connect(srv)
    sock.sendall((f"POST /dd/data/create_project HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
                  f"X-Authentication-Token: {token}\r\nContent-Length: 100000\r\n\r\n{{\"files\": [").encode())
    answer = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"body not received" in answer
    projects = requests.get(f"{srv.url}/projects", headers={"X-Authentication-Token": token}, timeout=30)
    assert projects.json() == []


def test_an_idle_connection_that_never_speaks_is_closed(srv: LocalServer) -> None:
    sock = connect(srv)
    assert read_until_closed(sock) == b""
    sock.close()


def test_oversized_headers_are_refused(srv: LocalServer) -> None:
    sock = connect(srv)
    sock.sendall(f"GET /dd/data/version HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\nX-Big: {'a' * 20000}\r\n".encode())
    answer = read_until_closed(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431") and b"8192" in answer


def test_many_idle_sockets_do_not_stop_a_login(srv: LocalServer) -> None:
    idle = [connect(srv) for _ in range(3 * LIMITS.max_connections_per_client)]
    try:
        client = DataDispatcherClient(srv.url, srv.auth_url)
        client.login_password("bob", "bob")
        assert client.version()
        assert sum(closed_by_server(sock) for sock in idle) >= 2 * LIMITS.max_connections_per_client
    finally:
        for sock in idle:
            sock.close()


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_connections must be positive"):
        ConnectionLimits(max_connections=0)
