"""Group commit: requests of one loop turn share a COMMIT, fail alone, and answer only once durable."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from dd_notebook.server.core.db import connect
from dd_notebook.server.core.transactions import transaction
from dd_notebook.server.core.group_commit import CommitFailed, GroupCommit


@pytest.fixture
def conn(tmp_path):
    connection = connect(tmp_path / "g.sqlite")
    connection.execute("CREATE TABLE t(v INTEGER)")
    connection.group = GroupCommit(connection)
    yield connection
    connection.close()


def _committed(conn) -> list[int]:
    other = sqlite3.connect(conn.execute("PRAGMA database_list").fetchone()[2])
    try:
        return sorted(v for (v,) in other.execute("SELECT v FROM t"))
    finally:
        other.close()


def test_requests_share_one_commit_and_fail_alone(conn):
    async def request(value: int, fail: bool) -> str:
        try:
            with transaction(conn):
                conn.execute("INSERT INTO t(v) VALUES (?)", (value,))
                if fail:
                    raise ValueError("bad input")
        except ValueError:
            pass
        await conn.group.flush()
        return "done"

    async def main():
        results = await asyncio.gather(request(1, False), request(2, True), request(3, False))
        assert results == ["done"] * 3
        assert not conn.group.open

    asyncio.run(main())
    assert _committed(conn) == [1, 3]


def test_nothing_is_visible_to_others_before_the_flush(conn):
    async def main():
        with transaction(conn):
            conn.execute("INSERT INTO t(v) VALUES (7)")
        assert conn.group.open and _committed(conn) == []
        await conn.group.flush()
        assert _committed(conn) == [7]

    asyncio.run(main())


def test_failed_commit_rolls_the_group_back(conn):
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE parent(id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE child(p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")

    async def main():
        with transaction(conn):
            conn.execute("INSERT INTO t(v) VALUES (5)")
        with transaction(conn):
            conn.execute("INSERT INTO child(p) VALUES (99)")  # violates the deferred key at COMMIT
        with pytest.raises(CommitFailed):
            await conn.group.flush()
        assert not conn.group.open

    asyncio.run(main())
    assert _committed(conn) == []
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 0


def test_flush_without_changes_returns_at_once(conn):
    asyncio.run(conn.group.flush())
    assert not conn.group.open


def test_a_locked_database_answers_503_and_changes_nothing(tmp_path):
    from dd_notebook.server.app import ServerApp

    app = ServerApp(tmp_path / "busy.sqlite")
    app.users.add("alice", "alice")
    token = app.signer.issue("alice").encode()
    app.conn.execute("PRAGMA busy_timeout=50")
    blocker = sqlite3.connect(tmp_path / "busy.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def create() -> tuple[int, bytes]:
        sent = []
        body = b'{"files": ["b:1"]}'

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/dd/data/create_project", "root_path": "",
                 "query_string": b"", "headers": [(b"x-authentication-token", token)], "http_version": "1.1",
                 "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1)}
        await app(scope, receive, send)
        return sent[0]["status"], sent[1]["body"]

    try:
        status, body = asyncio.run(create())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert status == 503 and b"retry" in body
    assert app.conn.execute("SELECT count(*) FROM projects").fetchone()[0] == 0
    status, _ = asyncio.run(create())
    assert status == 200
