"""The MetaCat-compatible authentication endpoints (metacat-and-auth §1.3–§1.8).

Mounted under ``/auth``, ``/dd/data/auth`` and ``/metacat/app/auth``. Methods:
RFC 2617 digest, ``ldap`` (checked against the local user table), and ``token``
(exchange of a token this server issued). X.509 needs HTTPS and is refused on
this plain-HTTP server. Passwords and tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import urlsplit

from starlette.responses import Response

from ..core.errors import HTTPError, bad_request, unauthorized
from ..core.http import PLAIN_TYPE, text_response
from ..core.service import Call, Endpoint
from .authenticator import Authenticator
from .nonces import NonceLedger, NonceRejected
from .tokens import TokenError
from .users import REALM

_DIGEST_PAIR = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


class AuthEndpoints:
    """Token issuing and checking.

    Args:
        auth: The shared authenticator (signer + users).
    """

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth
        self.signer = auth.signer
        self.users = auth.users
        self.nonces = NonceLedger(self.signer.nonce_key)

    def table(self) -> dict[str, Endpoint]:
        """Endpoint name → function."""
        return {"auth": self.authenticate, "verify": self.verify, "whoami": self.whoami,
                "mydn": self.mydn, "probe": self.probe}

    def authenticate(self, call: Call) -> Response:
        """``auth?method=digest|ldap|token|x509``: answer a new token in ``X-Authentication-Token``."""
        method = call.param("method", "password")
        if method == "digest":
            username = self._digest(call)
            expiration = None
        elif method == "ldap":
            username = self._password(call)
            expiration = None
        elif method == "token":
            username, expiration = self._token_exchange(call)
        elif method == "x509":
            raise unauthorized("HTTPS scheme required\n")
        else:
            raise unauthorized("Unknown authentication method\n")
        token = self.signer.issue(username, expiration)
        redirect = call.param("redirect")
        if redirect:
            _check_redirect(redirect, call.request.headers.get("host", ""))
            return Response(status_code=302, headers={"Location": redirect, "X-Authentication-Token": token})
        return Response(status_code=200, headers={"X-Authentication-Token": token})

    def _digest(self, call: Call) -> str:
        header = call.request.headers.get("authorization", "")
        if not header.lower().startswith("digest "):
            raise HTTPError(401, "Authorization required", {"WWW-Authenticate": self._challenge()})
        fields = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                  for m in _DIGEST_PAIR.finditer(header[7:])}
        required = ("username", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if any(not fields.get(k) for k in required):
            raise unauthorized("Authentication failed\n")
        try:
            self.nonces.check(fields["nonce"], fields["nc"])
        except NonceRejected as exc:  # upstream's text; a replayed or expired nonce gets a fresh challenge
            headers = {"WWW-Authenticate": self._challenge(stale=True)} if exc.stale else None
            raise HTTPError(401, "Authentication failed\n", headers) from None
        ha1 = self.users.stored_ha1(fields["username"])
        if not ha1:
            raise unauthorized("Authentication failed\n")
        ha2 = hashlib.md5(f"{call.request.method}:{fields['uri']}".encode()).hexdigest()
        expected = hashlib.md5(":".join((ha1, fields["nonce"], fields["nc"], fields["cnonce"], fields["qop"],
                                         ha2)).encode()).hexdigest()
        if not hmac.compare_digest(expected.encode(), fields["response"].lower().encode()):
            raise unauthorized("Authentication failed\n")
        try:
            self.nonces.consume(fields["nonce"], fields["nc"])
        except NonceRejected as exc:
            raise HTTPError(503, f"Authentication refused: {exc}\n") from None
        return fields["username"]

    def _challenge(self, stale: bool = False) -> str:
        return (f'Digest realm="{REALM}", nonce="{self.nonces.issue()}", algorithm=MD5, qop="auth"'
                + (", stale=TRUE" if stale else ""))

    def _password(self, call: Call) -> str:
        text = call.body.decode("utf-8", errors="replace")
        username = call.param("username")
        if username is None:
            username, _, password = text.partition(":")
        else:
            password = text
        if not username or not self.users.check_password(username, password):
            raise unauthorized("Authentication failed\n")
        return username

    def _token_exchange(self, call: Call) -> tuple[str, float]:
        username = call.param("username")
        request = call.request
        authorization = request.headers.get("authorization", "").split(None, 1)
        token = ((authorization[1].strip() if len(authorization) == 2 else None)
                 or request.cookies.get("auth_token") or request.headers.get("x-authentication-token"))
        if not token:
            raise unauthorized("Authentication failed. Token not found\n")
        if not username or self.users.get(username) is None:
            raise unauthorized("Authentication failed\n")
        try:
            claims = self.signer.verify(token)
        except TokenError:
            raise unauthorized("Authentication failed\n") from None
        if claims["sub"] != username:
            raise unauthorized("Authentication failed\n")
        return username, float(claims["exp"])

    def verify(self, call: Call) -> Response:
        """200 ``OK`` for a valid token, else 401 with the reason."""
        self.auth.authenticate(call.request)
        return text_response("OK", media_type=PLAIN_TYPE)

    def whoami(self, call: Call) -> Response:
        """The token's user name, or an empty body."""
        user = call.optional_user()
        return text_response(user.username if user else "", media_type=PLAIN_TYPE)

    def mydn(self, call: Call) -> Response:
        """Certificate DN: needs HTTPS, which this server does not serve."""
        return text_response("Use HTTPS connection\n", 400)

    def probe(self, call: Call) -> Response:
        """Health check."""
        return text_response("OK")


def _check_redirect(target: str, host: str) -> None:
    """400 unless ``target`` is a relative URL or a URL of this server (the token must not leave it)."""
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        raise bad_request("redirect may not contain control characters or backslashes")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
            raise bad_request(f"redirect must be a relative URL or a URL of this server ({host}), "
                              f"not {target[:100]!r}")
