"""Shared fixtures: the embedded server on a free loopback port with a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dd_notebook.server import LocalServer, SweepSettings


class DDHttp:
    """Raw HTTP access to a running server, with tokens of its users."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.url = server.url
        self.session = requests.Session()
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = self.server.issue_token(user)
        return self._tokens[user]

    def headers(self, user: str | None) -> dict[str, str]:
        return {"X-Authentication-Token": self.token(user)} if user else {}

    def get(self, endpoint: str, user: str | None = None, params: Any = None, **kw: Any) -> requests.Response:
        return self.session.get(f"{self.url}/{endpoint}", params=params, headers=self.headers(user), **kw)

    def post(self, endpoint: str, body: Any = None, user: str | None = None, params: Any = None,
             data: bytes | None = None) -> requests.Response:
        return self.session.post(f"{self.url}/{endpoint}", params=params, headers=self.headers(user),
                                 json=body if data is None else None, data=data)

    def ok(self, response: requests.Response) -> Any:
        assert response.status_code == 200, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("text/json"), response.headers["content-type"]
        return response.json()

    def create(self, files: list[Any], user: str = "alice", **body: Any) -> dict[str, Any]:
        return self.ok(self.post("create_project", {"files": files, **body}, user))

    def replica(self, did: str, rse: str, available: bool = True, **body: Any) -> dict[str, Any]:
        namespace, name = did.split(":", 1)
        params = {"rse": rse, "namespace": namespace, "name": name}
        if available:
            return self.ok(self.post("replica_available", body, "admin", params=params))
        return self.ok(self.get("replica_unavailable", "admin", params=params))


def start_server(db: Path, **kw: Any) -> LocalServer:
    server = LocalServer(db=db, demo=True, demo_files=0, **kw).start()
    server.add_user("carol", "carol", roles=("prod",))
    server.add_user("dave", "dave", roles=("analysis",))
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A demo server for one test module, on a real SQLite file."""
    srv = start_server(tmp_path_factory.mktemp("dd") / "dd.sqlite",
                       sweeps=SweepSettings(worker_timeout_interval=0.5, idle_interval=0.5))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def dd(server: LocalServer) -> DDHttp:
    """Raw HTTP helper bound to the module's server."""
    return DDHttp(server)
