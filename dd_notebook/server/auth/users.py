"""Users and roles of the embedded server (one table shared by DD and the catalog).

Passwords are never stored: each user keeps only the RFC 2617 HA1 digest
(``md5(user:realm:password)``), which is what digest login needs; LDAP-style
password logins are checked against the same digest. The digest itself is
never accepted as a password: a copy of the database must not be a login.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from dataclasses import dataclass, field

from ..core.transactions import transaction

REALM = "metacat"


@dataclass(frozen=True)
class User:
    """An authenticated user as the endpoints see it."""

    username: str
    is_admin: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)


def digest_ha1(username: str, password: str, realm: str = REALM) -> str:
    """Return the hex MD5 of ``username:realm:password`` (RFC 2617 HA1)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


class UserStore:
    """Read and write users and role memberships.

    Args:
        conn: Connection from :func:`dd_notebook.server.db.connect`.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._cache: dict[str, User | None] = {}
        self._data_version = -1

    def add(self, username: str, password: str | None = None, *, admin: bool = False,
            roles: tuple[str, ...] = (), name: str | None = None, email: str | None = None) -> User:
        """Create or update a user, its password digest and role memberships."""
        if not username or ":" in username or any(ch.isspace() for ch in username):
            raise ValueError(f"invalid user name: {username!r}")
        ha1 = digest_ha1(username, password) if password is not None else None
        with transaction(self._conn) as c:
            c.execute(
                "INSERT INTO users(username, name, email, flags, digest_ha1) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(username) DO UPDATE SET flags = excluded.flags, "
                "digest_ha1 = COALESCE(excluded.digest_ha1, users.digest_ha1), "
                "name = COALESCE(excluded.name, users.name), email = COALESCE(excluded.email, users.email)",
                (username, name, email, "a" if admin else "", ha1),
            )
            for role in roles:
                c.execute("INSERT OR IGNORE INTO roles(name) VALUES (?)", (role,))
                c.execute("INSERT OR IGNORE INTO users_roles(username, role_name) VALUES (?, ?)", (username, role))
        self._cache.clear()
        user = self.get(username)
        assert user is not None
        return user

    def get(self, username: str) -> User | None:
        """Return the user or None when unknown.

        Users are cached until another connection (e.g. ``dd-notebook user add``)
        commits to the database, which SQLite reports through ``data_version``.
        """
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._cache.clear()
            self._data_version = version
        if username not in self._cache:
            self._cache[username] = self._load(username)
        return self._cache[username]

    def _load(self, username: str) -> User | None:
        row = self._conn.execute("SELECT flags FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            return None
        roles = frozenset(r for (r,) in self._conn.execute(
            "SELECT role_name FROM users_roles WHERE username = ?", (username,)))
        return User(username, "a" in (row[0] or ""), roles)

    def stored_ha1(self, username: str) -> str | None:
        """Return the stored digest of ``username`` (None when unknown or without password)."""
        row = self._conn.execute("SELECT digest_ha1 FROM users WHERE username = ?", (username,)).fetchone()
        return row[0] if row else None

    def check_password(self, username: str, password: str) -> bool:
        """True when the digest of ``password`` matches the user's stored digest.

        Only the password itself is accepted: sending the stored digest as the
        password ("pass-the-hash") fails like any wrong password.
        """
        stored = self.stored_ha1(username)
        if not stored:
            return False
        return hmac.compare_digest(stored.encode(), digest_ha1(username, password).encode())

    def existing_users(self, names: list[str]) -> set[str]:
        """Return which of ``names`` are known users."""
        return {n for n in names if self._conn.execute(
            "SELECT 1 FROM users WHERE username = ?", (n,)).fetchone()}

    def existing_roles(self, names: list[str]) -> set[str]:
        """Return which of ``names`` are known roles."""
        return {n for n in names if self._conn.execute(
            "SELECT 1 FROM roles WHERE name = ?", (n,)).fetchone()}

    def list(self) -> list[User]:
        """Return all users, sorted by name."""
        return [u for (name,) in self._conn.execute("SELECT username FROM users ORDER BY username")
                if (u := self.get(name)) is not None]
