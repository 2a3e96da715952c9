"""The auth endpoints: digest, ldap-style password, token exchange, verify, whoami (metacat-and-auth §1)."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from requests.auth import HTTPDigestAuth


@pytest.fixture(params=["/auth", "/dd/data/auth", "/metacat/app/auth"])
def auth_url(request, server):
    return server.base_url + request.param


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def test_digest_login(auth_url):
    first = requests.get(f"{auth_url}/auth?method=digest")
    assert first.status_code == 401 and first.text == "Authorization required"
    challenge = first.headers["WWW-Authenticate"]
    assert challenge.startswith('Digest realm="metacat", nonce="') and 'qop="auth"' in challenge
    ok = requests.get(f"{auth_url}/auth?method=digest", auth=HTTPDigestAuth("alice", "alice"))
    assert ok.status_code == 200 and ok.text == ""
    claims = _claims(ok.headers["X-Authentication-Token"])
    assert claims["sub"] == "alice" and 7 * 86400 - 60 < claims["exp"] - time.time() <= 7 * 86400
    assert set(claims) >= {"sub", "exp", "iat", "nbf", "jti"} and len(claims["jti"]) == 8
    wrong = requests.get(f"{auth_url}/auth?method=digest", auth=HTTPDigestAuth("alice", "nope"))
    assert (wrong.status_code, wrong.text) == (401, "Authentication failed\n")
    unknown = requests.get(f"{auth_url}/auth?method=digest", auth=HTTPDigestAuth("zed", "zed"))
    assert unknown.status_code == 401


def test_forged_or_stale_nonce_is_refused(auth_url):
    header = ('Digest username="alice", realm="metacat", nonce="123.0-abc", uri="/auth/auth?method=digest", '
              'response="0", qop=auth, nc=00000001, cnonce="0a4f113b"')
    response = requests.get(f"{auth_url}/auth?method=digest", headers={"Authorization": header})
    assert (response.status_code, response.text) == (401, "Authentication failed\n")


def test_password_login_and_redirect(auth_url):
    ok = requests.post(f"{auth_url}/auth?method=ldap", data=b"bob:bob")
    assert ok.status_code == 200 and _claims(ok.headers["X-Authentication-Token"])["sub"] == "bob"
    with_user = requests.post(f"{auth_url}/auth?method=ldap&username=bob", data=b"bob")
    assert with_user.status_code == 200
    assert requests.post(f"{auth_url}/auth?method=ldap", data=b"bob:wrong").status_code == 401
    assert requests.post(f"{auth_url}/auth?method=ldap", data=b"").status_code == 401
    redirect = requests.post(f"{auth_url}/auth?method=ldap&redirect=/next", data=b"bob:bob",
                             allow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["Location"] == "/next"
    assert "X-Authentication-Token" in redirect.headers


def test_token_exchange_keeps_expiry(auth_url, server):
    token = server.issue_token("alice", expiration=time.time() + 3600)
    exchanged = requests.post(f"{auth_url}/auth?method=token&username=alice",
                              headers={"Authorization": f"bearer {token}"})
    assert exchanged.status_code == 200
    assert _claims(exchanged.headers["X-Authentication-Token"])["exp"] == pytest.approx(_claims(token)["exp"])
    header_form = requests.post(f"{auth_url}/auth?method=token&username=alice",
                                headers={"X-Authentication-Token": token})
    assert header_form.status_code == 200
    mismatch = requests.post(f"{auth_url}/auth?method=token&username=bob",
                             headers={"Authorization": f"bearer {token}"})
    assert (mismatch.status_code, mismatch.text) == (401, "Authentication failed\n")
    missing = requests.post(f"{auth_url}/auth?method=token&username=alice")
    assert (missing.status_code, missing.text) == (401, "Authentication failed. Token not found\n")


def test_other_methods_and_ops(auth_url, server):
    assert requests.get(f"{auth_url}/auth").text == "Unknown authentication method\n"
    assert requests.get(f"{auth_url}/auth?method=kerberos").status_code == 401
    x509 = requests.get(f"{auth_url}/auth?method=x509&username=alice")
    assert (x509.status_code, x509.text) == (401, "HTTPS scheme required\n")
    token = server.issue_token("alice")
    verify = requests.get(f"{auth_url}/verify", headers={"X-Authentication-Token": token})
    assert (verify.status_code, verify.text) == (200, "OK") and verify.headers["content-type"].startswith("text/plain")
    assert requests.get(f"{auth_url}/verify").text == "Token not found"
    assert requests.get(f"{auth_url}/verify", headers={"X-Authentication-Token": "garbage"}).status_code == 401
    assert requests.get(f"{auth_url}/whoami", headers={"X-Authentication-Token": token}).text == "alice"
    assert requests.get(f"{auth_url}/whoami").text == ""
    assert requests.get(f"{auth_url}/mydn").status_code == 400
    assert requests.get(f"{auth_url}/probe").text == "OK"
    assert requests.get(f"{auth_url}/token").status_code == 404


def test_secrets_are_not_logged(server, caplog):
    with caplog.at_level("DEBUG"):
        requests.post(f"{server.auth_url}/auth?method=ldap", data=b"alice:alice")
        requests.post(f"{server.auth_url}/auth?method=ldap", data=b"alice:wrong-pw")
    text = caplog.text
    assert "wrong-pw" not in text and "eyJ" not in text
