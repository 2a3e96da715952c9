"""LoginPanel against the embedded server: password and token logins, and the plain error messages."""

from __future__ import annotations

import socket
import time

import pytest

from dd_notebook.client import DataDispatcherClient, TokenLibrary
from dd_notebook.widgets import LoginPanel
from dd_notebook.widgets.login import LoginError


@pytest.fixture()
def library(tmp_path):
    return str(tmp_path / "token_library")


@pytest.fixture()
def panel(server, library, monkeypatch):
    monkeypatch.setenv("DATA_DISPATCHER_URL", server.url)
    monkeypatch.setenv("DATA_DISPATCHER_AUTH_URL", server.auth_url)
    return LoginPanel(token_library=library)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fields_prefilled_from_environment_and_from_a_client(server, panel, library):
    assert (panel.server_url.value, panel.auth_url.value) == (server.url, server.auth_url)
    assert panel.client is None
    client = DataDispatcherClient(server.url, server.auth_url + "/", token_library=library)
    other = LoginPanel(client)
    assert (other.server_url.value, other.auth_url.value) == (server.url, server.auth_url)


def test_password_login_by_clicking(server, panel, library):
    panel.username.value = "alice"
    panel.password.value = "alice"
    panel.login_button.click()
    assert panel.error == ""
    client = panel.client
    assert client is not None and client.Token.subject == "alice"
    assert client.auth_info()[0] == "alice"
    assert client.list_rses()  # the token works on the data server
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(client.Token.expiration))
    assert f"logged in as alice, token expires {expires}" in panel.status.value
    assert TokenLibrary(library).get(server.url).subject == "alice"


def test_login_uses_the_given_client(server, library):
    client = DataDispatcherClient(server.url, server.auth_url, token_library=library)
    panel = LoginPanel(client)
    assert panel.login("bob", "bob") is client
    assert client.Token.subject == "bob"
    assert panel.password.value == "bob" and panel.username.value == "bob"


def test_wrong_password_says_what_to_do(server, panel):
    panel.username.value = "alice"
    panel.password.value = "not-her-password"
    panel.login_button.click()
    assert panel.error == (f"wrong user name or password for alice at {server.auth_url}: "
                           "check them and log in again")
    assert panel.client is None
    with pytest.raises(LoginError, match="wrong user name or password for alice"):
        panel.login()


def test_unreachable_server(panel):
    url = f"http://127.0.0.1:{closed_port()}"
    panel.server_url.value = url + "/dd/data"
    panel.auth_url.value = url + "/auth"
    panel.username.value = "alice"
    panel.password.value = "alice"
    panel.login_button.click()
    assert panel.error == f"cannot reach {url}/auth: is the server running? check the URL"
    assert panel.client is None


def test_missing_inputs(panel):
    panel.login_button.click()
    assert panel.error == "enter a user name"
    panel.username.value = "alice"
    panel.login_button.click()
    assert panel.error == "enter the password of alice"
    panel.server_url.value = " "
    panel.login_button.click()
    assert panel.error.startswith("enter the server URL")


def test_token_login(server, panel):
    token = server.issue_token("carol")
    client = panel.login(token=token)
    assert panel.method.value == "token"
    assert panel.password.layout.display == "none" and panel.token.layout.display is None
    assert client.Token.subject == "carol" and client.Token.encoded != token  # exchanged for a new one
    assert "logged in as carol" in panel.status.value


def test_expired_token(server, panel):
    expired_at = time.time() - 3600
    panel.method.value = "token"
    panel.token.value = server.issue_token("alice", expiration=expired_at)
    panel.login_button.click()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expired_at))
    assert panel.error == f"the token expired at {when}: log in with your password again"
    assert panel.client is None


def test_garbage_token(panel):
    with pytest.raises(LoginError, match="not a JWT"):
        panel.login(token="not-a-token")
    assert panel.error == "the token is not a JWT: paste the whole encoded token"


def test_token_for_another_user_is_refused(server, panel):
    panel.username.value = "bob"
    panel.token.value = server.issue_token("alice")
    panel.method.value = "token"
    panel.login_button.click()
    assert panel.error.startswith(f"the token was refused for bob at {server.auth_url}")
    assert panel.client is None
