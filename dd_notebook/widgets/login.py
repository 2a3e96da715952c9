"""``LoginPanel``: log in to a Data Dispatcher server with a password or a token."""

from __future__ import annotations

import os
import time
from typing import Any

import ipywidgets as widgets

from ..client import DataDispatcherClient
from ..client.auth import UserAndExpiration
from ..client.errors import AuthenticationError, AuthExpiredError, NetworkError, RequestTimeoutError
from ..client.tokens import Token
from ._base import Panel, action, panel_style

__all__ = ["LoginError", "LoginPanel"]

METHODS = (("password", "password"), ("token", "token"))


class LoginError(ValueError):
    """A login failed; the message says why and what to do."""


def _utc(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


class LoginPanel(Panel):
    """Server and auth URLs, password or token login, and a status line with the user and token expiry.

    Parameters
    ----------
    client
        A client to log in with; its URLs prefill the fields. When it already
        holds a valid token, the panel says who is logged in and
        :attr:`client` is that client. Default: a new client for env
        ``DATA_DISPATCHER_URL`` / ``DATA_DISPATCHER_AUTH_URL``.
    token_library
        Token library file for clients the panel builds (default: the
        upstream locations, shared with ``ddisp login``).

    Attributes
    ----------
    server_url, auth_url, method, username, password, token, login_button
        The widgets.
    """

    def __init__(self, client: DataDispatcherClient | None = None, *, token_library: str | None = None) -> None:
        super().__init__()
        self._client: DataDispatcherClient | None = None
        self._given = client
        self._token_library = token_library
        server = client.ServerURL if client is not None else os.environ.get("DATA_DISPATCHER_URL", "")
        auth = client.AuthURL if client is not None else os.environ.get("DATA_DISPATCHER_AUTH_URL", "")
        self.server_url = widgets.Text(value=server, description="Server URL", placeholder="http://host:port/dd/data",
                                       layout=widgets.Layout(width="480px"))
        self.auth_url = widgets.Text(value=auth, description="Auth URL", placeholder="default: <server URL>/auth",
                                     layout=widgets.Layout(width="480px"))
        self.method = widgets.ToggleButtons(options=METHODS, value="password", style={"button_width": "102px"})
        method_label = widgets.HTML("<div style='text-align:right'>Method</div>",
                                    layout=widgets.Layout(width="var(--jp-widgets-inline-label-width, 80px)",
                                                          margin="0 8px 0 0", flex="0 0 auto"))
        self.username = widgets.Text(description="User", placeholder="user name")
        self.password = widgets.Password(description="Password")
        self.token = widgets.Textarea(description="Token", placeholder="encoded JWT (empty: BEARER_TOKEN ...)",
                                      layout=widgets.Layout(width="480px", display="none"))
        self.login_button = widgets.Button(description="Log in", button_style="primary", icon="sign-in")
        for widget, css in ((self.server_url, "dd-server-url"), (self.auth_url, "dd-auth-url"),
                            (self.method, "dd-login-method"), (self.username, "dd-username"),
                            (self.password, "dd-password"), (self.token, "dd-token"),
                            (self.login_button, "dd-login-button")):
            widget.add_class(css)
        self.method.observe(self._method_changed, names="value")
        self.login_button.on_click(self.clicked(self.login))
        self.widget = widgets.VBox([panel_style(), widgets.HTML("<div class='dd-title'>Data Dispatcher login</div>"),
                                    self.server_url, self.auth_url, widgets.HBox([method_label, self.method]),
                                    self.username, self.password,
                                    self.token, self.login_button, self.status])
        self.widget.add_class("dd-panel")
        self.widget.add_class("dd-login")
        if client is not None:
            self._show_given_login(client)

    @property
    def client(self) -> DataDispatcherClient | None:
        """The logged-in client, or None before a successful login."""
        return self._client

    def _show_given_login(self, client: DataDispatcherClient) -> None:
        """Say who ``client`` is logged in as (no request is made); it becomes :attr:`client` if its token is valid."""
        token = client.Token
        if token is None or not token.subject:
            return
        user = token.subject
        self.username.value = user
        if token.expired():
            self.show_info(f"the token of {user} expired at {_utc(token.expiration)}: log in again")
            return
        self._client = client
        self.show_info(f"logged in as {user}, token expires {_utc(token.expiration)}")

    def _method_changed(self, change: dict[str, Any]) -> None:
        token = change["new"] == "token"
        self.password.layout.display = "none" if token else None
        self.token.layout.display = None if token else "none"

    def _target(self) -> DataDispatcherClient:
        server = self.server_url.value.strip()
        auth = self.auth_url.value.strip() or None
        if not server:
            raise LoginError("enter the server URL (DATA_DISPATCHER_URL), e.g. http://127.0.0.1:8080/dd/data")
        given = self._given
        if given is not None and given.ServerURL == server and (auth is None or given.AuthURL == auth.rstrip("/")):
            return given
        return DataDispatcherClient(server, auth, token_library=self._token_library)

    @action
    def login(self, username: str | None = None, password: str | None = None,
              token: str | None = None) -> DataDispatcherClient:
        """Log in and return the logged-in client (also :attr:`client`).

        Arguments left as None are taken from the fields; a given argument also
        fills its field. A ``token`` selects the token method.

        Raises
        ------
        LoginError
            Missing input, wrong user name or password, an expired or refused
            token, or an unreachable server; the message says what to do.
        """
        if username is not None:
            self.username.value = username
        if password is not None:
            self.password.value = password
            self.method.value = "password"
        if token is not None:
            self.token.value = token
            self.method.value = "token"
        client = self._target()
        try:
            if self.method.value == "token":
                user, expiration = self._login_token(client)
            else:
                user, expiration = self._login_password(client)
        except (NetworkError, RequestTimeoutError):
            raise LoginError(f"cannot reach {client.AuthURL}: is the server running? check the URL") from None
        self._client = client
        self.show_info(f"logged in as {user}, token expires {_utc(expiration)}")
        return client

    def _login_password(self, client: DataDispatcherClient) -> UserAndExpiration:
        user = self.username.value.strip()
        if not user:
            raise LoginError("enter a user name")
        if not self.password.value:
            raise LoginError(f"enter the password of {user}")
        try:
            return client.login_password(user, self.password.value)
        except AuthenticationError:
            raise LoginError(f"wrong user name or password for {user} at {client.AuthURL}: "
                             "check them and log in again") from None

    def _login_token(self, client: DataDispatcherClient) -> UserAndExpiration:
        text = self.token.value.strip()
        parsed: Token | None = None
        if text:
            try:
                parsed = Token.decode(text)
            except ValueError:
                raise LoginError("the token is not a JWT: paste the whole encoded token") from None
            if parsed.expired():
                raise LoginError(f"the token expired at {_utc(parsed.expiration)}: "
                                 "log in with your password again")
        user = self.username.value.strip() or (parsed.subject if parsed is not None else "") or ""
        if not user:
            raise LoginError("enter the user name the token belongs to")
        try:
            return client.login_token(user, text or None)
        except AuthExpiredError as exc:
            raise LoginError(f"the token expired at {_utc(exc.expiration)}: log in with your password again") from None
        except AuthenticationError as exc:
            raise LoginError(f"the token was refused for {user} at {client.AuthURL} ({exc.message.strip()}): "
                             "get a new token or log in with your password") from None
