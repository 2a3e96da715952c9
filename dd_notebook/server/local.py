"""Run the embedded server in a background thread of the current process."""

from __future__ import annotations

import ipaddress
import logging
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from .app import ServerApp, SweepSettings
from .auth.users import User, UserStore
from .core.db import connect
from .core.guard import GuardPolicy
from .demo import DEFAULT_CATALOG_FILES, seed_demo
from .serving import ConnectionLimits, uvicorn_config

log = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class LocalServer:
    """The embedded DD + auth + catalog server on a free loopback port.

    Use it as a context manager::

        with LocalServer(demo=True) as srv:
            client = DataDispatcherClient(srv.url, srv.auth_url)

    Args:
        db: SQLite file; None uses a file in a temporary folder removed on exit.
        demo: Seed demo users (password = user name), RSEs, proximity map and catalog. Off by
            default: pointing a server at a real database file must not add ``admin/admin``.
        demo_files: Files of the demo catalog (0 for none).
        host: Interface to bind (loopback by default).
        port: TCP port; 0 picks a free one.
        sweeps: Periods of the worker-timeout and idle sweeps.
        allowed_hosts: Host names besides loopback and ``host`` that requests may name in ``Host``.
        limits: Connection deadlines and caps.
    """

    def __init__(self, db: str | Path | None = None, demo: bool = False, host: str = "127.0.0.1", port: int = 0,
                 sweeps: SweepSettings = SweepSettings(), demo_files: int = DEFAULT_CATALOG_FILES,
                 allowed_hosts: tuple[str, ...] = (), limits: ConnectionLimits = ConnectionLimits()) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="dd-notebook-") if db is None else None
        self.db_path = Path(self._tmp.name) / "dd.sqlite" if self._tmp else Path(db)  # type: ignore[arg-type]
        self.demo = demo
        self.demo_files = demo_files
        self.host = host
        self._port = port
        self.sweeps = sweeps
        self.allowed_hosts = tuple(allowed_hosts)
        self.limits = limits
        self.app: ServerApp | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port."""
        if self._socket is None:
            raise RuntimeError("server is not running")
        return self._socket.getsockname()[1]

    @property
    def url(self) -> str:
        """DD data-server URL (``DATA_DISPATCHER_URL``)."""
        return self.base_url + "/dd/data"

    @property
    def auth_url(self) -> str:
        """Auth-server URL (``DATA_DISPATCHER_AUTH_URL`` and ``METACAT_AUTH_SERVER_URL``)."""
        return self.base_url + "/auth"

    @property
    def gui_url(self) -> str:
        """Base URL of the GUI JSON endpoints (``<gui_url>/P/handle_logs``)."""
        return self.base_url + "/dd/gui"

    @property
    def metacat_url(self) -> str:
        """Catalog URL (``METACAT_SERVER_URL``)."""
        return self.base_url + "/metacat/app"

    def start(self) -> LocalServer:
        """Start serving; returns when the server accepts connections."""
        if self.demo:
            if not _is_loopback(self.host):
                log.warning("serving demo users (password = user name) on %s, which is not a loopback address: "
                            "anyone who can reach it can log in as admin", self.host)
            conn = connect(self.db_path)
            seed_demo(conn, self.demo_files)
            conn.close()
        self.app = ServerApp(self.db_path, self.sweeps, GuardPolicy(self.host, self.allowed_hosts))
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, self._port))
        config = uvicorn_config(self.app, self.limits, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="dd-notebook-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the embedded server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the server thread."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def issue_token(self, username: str, expiration: float | None = None) -> str:
        """Mint a token for ``username`` as the auth server would (the user must exist)."""
        if self.app is None:
            raise RuntimeError("server is not running")
        return self.app.signer.issue(username, expiration)

    def add_user(self, username: str, password: str | None = None, *, admin: bool = False,
                 roles: tuple[str, ...] = ()) -> User:
        """Create or update a user of this server."""
        conn = connect(self.db_path)
        try:
            return UserStore(conn).add(username, password, admin=admin, roles=roles)
        finally:
            conn.close()
