"""Answers built off the event loop, each from one read-only snapshot of committed data.

Listings and the project records that writes answer with grow with the
project (10^6 handles take seconds); built on the event loop they would stop
every other client meanwhile. Here they are built in a worker thread on a
read-only connection inside one read transaction, so:

* the loop keeps dispatching files while a listing is built (SQLite releases
  the GIL while it steps a statement, and the JSON is serialised in pieces
  between which the loop gets the GIL back, :mod:`..core.json_pieces`);
* a body is sent as the pieces it was built in (:class:`..core.http.PiecesResponse`),
  so a listing of hundreds of megabytes is never copied into one buffer;
* the project header, its handles and their replicas come from the same
  snapshot;
* the answer to a write is read after the write's group commit, so it shows
  the committed state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ..auth.users import UserStore
from ..core.group_commit import GroupCommit
from ..core.http import JSON_TYPE, PiecesResponse
from ..core.json_pieces import json_pieces
from ..core.readers import ReadConnections
from .projects import ProjectStore

__all__ = ["SnapshotAnswers"]

Build = Callable[[ProjectStore], Any]
#: A body as built: whole, or as pieces to be sent in turn.
Body = bytes | list[bytes]


def _pieces(body: Body) -> list[bytes]:
    return body if isinstance(body, list) else [body]


class SnapshotAnswers:
    """Build responses in a worker thread on a read-only snapshot.

    Args:
        readers: The pool of read-only connections.
        users: The user store (project stores built on a snapshot share it).
        commits: The group committer of the server's write connection.
    """

    def __init__(self, readers: ReadConnections, users: UserStore, commits: GroupCommit | None) -> None:
        self.readers = readers
        self.users = users
        self.commits = commits

    def _run(self, build: Callable[[sqlite3.Connection], Any]) -> Any:
        with self.readers.snapshot() as conn:
            return build(conn)

    async def value(self, build: Callable[[sqlite3.Connection], Any]) -> Any:
        """Return ``build(conn)`` computed in a worker thread on one snapshot."""
        return await run_in_threadpool(self._run, build)

    async def json(self, build: Build, after_commit: bool = False) -> Response:
        """Answer ``build(store)`` as JSON; the store reads one snapshot.

        Args:
            build: Makes the answer from a :class:`ProjectStore` on the snapshot.
            after_commit: Wait for the group commit first (answers to writes).
        """
        if after_commit and self.commits is not None:
            await self.commits.flush()

        def run(conn: sqlite3.Connection) -> list[bytes]:
            return json_pieces(build(ProjectStore(conn, self.users)), option=orjson.OPT_NON_STR_KEYS)
        return PiecesResponse(await self.value(run), media_type=JSON_TYPE)

    async def body(self, build: Callable[[ProjectStore], Body], media_type: str,
                   after_commit: bool = False) -> Response:
        """Answer the body ``build(store)`` makes on one snapshot (after the group commit if asked)."""
        if after_commit and self.commits is not None:
            await self.commits.flush()
        body = await self.value(lambda conn: build(ProjectStore(conn, self.users)))
        return PiecesResponse(_pieces(body), media_type=media_type)

    async def log_page(self, build: Callable[[ProjectStore], tuple[Body, int, bool]], media_type: str) -> Response:
        """Answer one page of the handle log with its cursor headers (``X-DD-Log-Cursor``, ``X-DD-Log-More``)."""
        body, cursor, more = await self.value(lambda conn: build(ProjectStore(conn, self.users)))
        return PiecesResponse(_pieces(body), media_type=media_type,
                              headers={"X-DD-Log-Cursor": str(cursor), "X-DD-Log-More": "yes" if more else "no"})
