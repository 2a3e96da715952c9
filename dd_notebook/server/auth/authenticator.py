"""Who sent a request: find its token, verify it, look up the user."""

from __future__ import annotations

from starlette.requests import Request

from ..core.errors import unauthorized
from .tokens import TokenError, TokenSigner
from .users import User, UserStore

__all__ = ["Authenticator"]


class Authenticator:
    """Find and verify the token of a request, then look up its user.

    Token sources, first hit wins: cookie ``auth_token``, header
    ``X-Authentication-Token``, header ``Authorization: Bearer <jwt>``.

    Args:
        signer: Verifies the tokens this server issued.
        users: The user table.
    """

    def __init__(self, signer: TokenSigner, users: UserStore) -> None:
        self.signer = signer
        self.users = users

    @staticmethod
    def find_token(request: Request) -> str | None:
        """Return the encoded token sent with ``request``, if any."""
        token = request.cookies.get("auth_token") or request.headers.get("x-authentication-token")
        if token:
            return token
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None

    def authenticate(self, request: Request) -> User:
        """Return the user of a valid token; raise a 401 :class:`HTTPError` otherwise."""
        token = self.find_token(request)
        if not token:
            raise unauthorized("Token not found")
        try:
            claims = self.signer.verify(token)
        except TokenError as exc:
            raise unauthorized(str(exc)) from None
        user = self.users.get(claims["sub"])
        if user is None:
            raise unauthorized(f"user {claims['sub']} not found")
        return user
