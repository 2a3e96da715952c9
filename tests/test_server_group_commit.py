"""Group commit: requests of one loop turn share a COMMIT, fail alone, and answer only once durable."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from dd_notebook.server.db import connect, transaction
from dd_notebook.server.group_commit import CommitFailed, GroupCommit


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
