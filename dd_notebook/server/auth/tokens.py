"""Issue and verify the HS256 JWTs shared by the auth server, DD server and catalog.

The signing key is the raw SHA-256 digest of the server secret, as upstream
MetaCat does, so tokens look exactly like production ones.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
import uuid
from typing import Any

import jwt

from ..core.transactions import transaction

DEFAULT_LIFETIME = 7 * 24 * 3600.0
_CACHE_SIZE = 4096


class TokenError(Exception):
    """A token failed verification; the message is the upstream 401 text."""


class TokenSigner:
    """Mint and check tokens with one secret.

    Args:
        secret: Server secret; its SHA-256 digest is the HS256 key.
        issuer: Optional ``iss`` claim.
    """

    def __init__(self, secret: str, issuer: str | None = None) -> None:
        self._key = hashlib.sha256(secret.encode()).digest()
        self.nonce_key = hashlib.sha256(b"digest-nonce:" + secret.encode()).digest()
        self._issuer = issuer
        self._verified: dict[str, dict[str, Any]] = {}

    def issue(self, username: str, expiration: float | None = None) -> str:
        """Return a new token for ``username``.

        Args:
            username: The ``sub`` claim.
            expiration: Absolute ``exp`` (epoch seconds); default now + 7 days.
        """
        now = time.time()
        claims: dict[str, Any] = {
            "sub": username,
            "iat": now,
            "nbf": now,
            "exp": expiration if expiration is not None else now + DEFAULT_LIFETIME,
            "jti": uuid.uuid4().hex[-8:],
        }
        if self._issuer:
            claims["iss"] = self._issuer
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid token.

        The signature check of a token is remembered (it cannot change), but the
        time claims are checked again on every call.

        Raises:
            TokenError: with ``Token expired``, ``Token immature``,
                ``Invalid token algorithm``, ``Token verification failed`` or the
                decoder's message (e.g. ``Not enough segments``).
        """
        claims = self._verified.get(token)
        if claims is not None:
            now = time.time()
            if now >= claims["exp"]:
                raise TokenError("Token expired")
            if now < claims.get("nbf", now):
                raise TokenError("Token immature")
            return claims
        claims = self._decode(token)
        if len(self._verified) >= _CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise TokenError(str(exc)) from None
        if header.get("alg") != "HS256":
            raise TokenError("Invalid token algorithm")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                options={"require": ["sub", "exp"], "verify_aud": False, "verify_iss": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("Token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("Token immature") from None
        except jwt.InvalidSignatureError:
            raise TokenError("Token verification failed") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(str(exc) or "Token verification failed") from None
        if not isinstance(claims.get("sub"), str):
            raise TokenError("Token has no subject")
        return claims


def get_secret(conn: sqlite3.Connection) -> str:
    """Return the token-signing secret of this database, creating it on first use.

    The secret lives in the database so that a restarted server keeps accepting
    the tokens it issued before.
    """
    row = conn.execute("SELECT value FROM settings WHERE key = 'token_secret'").fetchone()
    if row:
        return row[0]
    secret = secrets.token_urlsafe(48)
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO settings(key, value) VALUES ('token_secret', ?)", (secret,))
    return conn.execute("SELECT value FROM settings WHERE key = 'token_secret'").fetchone()[0]
