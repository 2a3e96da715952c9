"""Who may do what: anonymous, owner, other user, project user, role member, admin."""

from __future__ import annotations

import time

import jwt
import pytest

ACTORS = ("anonymous", "owner", "other", "project_user", "role_member", "admin")
USER_OF = {"anonymous": None, "owner": "alice", "other": "dave", "project_user": "bob", "role_member": "carol",
           "admin": "admin"}


def _project(dd):
    return dd.create(["az:1", "az:2", "az:3"], project_attributes={"virtual": True}, users=["bob"], roles=["prod"])


WRITE_RULES = {
    # endpoint: allowed actors (everyone else gets 401 when anonymous, 403 otherwise)
    "next_file": {"owner", "project_user", "role_member", "admin"},
    "release": {"owner", "admin"},
    "cancel_project": {"owner", "admin"},
    "activate_project": {"owner", "admin"},
    "delete_project": {"owner", "admin"},
    "restart_handles": {"owner", "admin"},
    "restart_project": {"owner", "admin"},
    "copy_project": {"owner", "other", "project_user", "role_member", "admin"},
    "create_project": {"owner", "other", "project_user", "role_member", "admin"},
}


def _call(dd, endpoint, user, pid):
    if endpoint == "next_file":
        return dd.get(endpoint, user, params={"project_id": pid, "worker_id": "wz"})
    if endpoint == "release":
        dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "wz"}))
        return dd.get(endpoint, user, params={"handle_id": f"{pid}:az:1", "worker_id": "wz"})
    if endpoint in ("cancel_project", "activate_project", "delete_project", "restart_project"):
        return dd.get(endpoint, user, params={"project_id": pid})
    if endpoint == "restart_handles":
        return dd.post(endpoint, {"project_id": pid, "done": True}, user)
    if endpoint == "copy_project":
        return dd.post(endpoint, {"project_id": pid}, user)
    return dd.post(endpoint, {"files": ["az:new"]}, user)


@pytest.mark.parametrize("endpoint", sorted(WRITE_RULES))
@pytest.mark.parametrize("actor", ACTORS)
def test_write_endpoint_authorization(dd, endpoint, actor):
    pid = _project(dd)["project_id"]
    response = _call(dd, endpoint, USER_OF[actor], pid)
    if actor in WRITE_RULES[endpoint]:
        assert response.status_code == 200, response.text
    elif actor == "anonymous":
        assert (response.status_code, response.text) == (401, "Token not found")
    else:
        assert response.status_code == 403, response.text
        assert response.text in ("Forbidden", "Not authorized")
    if actor not in WRITE_RULES[endpoint] and endpoint != "create_project":
        project = dd.ok(dd.get("project", params={"project_id": pid}))
        assert project["state"] == "active"  # a refused call changed nothing
        assert [h["state"] for h in project["file_handles"]] == (
            ["reserved", "initial", "initial"] if endpoint == "release" else ["initial"] * 3)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("call", ["create_rse", "update_rse", "delete_rse", "set_rse_availability",
                                  "replica_available", "set_proximity"])
def test_admin_endpoints(dd, actor, call):
    user = USER_OF[actor]
    name = f"AZ_{actor}_{call}".upper()
    dd.ok(dd.post("create_rse", {"name": name, "is_enabled": True, "is_available": True}, "admin"))
    requests_by_call = {
        "create_rse": lambda: dd.post("create_rse", {"name": name + "_NEW"}, user),
        "update_rse": lambda: dd.post("update_rse", {"Name": name, "Description": "d"}, user),
        "delete_rse": lambda: dd.get("delete_rse", user, params={"name": name}),
        "set_rse_availability": lambda: dd.get("set_rse_availability", user, params={"name": name, "available": "no"}),
        "replica_available": lambda: dd.post("replica_available", {}, user,
                                             params={"rse": name, "namespace": "az", "name": "r"}),
        "set_proximity": lambda: dd.post("set_proximity", {"cpu": "AZ", "rse": name, "proximity": 1}, user),
    }
    response = requests_by_call[call]()
    expected = 200 if actor == "admin" else 401 if actor == "anonymous" else 403
    assert response.status_code == expected, response.text


def test_public_reads_ignore_bad_tokens(dd):
    pid = _project(dd)["project_id"]
    garbage = dd.session.get(f"{dd.url}/project", params={"project_id": pid},
                             headers={"X-Authentication-Token": "garbage"})
    assert garbage.status_code == 200
    assert dd.session.get(f"{dd.url}/rses", headers={"X-Authentication-Token": "garbage"}).status_code == 200


def _signed(server, **claims):
    import sqlite3
    import hashlib
    with sqlite3.connect(server.db_path) as conn:
        secret = conn.execute("SELECT value FROM settings WHERE key = 'token_secret'").fetchone()[0]
    now = time.time()
    base = {"sub": "alice", "iat": now, "nbf": now, "exp": now + 600, "jti": "abcd1234"}
    return jwt.encode({**base, **claims}, hashlib.sha256(secret.encode()).digest(), algorithm="HS256")


@pytest.mark.parametrize("make_token,message", [
    (lambda s: "garbage", "Not enough segments"),
    (lambda s: _signed(s, exp=time.time() - 5), "Token expired"),
    (lambda s: _signed(s, nbf=time.time() + 600), "Token immature"),
    (lambda s: _signed(s, sub="zed"), "user zed not found"),
    (lambda s: jwt.encode({"sub": "alice", "exp": time.time() + 60}, b"x" * 32, algorithm="HS256"),
     "Token verification failed"),
])
def test_token_rejections(dd, server, make_token, message):
    response = dd.session.get(f"{dd.url}/projects", headers={"X-Authentication-Token": make_token(server)})
    assert (response.status_code, response.text) == (401, message)


def test_token_sources(dd):
    token = dd.token("alice")
    assert dd.session.get(f"{dd.url}/projects", headers={"Authorization": f"bearer {token}"}).status_code == 200
    assert dd.session.get(f"{dd.url}/projects", cookies={"auth_token": token}).status_code == 200
    both = dd.session.get(f"{dd.url}/projects", cookies={"auth_token": "garbage"},
                          headers={"X-Authentication-Token": token})
    assert both.status_code == 401  # the cookie wins, as upstream
