"""The shared transport against a misbehaving fake upstream: retries, deadlines, bounded bodies, typed errors.

The fake upstream is a real HTTP server in a thread on a free loopback port; each test
scripts its answers. Every misbehaviour is bounded (a drip stops by itself, a busy
server turns healthy later), so a client that ignored its deadline would get a late
success and fail the test instead of hanging it.
"""

from __future__ import annotations

import gzip
import http.server
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import pytest

from dd_notebook import errors
from dd_notebook.client import DataDispatcherClient
from dd_notebook.client.retry import parse_retry_after
from dd_notebook.metacat import MetaCatClient

Script = Callable[["Handler"], None]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self.server.calls.append((self.command, self.path.split("?")[0].rsplit("/", 1)[-1], time.monotonic()))
        self.server.script(self)

    do_GET = do_POST = _handle

    def answer(self, status: int, body: bytes = b"", content_type: str = "text/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)


class FakeUpstream:
    """A scripted HTTP server; ``calls`` records ``(method, endpoint, arrival time)``."""

    def __init__(self) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.calls = []
        self.server.script = lambda h: h.answer(500, b"no script")
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dd/data"

    @property
    def calls(self) -> list[tuple[str, str, float]]:
        return self.server.calls

    def script(self, script: Script) -> None:
        self.server.script = script

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    yield fake
    fake.stop()


def client_for(fake: FakeUpstream, tmp_path, timeout: float = 20) -> DataDispatcherClient:
    return DataDispatcherClient(fake.url, worker_id="w", token_library=str(tmp_path / "lib"), timeout=timeout)


def busy_until(seconds: float, status: int = 503, then: bytes = b'{"project_id": 1}') -> Script:
    """Answer ``status`` for ``seconds`` after the first request, then succeed."""
    first: list[float] = []

    def script(h: Handler) -> None:
        first.append(time.monotonic())
        if time.monotonic() - first[0] < seconds:
            h.answer(status, b"busy", "text/plain")
        else:
            h.answer(200, then)
    return script


# ---------------------------------------------------------------- retries that cannot double anything
@pytest.mark.parametrize("status", [502, 504])
def test_a_proxy_error_to_create_project_is_not_retried(upstream, tmp_path, status):
    upstream.script(lambda h: h.answer(status, b"bad gateway", "text/plain"))
    with pytest.raises(errors.ServerError) as failed:
        client_for(upstream, tmp_path).create_project(["ns:a"])
    assert failed.value.status == status
    assert [c[:2] for c in upstream.calls] == [("POST", "create_project")]


def test_next_file_and_release_are_not_retried_on_502(upstream, tmp_path):
    upstream.script(lambda h: h.answer(502, b"bad gateway", "text/plain"))
    client = client_for(upstream, tmp_path)
    assert client.next_file(1, stagger=0) is False  # upstream habit: any HTTP error means "project ended"
    with pytest.raises(errors.ServerError):
        client.file_done(1, "ns:a")
    assert [c[1] for c in upstream.calls] == ["next_file", "release"]


def test_reads_are_retried_on_502_and_504(upstream, tmp_path):
    answers = iter([502, 504, 200])
    upstream.script(lambda h: h.answer(next(answers), b'{"project_id": 1}'))
    assert client_for(upstream, tmp_path).get_project(1) == {"project_id": 1}
    assert len(upstream.calls) == 3


def test_429_with_retry_after_is_retried_after_that_wait(upstream, tmp_path):
    answers = iter([429, 200])
    upstream.script(lambda h: h.answer(next(answers), b'{"project_id": 7}', Retry_After="1"))
    assert client_for(upstream, tmp_path).create_project(["ns:a"]) == {"project_id": 7}
    (_, _, first), (_, _, second) = upstream.calls
    assert second - first >= 0.95  # a lower bound only: the client waited as asked


def test_503_is_retried_for_writes_too(upstream, tmp_path):
    answers = iter([503, 503, 200])
    upstream.script(lambda h: h.answer(next(answers), b'{"project_id": 2}', Retry_After="0"))
    assert client_for(upstream, tmp_path).create_project(["ns:a"]) == {"project_id": 2}
    assert [c[1] for c in upstream.calls] == ["create_project"] * 3


def test_an_odd_retry_after_is_ignored(upstream, tmp_path):
    answers = iter([503, 200])
    upstream.script(lambda h: h.answer(next(answers), b'{"project_id": 3}', Retry_After="soon, maybe"))
    assert client_for(upstream, tmp_path).create_project(["ns:a"]) == {"project_id": 3}
    assert parse_retry_after("soon") is None and parse_retry_after("-5") == 0.0
    assert parse_retry_after("nan") is None and parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_a_reset_connection_is_retried_for_reads_only(upstream, tmp_path):
    resets = {"project": 1, "create_project": 1}

    def script(h: Handler) -> None:
        endpoint = h.path.split("?")[0].rsplit("/", 1)[-1]
        if resets.get(endpoint):
            resets[endpoint] -= 1
            h.close_connection = True
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"proj")  # cut short
            return
        h.answer(200, b'{"project_id": 4}')
    upstream.script(script)
    client = client_for(upstream, tmp_path)
    assert client.get_project(4) == {"project_id": 4}
    with pytest.raises(errors.NetworkError):
        client.create_project(["ns:a"])
    assert [c[1] for c in upstream.calls] == ["project", "project", "create_project"]


# ---------------------------------------------------------------- deadlines that hold
@pytest.mark.parametrize("status", [502, 503, 504])
def test_the_retry_budget_respects_the_client_timeout(upstream, tmp_path, status):
    upstream.script(busy_until(30, status))
    with pytest.raises(errors.ServerError) as failed:
        client_for(upstream, tmp_path, timeout=1).get_project(1)  # a late success would fail the test
    assert failed.value.status == status


def test_next_file_timeout_bounds_the_retries(upstream, tmp_path):
    upstream.script(busy_until(30, 503, b'{"handle": {"name": "late"}, "reason": "reserved", "retry": false}'))
    assert client_for(upstream, tmp_path).next_file(1, stagger=0, timeout=1) is True  # timed out, still running


def test_a_dripping_server_hits_the_deadline(upstream, tmp_path):
    def drip(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/json")
        h.send_header("Content-Length", "40")
        h.end_headers()
        for _ in range(40):  # 40 bytes, one every 0.25 s: a complete answer after 10 s
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.25)
    upstream.script(drip)
    with pytest.raises(errors.RequestTimeoutError):
        client_for(upstream, tmp_path, timeout=1.5).list_rses()


# ---------------------------------------------------------------- bounded bodies
def _bomb(size: int = 100 * 1024 * 1024) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(size // len(block))) + packer.flush()


def test_a_decompression_bomb_is_refused(upstream, tmp_path):
    bomb = _bomb()
    assert len(bomb) < 200_000
    upstream.script(lambda h: h.answer(200, bomb, Content_Encoding="gzip"))
    with pytest.raises(errors.InvalidResponseError, match="expands to more than"):
        client_for(upstream, tmp_path).list_rses()


def test_a_reasonable_compressed_answer_is_accepted(upstream, tmp_path):
    payload = b"[" + b",".join(b'{"name": "RSE_%d"}' % i for i in range(10_000)) + b"]"
    upstream.script(lambda h: h.answer(200, gzip.compress(payload), Content_Encoding="gzip"))
    assert len(client_for(upstream, tmp_path).list_rses()) == 10_000


# ---------------------------------------------------------------- only typed errors escape
def test_an_html_answer_to_next_file_is_an_invalid_response(upstream, tmp_path):
    upstream.script(lambda h: h.answer(200, b"<html>proxy login</html>", "text/html"))
    client = client_for(upstream, tmp_path)
    with pytest.raises(errors.InvalidResponseError, match="expected a JSON answer"):
        client.next_file(1, stagger=0)
    with pytest.raises(errors.InvalidResponseError):
        client.get_project(1)


def test_truncated_json_is_an_invalid_response(upstream, tmp_path):
    upstream.script(lambda h: h.answer(200, b'{"project_id": 1, "sta'))
    with pytest.raises(errors.InvalidResponseError, match="not valid JSON"):
        client_for(upstream, tmp_path).get_project(1)


def test_a_bad_json_seq_record_is_an_invalid_response(upstream):
    upstream.script(lambda h: h.answer(200, b'\x1e{"namespace": "s", "name": "a"}\n\x1e{"namesp\n',
                                       "application/json-seq"))
    records = MetaCatClient(upstream.url.replace("/dd/data", "/app")).query("files from s:a")
    assert next(records)["name"] == "a"
    with pytest.raises(errors.InvalidResponseError, match="record 2"):
        next(records)


def test_a_broken_chunked_body_is_a_network_error(upstream, tmp_path):
    def broken(h: Handler) -> None:
        h.close_connection = True
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\n[1, 2\r\nzz\r\n")
    upstream.script(broken)
    with pytest.raises(errors.NetworkError):
        client_for(upstream, tmp_path).create_project(["ns:a"])


def test_a_redirect_loop_is_an_invalid_response(upstream, tmp_path):
    upstream.script(lambda h: h.answer(302, b"", "text/plain", Location=h.path))
    client = DataDispatcherClient(upstream.url, upstream.url.replace("/dd/data", "/auth"), worker_id="w",
                                  token_library=str(tmp_path / "lib"))
    with pytest.raises(errors.InvalidResponseError, match="keeps redirecting"):
        client.login_digest("alice", "pw")
