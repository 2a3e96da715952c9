"""``dd-notebook serve`` prints how to reach it and serves the demo content, catalog included."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_demo_prints_exports_and_serves_the_catalog(tmp_path):
    port = _free_port()
    db = tmp_path / "cli.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "dd_notebook", "serve", "--demo", "--demo-files", "40",
                             "--db", str(db), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(6)]
        base = f"http://127.0.0.1:{port}"
        assert f"export DATA_DISPATCHER_URL={base}/dd/data" in lines
        assert f"export DATA_DISPATCHER_AUTH_URL={base}/auth" in lines
        assert f"export METACAT_SERVER_URL={base}/metacat/app" in lines
        assert f"export METACAT_AUTH_SERVER_URL={base}/auth" in lines
        assert any("password is the user name" in line and "local use only" in line for line in lines)
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{base}/dd/data/version", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.05)
        datasets = requests.get(f"{base}/metacat/app/data/datasets").json()
        assert "dune:all" in {f"{d['namespace']}:{d['name']}" for d in datasets}
        query = requests.post(f"{base}/metacat/app/data/query", data=b"files from dune:all")
        assert len([line for line in query.text.splitlines() if line.strip()]) == 40
        rses = {r["name"]: r for r in requests.get(f"{base}/dd/data/rses").json()}
        assert rses["FNAL_TAPE"]["is_tape"] and rses["UK_RAL"]["is_available"] is False
        login = requests.post(f"{base}/auth/auth?method=ldap", data=b"admin:admin")
        assert login.status_code == 200 and "X-Authentication-Token" in login.headers
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert db.exists()
