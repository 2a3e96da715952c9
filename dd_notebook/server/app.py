"""The embedded server as one ASGI application: DD data server, auth server, catalog.

=====================  =====================================================
``/dd/data/...``       DD data server (spec dd-protocol §3)
``/dd/data/auth/...``  auth endpoints (the DD client's default auth URL)
``/auth/...``          auth endpoints (``DATA_DISPATCHER_AUTH_URL``)
``/metacat/app/auth``  auth endpoints (MetaCat's default auth URL)
``/metacat/app/...``   MetaCat-compatible catalog
``/dd/gui/P/...``      JSON endpoints of upstream's GUI server (handle logs)
=====================  =====================================================

The time-driven work of upstream's separate daemon (worker-timeout and
idle-timeout sweeps) runs as an asyncio task on the server's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from .auth.authenticator import Authenticator
from .auth.endpoints import AuthEndpoints
from .auth.tokens import TokenSigner, get_secret
from .auth.users import UserStore
from .catalog.app import create_catalog_app
from .core.body_limits import CatalogBodyLimits
from .core.db import connect
from .core.group_commit import CommitFailed, GroupCommit
from .core.guard import GuardPolicy, RequestGuard
from .core.http import text_response
from .core.readers import ReadConnections
from .core.service import Service
from .dd.dispatch import Dispatcher
from .dd.endpoints import DDEndpoints
from .dd.gui import GUIEndpoints
from .dd.projects import ProjectStore
from .dd.rses import RSEStore
from .dd.snapshots import SnapshotAnswers

log = logging.getLogger(__name__)
_SLASHES = re.compile("/{2,}")


@dataclass(frozen=True)
class SweepSettings:
    """How often the background sweeps run, in seconds."""

    worker_timeout_interval: float = 2.0
    idle_interval: float = 10.0


class ServerApp:
    """ASGI entry point that routes by path prefix and runs the sweeps.

    Args:
        db_path: SQLite file (created when missing).
        sweeps: Sweep periods.
        guard: The hosts the server answers to (requests a browser page could send are refused).
    """

    def __init__(self, db_path: str | Path, sweeps: SweepSettings = SweepSettings(),
                 guard: GuardPolicy = GuardPolicy()) -> None:
        self.db_path = str(db_path)
        self.sweeps = sweeps
        self.conn = connect(self.db_path)
        self.signer = TokenSigner(get_secret(self.conn))
        self.users = UserStore(self.conn)
        self.auth = Authenticator(self.signer, self.users)
        self.projects = ProjectStore(self.conn, self.users)
        self.rses = RSEStore(self.conn)
        self.dispatcher = Dispatcher(self.projects, self.rses)
        self.readers = ReadConnections(self.db_path)
        self.commits = GroupCommit(self.conn)
        self.conn.group = self.commits
        answers = SnapshotAnswers(self.readers, self.users, self.commits)
        auth_service = Service(AuthEndpoints(self.auth).table(), self.auth.authenticate)
        self.mounts: list[tuple[str, ASGIApp]] = [
            ("/dd/data/auth", auth_service),
            ("/dd/data", Service(DDEndpoints(self.projects, self.rses, self.dispatcher, answers).table(),
                                 self.auth.authenticate, root_redirect="./index", commits=self.commits)),
            ("/dd/gui/P", Service(GUIEndpoints(answers).table(), self.auth.authenticate, commits=self.commits)),
            ("/auth", auth_service),
            ("/metacat/app/auth", auth_service),
            ("/metacat/app", CatalogBodyLimits(create_catalog_app(self.db_path, self.auth.authenticate),
                                               self.auth.authenticate)),
        ]
        self._sweeper: asyncio.Task | None = None
        self._guarded = RequestGuard(self._route, guard)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._guarded(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _SLASHES.sub("/", scope["path"])
        for prefix, app in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                child = dict(scope, path=path, root_path=scope.get("root_path", "") + prefix)
                await app(child, receive, send)
                return
        await text_response(f"Not found: {path}", 404)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.run_sweeps(force_idle=True)
                self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._sweeper is not None:
                    self._sweeper.cancel()
                self.readers.close()
                self.conn.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _sweep_forever(self) -> None:
        last_idle = time.monotonic()
        while True:
            await asyncio.sleep(self.sweeps.worker_timeout_interval)
            due = time.monotonic() - last_idle >= self.sweeps.idle_interval
            if due:
                last_idle = time.monotonic()
            await self.run_sweeps(force_idle=due)

    async def run_sweeps(self, force_idle: bool = False) -> None:
        """Run the worker-timeout sweep, and the idle sweep when ``force_idle``; wait for the commit.

        Never raises: a failing sweep is logged and tried again at its next
        period, so neither start-up nor the background task can be stopped by
        what the database holds.
        """
        sweeps = [self.dispatcher.sweep_worker_timeouts]
        if force_idle:
            sweeps.append(self.dispatcher.sweep_idle_projects)
        for sweep in sweeps:
            try:
                sweep()
            except Exception:  # the sweeper must outlive any database content
                log.exception("background sweep %s failed; will retry", sweep.__name__)
        try:
            await self.commits.flush()
        except (sqlite3.Error, CommitFailed):
            log.exception("commit of the background sweeps failed; will retry")
