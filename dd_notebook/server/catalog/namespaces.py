"""Namespaces: create, read, list, and the ownership check used by every write."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from ..core.transactions import transaction
from .clock import now
from .errors import CatalogExists, CatalogNotFound, CatalogPermissionDenied
from .records import named_rows, namespace_columns, namespace_dict
from .validation import check_name

__all__ = ["create_namespace", "get_namespace", "list_namespaces", "namespace_counts", "require_owner"]


def create_namespace(conn: sqlite3.Connection, name: str, *, owner_user: str | None = None,
                     owner_role: str | None = None, description: str | None = None,
                     creator: str | None = None) -> dict[str, Any]:
    """Create a namespace; without ``owner_role`` it is owned by ``owner_user`` (default: ``creator``).

    Raises:
        CatalogInvalidInput: invalid name.
        CatalogExists: the namespace exists.
    """
    check_name(name, "namespace")
    if owner_role is None and owner_user is None:
        owner_user = creator
    with transaction(conn):
        if conn.execute("SELECT 1 FROM mc_namespaces WHERE name = ?", (name,)).fetchone():
            raise CatalogExists(f"namespace {name} already exists")
        conn.execute("INSERT INTO mc_namespaces(name, owner_user, owner_role, creator, description, "
                     "created_timestamp) VALUES (?, ?, ?, ?, ?, ?)",
                     (name, owner_user, owner_role, creator, description, now()))
    return get_namespace(conn, name)


def get_namespace(conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    """Return one namespace.

    Raises:
        CatalogNotFound: no such namespace.
    """
    row = next(named_rows(conn.execute(f"SELECT {namespace_columns()} FROM mc_namespaces n WHERE n.name = ?",
                                       (name,))), None)
    if row is None:
        raise CatalogNotFound(f"namespace {name} not found")
    return namespace_dict(row)


def list_namespaces(conn: sqlite3.Connection, *, owner_user: str | None = None, owner_role: str | None = None,
                    names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Return namespaces sorted by name, optionally only those owned by a user or role, or named."""
    sql = f"SELECT {namespace_columns()} FROM mc_namespaces n WHERE 1"
    args: list[Any] = []
    if owner_user is not None:
        sql += " AND n.owner_user = ?"
        args.append(owner_user)
    elif owner_role is not None:
        sql += " AND n.owner_role = ?"
        args.append(owner_role)
    rows = [namespace_dict(row) for row in named_rows(conn.execute(sql + " ORDER BY n.name", args))]
    if names is not None:
        wanted = set(names)
        rows = [row for row in rows if row["name"] in wanted]
    return rows


def namespace_counts(conn: sqlite3.Connection, name: str) -> dict[str, int]:
    """Return ``{nfiles, ndatasets, nqueries}`` of a namespace (named queries are not supported: 0)."""
    get_namespace(conn, name)
    nfiles = conn.execute("SELECT count(*) FROM mc_files WHERE namespace = ?", (name,)).fetchone()[0]
    ndatasets = conn.execute("SELECT count(*) FROM mc_datasets WHERE namespace = ?", (name,)).fetchone()[0]
    return {"nfiles": nfiles, "ndatasets": ndatasets, "nqueries": 0}


def require_owner(conn: sqlite3.Connection, namespace: str, user: Any, *, admins: bool = True) -> None:
    """Check that ``user`` (``.username``, ``.is_admin``, ``.roles``) may write into ``namespace``.

    Args:
        conn: Catalog connection.
        namespace: The namespace written into.
        user: The authenticated user.
        admins: Whether an admin may write without owning it (not for ``query?save_as/add_to``,
            which the spec reserves to owners).

    Raises:
        CatalogNotFound: no such namespace.
        CatalogPermissionDenied: the user neither owns it, nor is in its owner role, nor (when
            ``admins``) is an admin.
    """
    row = conn.execute("SELECT owner_user, owner_role FROM mc_namespaces WHERE name = ?", (namespace,)).fetchone()
    if row is None:
        raise CatalogNotFound(f"namespace {namespace} not found")
    if admins and getattr(user, "is_admin", False):
        return
    owner_user, owner_role = row
    if owner_user is not None and owner_user == getattr(user, "username", None):
        return
    if owner_role is not None and owner_role in set(getattr(user, "roles", ()) or ()):
        return
    raise CatalogPermissionDenied(f"user {getattr(user, 'username', '?')} does not own namespace {namespace}")
