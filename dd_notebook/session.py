"""``connect()``: one call that gives a notebook a logged-in client, on a production server or on the embedded one.

>>> session = connect()                  # DATA_DISPATCHER_URL set: that server; else a local demo server
>>> client, metacat = session.client, session.metacat
>>> session.close()                      # stops the local server, if one was started

With ``DATA_DISPATCHER_URL`` in the environment, the client uses that server
and the token the user already has (``ddisp login``, the token library,
``BEARER_TOKEN``); ``METACAT_SERVER_URL`` gives the catalog. Without it, an
embedded server with the demo catalog starts on a free loopback port in the
background and the demo user logs in (its token is kept beside the
server's database, not in the user's token library), so every notebook of ``notebooks/``
runs on a laptop with no account.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from .client import DataDispatcherClient

log = logging.getLogger(__name__)

__all__ = ["Session", "connect"]


@dataclass
class Session:
    """What :func:`connect` returns.

    Attributes
    ----------
    client
        A :class:`~dd_notebook.client.DataDispatcherClient`, logged in.
    metacat
        A :class:`~dd_notebook.metacat.MetaCatClient` for the catalog, or ``None`` when no catalog URL is known.
    server
        The embedded :class:`~dd_notebook.server.LocalServer` when one was started, else ``None``.
    gui_url
        Base URL of the GUI JSON endpoints (handle logs on production servers), or ``None``.
    """

    client: DataDispatcherClient
    metacat: Any = None
    server: Any = None
    gui_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        """True when the session runs on an embedded server it started."""
        return self.server is not None

    def close(self) -> None:
        """Stop the embedded server, if this session started one."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "embedded server" if self.local else "server"
        return f"<Session {where} {self.client.ServerURL}>"


def connect(
    url: str | None = None,
    *,
    user: str = "alice",
    password: str | None = None,
    demo_files: int = 3000,
    db: str | Path | None = None,
) -> Session:
    """A logged-in session on the server in the environment, or on a fresh embedded demo server.

    Parameters
    ----------
    url
        Data-server URL; default env ``DATA_DISPATCHER_URL``. When neither is set, an embedded
        server starts (demo users, RSEs, proximity map and a catalog of ``demo_files`` files).
    user, password
        Used to log in: on the embedded server the demo password is the user name; on another
        server, a password logs in with it, otherwise the existing token is used as it is.
    demo_files
        Files of the embedded server's demo catalog.
    db
        SQLite file of the embedded server (default: a temporary file removed on :meth:`Session.close`).

    Returns
    -------
    Session
        The client, the catalog client, and the embedded server if one was started.
    """
    from .metacat import MetaCatClient

    url = url or os.environ.get("DATA_DISPATCHER_URL")
    if url:
        client = DataDispatcherClient(url, os.environ.get("DATA_DISPATCHER_AUTH_URL"))
        if password is not None:
            client.login_password(user, password)
        metacat_url = os.environ.get("METACAT_SERVER_URL")
        metacat = MetaCatClient(metacat_url, token=_encoded_token(client)) if metacat_url else None
        return Session(client, metacat, None, os.environ.get("DATA_DISPATCHER_GUI_URL"))
    from .server import LocalServer

    server = LocalServer(db=db, demo=True, demo_files=demo_files).start()
    try:
        client = DataDispatcherClient(server.url, server.auth_url,
                                      token_library=str(server.db_path.parent / "token_library"))
        client.login_password(user, password if password is not None else user)
        metacat = MetaCatClient(server.metacat_url, token=_encoded_token(client))
    except Exception:
        server.stop()
        raise
    log.info("embedded demo server on %s", server.base_url)
    env = {
        "DATA_DISPATCHER_URL": server.url,
        "DATA_DISPATCHER_AUTH_URL": server.auth_url,
        "METACAT_SERVER_URL": server.metacat_url,
        "METACAT_AUTH_SERVER_URL": server.auth_url,
    }
    return Session(client, metacat, server, server.gui_url, env)


def _encoded_token(client: DataDispatcherClient) -> str | None:
    token = client.Token
    return token.encoded if token is not None else None
