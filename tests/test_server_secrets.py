"""The database (token secret, password digests) stays private to its owner; a digest is never a password."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

import pytest
import requests

from dd_notebook.cli import build_parser
from dd_notebook.server import LocalServer
from dd_notebook.server.core import db as server_db
from dd_notebook.server.core.db import InsecureDatabaseError, connect
from dd_notebook.server.auth.users import digest_ha1


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """Run the test under the most permissive umask, so privacy cannot come from the environment."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_new_directory_and_database_files_are_private(tmp_path, open_umask):
    db = tmp_path / "data" / "dd-notebook" / "dd.sqlite"
    with LocalServer(db=db, demo=True, demo_files=0) as server:
        token = server.issue_token("alice")
        reply = requests.get(f"{server.url}/projects", headers={"X-Authentication-Token": token})
        assert reply.status_code == 200
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert _mode(db.parent) == 0o700 and _mode(db.parent.parent) == 0o700
    assert _mode(tmp_path) == stat.S_IMODE(tmp_path.stat().st_mode)  # an existing directory is left alone


def test_catalog_connection_creates_a_private_file(tmp_path, open_umask):
    from dd_notebook.catalog import connect as catalog_connect

    catalog_connect(tmp_path / "catalog.sqlite").close()
    assert _mode(tmp_path / "catalog.sqlite") == 0o600


def test_world_readable_database_is_fixed_with_a_warning(tmp_path, caplog):
    db = tmp_path / "dd.sqlite"
    connect(db).close()
    os.chmod(db, 0o644)
    with caplog.at_level(logging.WARNING, logger="dd_notebook.server.core.db"), \
            LocalServer(db=db, demo=True, demo_files=0) as server:
        assert requests.get(f"{server.url}/probe").text == "OK"
        assert _mode(db) == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.name == "dd_notebook.server.core.db"]
    assert len(warnings) == 1 and str(db) in warnings[0] and "0644" in warnings[0], warnings


def test_unfixable_database_is_refused_naming_the_chmod_command(tmp_path, monkeypatch, capsys):
    db = tmp_path / "dd.sqlite"
    connect(db).close()
    os.chmod(db, 0o644)

    def chmod_not_permitted(path, mode):
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr(server_db.os, "chmod", chmod_not_permitted)
    with pytest.raises(InsecureDatabaseError, match=f"chmod 600 {db}"):
        connect(db)
    args = build_parser().parse_args(["serve", "--db", str(db), "--port", "0"])
    assert args.func(args) == 2
    error = capsys.readouterr().err
    assert f"chmod 600 {db}" in error and "other accounts" in error


@pytest.mark.parametrize("body,params", [("{user}:{ha1}", {}), ("{ha1}", {"username": "{user}"})])
def test_stored_digest_is_not_a_password(server, body, params):
    ha1 = digest_ha1("alice", "alice")
    stored = server.app.users.stored_ha1("alice")
    assert stored == ha1  # the value a copy of the database would reveal
    fill = {k: v.format(user="alice") for k, v in params.items()}
    refused = requests.post(f"{server.auth_url}/auth", params={"method": "ldap", **fill},
                            data=body.format(user="alice", ha1=ha1).encode())
    assert refused.status_code == 401 and "X-Authentication-Token" not in refused.headers
    accepted = requests.post(f"{server.auth_url}/auth", params={"method": "ldap", **fill},
                             data=body.format(user="alice", ha1="alice").encode())
    assert accepted.status_code == 200 and accepted.headers["X-Authentication-Token"]


@pytest.mark.parametrize("password", ["pässwörd", "\u00b2", "x" * 10_000])
def test_non_ascii_passwords_are_refused_not_crashing(server, password):
    reply = requests.post(f"{server.auth_url}/auth", params={"method": "ldap"},
                          data=f"alice:{password}".encode())
    assert reply.status_code == 401


def test_non_ascii_digest_response_is_refused_not_crashing(server):
    header = (f'Digest username="alice", realm="metacat", nonce="{time.time():.3f}-\u00e9", '
              'uri="/auth/auth?method=digest", response="\u00e9\u00e9", qop=auth, nc=00000001, cnonce="x"')
    reply = requests.get(f"{server.auth_url}/auth?method=digest", headers={"Authorization": header.encode("latin-1")})
    assert reply.status_code == 401
