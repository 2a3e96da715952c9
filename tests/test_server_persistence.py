"""Stopping and restarting on the same SQLite file continues exactly where it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import requests

from dd_notebook.server import LocalServer


def test_restart_continues_where_it_was(tmp_path):
    db = tmp_path / "persist.sqlite"
    with LocalServer(db=db, demo=True) as first:
        token = first.issue_token("alice")
        headers = {"X-Authentication-Token": token}
        project = requests.post(f"{first.url}/create_project", headers=headers, json={
            "files": ["p:a", "p:b", "p:c"], "project_attributes": {"virtual": True}, "idle_timeout": 3600}).json()
        pid = project["project_id"]
        requests.get(f"{first.url}/next_file", headers=headers,
                                params={"project_id": pid, "worker_id": "w"})
        requests.get(f"{first.url}/release", headers=headers, params={"handle_id": f"{pid}:p:a", "worker_id": "w"})
        requests.get(f"{first.url}/next_file", headers=headers, params={"project_id": pid, "worker_id": "w"})
        before = requests.get(f"{first.url}/project", params={"project_id": pid}).json()
        log_before = requests.get(f"{first.url}/project_handles_log", params={"project_id": pid}).json()

    with LocalServer(db=db, demo=True) as second:
        after = requests.get(f"{second.url}/project", params={"project_id": pid}).json()
        assert after == before
        assert after["created_timestamp"] == project["created_timestamp"]  # sub-second precision kept
        log_after = requests.get(f"{second.url}/project_handles_log", params={"project_id": pid}).json()
        assert log_after == log_before
        # tokens issued before the restart stay valid (the secret lives in the database)
        reply = requests.get(f"{second.url}/release", headers=headers,
                             params={"handle_id": f"{pid}:p:b", "worker_id": "w"})
        assert reply.status_code == 200 and reply.json()["state"] == "done"
        new = requests.post(f"{second.url}/create_project", headers=headers, json={"files": ["p:z"]}).json()
        assert new["project_id"] == pid + 1

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = conn.execute("SELECT created_timestamp FROM projects WHERE id = ?", (pid,)).fetchone()[0]
    assert stored == project["created_timestamp"]


def test_cli_user_add_and_password_login(tmp_path):
    db = tmp_path / "users.sqlite"
    result = subprocess.run([sys.executable, "-m", "dd_notebook", "user", "add", "erin", "--password", "s3cret",
                             "--role", "prod", "--admin", "--db", str(db)], capture_output=True, text=True)
    assert result.returncode == 0 and "user erin: admin=yes roles=prod" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT digest_ha1 FROM users WHERE username = 'erin'").fetchone()
    assert row[0] and "s3cret" not in row[0]  # only the digest is stored
    with LocalServer(db=db, demo=False) as server:
        login = requests.post(f"{server.auth_url}/auth?method=ldap", data=b"erin:s3cret")
        assert login.status_code == 200
        token = login.headers["X-Authentication-Token"]
        assert requests.get(f"{server.auth_url}/whoami", headers={"X-Authentication-Token": token}).text == "erin"
        rse = requests.post(f"{server.url}/create_rse", headers={"X-Authentication-Token": token},
                            json={"name": "ERIN_RSE"})
        assert rse.status_code == 200  # --admin made erin an admin
    bad = subprocess.run([sys.executable, "-m", "dd_notebook", "user", "add", "bad name", "--password", "x",
                          "--db", str(db)], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid user name" in bad.stderr


def _logs_in(db, name: str, password: str) -> bool:
    with LocalServer(db=db, demo=False) as server:
        return requests.post(f"{server.auth_url}/auth?method=ldap", data=f"{name}:{password}".encode()).ok


def test_cli_user_add_reads_a_piped_password(tmp_path):
    db = tmp_path / "users.sqlite"
    result = subprocess.run([sys.executable, "-m", "dd_notebook", "user", "add", "fay", "--db", str(db)],
                            input="pipe-s3cret\n", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr and "pipe-s3cret" not in result.stdout + result.stderr
    assert _logs_in(db, "fay", "pipe-s3cret")
    empty = subprocess.run([sys.executable, "-m", "dd_notebook", "user", "add", "gus", "--db", str(db)],
                           input="", capture_output=True, text=True)
    assert empty.returncode == 2 and "no password given" in empty.stderr


class _Terminal:
    """Standard input that is a terminal; the typed passwords come from ``getpass``."""

    def isatty(self) -> bool:
        return True


def test_cli_user_add_prompts_twice_on_a_terminal(tmp_path, monkeypatch, capsys):
    from dd_notebook import cli

    db = tmp_path / "users.sqlite"
    prompts: list[str] = []
    typed = iter(["t3rm-pw", "t3rm-pw", "one", "other"])
    monkeypatch.setattr(cli.sys, "stdin", _Terminal())
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: prompts.append(prompt) or next(typed))
    assert cli.main(["user", "add", "hal", "--db", str(db)]) == 0
    assert prompts == ["Password for hal: ", "Repeat the password: "]
    assert cli.main(["user", "add", "ida", "--db", str(db)]) == 2
    assert "the passwords differ" in capsys.readouterr().err
    assert _logs_in(db, "hal", "t3rm-pw")
    assert not _logs_in(db, "ida", "one")
