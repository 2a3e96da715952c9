"""Login flows and ``auth_info`` (metacat-and-auth §1).

Every successful login stores the new token in the token library under the
*data-server* URL, exactly like upstream, so a login made with ``ddisp login``
is used by this client and the other way round. Unlike upstream, TLS
certificates are verified (use ``client.session.verify`` to point at a CA
bundle) and logins go through the client's keep-alive session.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import quote

import requests
from requests.auth import HTTPDigestAuth

from .base import ClientBase
from .errors import AuthenticationError, AuthExpiredError, auth_message
from .http import DEFAULT_LOGIN_ADVICE
from .tokens import Token

__all__ = ["AuthMixin", "find_bearer_token"]

log = logging.getLogger(__name__)

#: What the login methods and ``auth_info`` return: ``(username, expiration in epoch seconds)`` read
#: from the token; either is ``None`` when the token lacks its ``sub`` or ``exp`` claim.
UserAndExpiration = tuple[str | None, float | None]


def find_bearer_token() -> str | None:
    """Find a WLCG bearer token the way the upstream CLIs do.

    Order: env ``BEARER_TOKEN``, the file named by ``BEARER_TOKEN_FILE``, then
    ``${XDG_RUNTIME_DIR:-/tmp}/bt_u${ID:-<uid>}``.

    Returns:
        The token text, or ``None`` when none is found.
    """
    value = os.environ.get("BEARER_TOKEN", "").strip()
    if value:
        return value
    candidates = []
    if os.environ.get("BEARER_TOKEN_FILE"):
        candidates.append(os.environ["BEARER_TOKEN_FILE"])
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    candidates.append(os.path.join(runtime_dir, f"bt_u{os.environ.get('ID') or os.geteuid()}"))
    for path in candidates:
        try:
            with open(path, encoding="utf-8") as f:
                value = f.read().strip()
        except OSError:
            continue
        if value:
            return value
    return None


class AuthMixin(ClientBase):
    """Login methods (``login_*``) and ``auth_info`` of the seed API."""

    def _auth_url(self, **params: str) -> str:
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        return f"{self.AuthURL}/auth?{query}"

    def _login_request(self, method: str, url: str, **args: Any) -> requests.Response:
        """Send a login request (logins change nothing on the server, so they are retried as reads)."""
        return self._http.request(method, url, is_read=True, **args)

    def _accept_login(self, response: requests.Response, username: str) -> UserAndExpiration:
        where = f"login of user {username!r} at {self.AuthURL} (for {self.ServerURL})"
        if response.status_code != 200:
            text = response.text.strip() or f"HTTP status {response.status_code}"
            raise AuthenticationError(response.url, response.status_code, f"{where} refused: {text}", response.text)
        encoded = response.headers.get("X-Authentication-Token")
        if not encoded:
            raise AuthenticationError(response.url, response.status_code, f"{where}: the server returned no token")
        try:
            token = Token.decode(encoded)
        except ValueError as exc:
            raise AuthenticationError(response.url, response.status_code,
                                      f"{where}: the server returned an unreadable token ({exc})") from None
        self._http.token = token
        try:
            self.TokenLib.store(self.ServerURL, token)
        except OSError as exc:
            log.warning("logged in, but the token could not be saved in the token library: %s", exc)
        return token.subject, token.expiration

    def login_digest(self, username: str, password: str, save_token: bool = False) -> UserAndExpiration:
        """Performs password-based authentication and stores the authentication token locally.

        The password is not sent over the network: RFC 2617 digest
        authentication is used. As upstream, the token is always saved in the
        token library; ``save_token`` is accepted for compatibility.

        Args:
            username: User name.
            password: Password.
            save_token: Ignored (the token is always saved).

        Returns:
            ``(username, token expiration timestamp)``.

        Raises:
            AuthenticationError: the server refused the login.
        """
        response = self._login_request("GET", self._auth_url(method="digest"), auth=HTTPDigestAuth(username, password))
        return self._accept_login(response, username)

    def login_ldap(self, username: str, password: str) -> UserAndExpiration:
        """Performs password-based authentication using LDAP and stores the token locally.

        The body ``username:password`` is sent in clear text (use HTTPS).

        Returns:
            ``(username, token expiration timestamp)``.

        Raises:
            AuthenticationError: the server refused the login (e.g. LDAP not configured).
        """
        body = f"{username}:{password}".encode()
        response = self._login_request("POST", self._auth_url(method="ldap"), body=body)
        return self._accept_login(response, username)

    def login_password(self, username: str, password: str) -> UserAndExpiration:
        """Combines LDAP and RFC 2617 digest authentication: LDAP first, digest if LDAP fails.

        Returns:
            ``(username, token expiration timestamp)``.

        Raises:
            AuthenticationError: both methods failed (the digest error is raised).
        """
        try:
            return self.login_ldap(username, password)
        except AuthenticationError as exc:
            log.debug("LDAP login failed (%s); trying digest", exc)
            return self.login_digest(username, password)

    def login_token(self, username: str, encoded_token: str | bytes | None) -> UserAndExpiration:
        """Authenticate using a JWT or a SciToken.

        When ``encoded_token`` is empty or ``None`` the token is taken from env
        ``BEARER_TOKEN``, the file named by ``BEARER_TOKEN_FILE`` or
        ``$XDG_RUNTIME_DIR/bt_u<uid>``.

        Args:
            username: User name.
            encoded_token: The bearer token (str or bytes), or ``None``.

        Returns:
            ``(username, authentication expiration timestamp)``.

        Raises:
            AuthenticationError: no token was found or the server refused it.
        """
        if isinstance(encoded_token, bytes):
            encoded_token = encoded_token.decode("utf-8")
        bearer = (encoded_token or "").strip() or find_bearer_token()
        if not bearer:
            raise AuthenticationError(
                None, None, f"login of user {username!r} at {self.AuthURL}: no token given and none found in "
                "BEARER_TOKEN, BEARER_TOKEN_FILE or XDG_RUNTIME_DIR"
            )
        response = self._login_request("POST", self._auth_url(method="token", username=username),
                                       headers={"Authorization": "bearer " + bearer})
        return self._accept_login(response, username)

    def login_x509(self, username: str, cert: str, key: str | None = None) -> UserAndExpiration:
        """Performs X.509 authentication and stores the authentication token locally.

        Args:
            username: User name.
            cert: Path to the certificate file (or certificate and private key, e.g. a proxy).
            key: Path to the private key file; default: ``cert``.

        Returns:
            ``(username, token expiration timestamp)``.

        Raises:
            AuthenticationError: the server refused the certificate.
        """
        response = self._login_request("GET", self._auth_url(method="x509", username=username),
                                       cert=(cert, key or cert))
        return self._accept_login(response, username)

    def my_x509_dn(self, cert: str, key: str | None = None) -> dict[str, str]:
        """Return the certificate's subject and issuer DNs as the auth server sees them (``GET mydn``).

        Args:
            cert: Path to the certificate file (or certificate and key, e.g. a proxy).
            key: Path to the private key file; default: ``cert``.

        Returns:
            ``{"subject": <DN>, "issuer": <DN>}``.

        Raises:
            AuthenticationError: the server refused (e.g. not HTTPS).
        """
        response = self._login_request("GET", f"{self.AuthURL}/mydn", cert=(cert, key or cert))
        if response.status_code != 200:
            text = response.text.strip() or f"HTTP status {response.status_code}"
            raise AuthenticationError(response.url, response.status_code,
                                      f"{self.AuthURL} did not read the certificate {cert}: {text}", response.text)
        answer = self._http.decode(response, "mydn")
        if not isinstance(answer, dict):
            raise AuthenticationError(response.url, 200, f"{self.AuthURL}/mydn answered {answer!r}")
        return answer

    def auth_info(self) -> UserAndExpiration:
        """Returns information about the current authentication token, checked by the auth server.

        Returns:
            ``(username, token expiration timestamp)`` read from the local token.

        Raises:
            AuthenticationError: no token, or the server rejects it.
            AuthExpiredError: the token has expired.
        """
        token = self._http.token or self.TokenLib.get(self.ServerURL)
        url = f"{self.AuthURL}/verify"
        if token is None:
            library = self.TokenLib.path or "none yet"
            raise AuthenticationError(url, None, f"No token found: no user is logged in to {self.ServerURL} "
                                                 f"(token library: {library}); log in with {DEFAULT_LOGIN_ADVICE}")
        response = self._login_request("GET", url, headers={"X-Authentication-Token": token.encoded})
        if response.status_code == 200:
            return token.subject, token.expiration
        text = response.text.strip()
        expired = token.expired() or "token expired" in text.lower()
        message = auth_message(text, token.subject, self.ServerURL, DEFAULT_LOGIN_ADVICE, token.expiration, expired)
        if expired:
            raise AuthExpiredError(url, response.status_code, token.expiration, response.text, message=message)
        raise AuthenticationError(url, response.status_code, message, response.text)
