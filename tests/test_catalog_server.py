"""The catalog inside the embedded server: mounted at /metacat/app, real tokens, shared database file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from metacat.webapi import MetaCatClient as UpstreamClient

from dd_notebook.server.catalog.demo import load_demo_catalog
from dd_notebook.server.catalog.schema import connect
from dd_notebook.metacat import MetaCatClient
from dd_notebook.server import LocalServer
from dd_notebook.server.core.db import connect as server_connect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    db = tmp_path_factory.mktemp("shared") / "dd.sqlite"
    server_connect(db).close()
    conn = connect(db)
    load_demo_catalog(conn, n_files=200, seed=1)
    conn.close()
    srv = LocalServer(db=db, demo=True).start()
    yield srv
    srv.stop()


def test_upstream_client_through_the_server(server: LocalServer, tmp_path: Path) -> None:
    client = UpstreamClient(server_url=server.metacat_url, token_library=str(tmp_path / "lib"))
    assert sorted(f["name"] for f in client.query("files from mengel:gen_cfg")) == ["a.fcl", "b.fcl"]
    assert client.get_dataset("dune:all")["file_count"] == 200


def test_real_tokens_for_writes_and_none_for_reads(server: LocalServer) -> None:
    base = server.metacat_url
    admin = {"X-Authentication-Token": server.issue_token("admin")}
    alice = {"X-Authentication-Token": server.issue_token("alice")}
    bob = {"X-Authentication-Token": server.issue_token("bob")}
    made = requests.get(f"{base}/data/create_namespace", params={"name": "bobs"}, headers=bob)
    assert made.status_code == 200 and made.json()["owner_user"] == "bob"
    ok = requests.post(f"{base}/data/create_dataset", headers=alice, json={"namespace": "hd-protodune", "name": "x"})
    assert ok.status_code == 200, ok.text
    denied = requests.post(f"{base}/data/create_dataset", headers=bob, json={"namespace": "hd-protodune", "name": "y"})
    assert denied.status_code == 403
    assert requests.get(f"{base}/data/create_namespace", params={"name": "z"}, headers=admin).status_code == 200
    stale = {"X-Authentication-Token": "not.a.jwt"}
    assert requests.get(f"{base}/data/create_namespace", params={"name": "q"}, headers=stale).status_code == 401
    files = list(MetaCatClient(base, token="not.a.jwt").query("files from mengel:gen_cfg"))
    assert len(files) == 2
