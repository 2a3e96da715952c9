"""Write endpoints of the catalog app: what loading a catalog needs (metacat-and-auth §2.6).

Each call authenticates first (401 from the server's authenticator), then
checks that the user owns the namespace it changes (or is an admin) → 403.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..core.transactions import transaction
from . import datasets, files, namespaces
from .errors import CatalogInvalidInput, CatalogPermissionDenied
from .querying import add_query_results, compile_mql
from .validation import check_name, parse_did
from .web import did_param, flag, json_response, message_response, name_param, read_json, run

__all__ = ["WriteEndpoints"]

#: File fields the server sets itself (the authenticated user is the creator, now is the creation time)
#: or that MetaCat's API does not carry (replicas come from the DD side).
_SERVER_SET = frozenset({"creator", "created_timestamp", "replicas"})


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise CatalogInvalidInput(f"{key} must be a string")
    return value


class WriteEndpoints:
    """Handlers of ``create_namespace``, ``create_dataset``, ``add_child_dataset``, ``declare_files``, ``add_files``.

    Args:
        db_path: Catalog database file.
        authenticate: Returns the user (``.username``, ``.is_admin``, ``.roles``) or raises ``HTTPError``.
    """

    def __init__(self, db_path: str, authenticate: Callable[[Request], Any]) -> None:
        self.db_path = db_path
        self.authenticate = authenticate

    async def create_namespace(self, request: Request) -> Response:
        """``GET data/create_namespace?name=&owner_role=&description=``."""
        user = self.authenticate(request)
        name = name_param(request, "name", "namespace", required=True)
        owner_role = request.query_params.get("owner_role") or None
        description = request.query_params.get("description")
        if owner_role is not None and not user.is_admin and owner_role not in set(user.roles or ()):
            raise CatalogPermissionDenied(f"user {user.username} is not a member of role {owner_role}")
        result = await run(self.db_path, lambda conn: namespaces.create_namespace(
            conn, name, owner_user=None if owner_role else user.username, owner_role=owner_role,
            description=description, creator=user.username))
        return json_response(result)

    async def create_dataset(self, request: Request) -> Response:
        """``POST data/create_dataset`` with ``{namespace, name, frozen, monotonic, metadata, ...}``."""
        user = self.authenticate(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise CatalogInvalidInput("request body must be a JSON object")
        namespace = check_name(body.get("namespace"), "namespace")
        name = check_name(body.get("name"), "dataset name")
        requirements = body.get("file_meta_requirements") or body.get("metadata_requirements")
        files_query = _text(body, "files_query")
        description = _text(body, "description")

        def work(conn: sqlite3.Connection) -> dict[str, Any]:
            namespaces.require_owner(conn, namespace, user)
            compiled = compile_mql(conn, files_query) if files_query else None
            with transaction(conn):  # the dataset and its files, or nothing
                datasets.create_dataset(conn, namespace, name, creator=user.username,
                                        frozen=body.get("frozen", False), monotonic=body.get("monotonic", False),
                                        metadata=body.get("metadata"), file_meta_requirements=requirements,
                                        description=description)
                if compiled is not None:
                    add_query_results(conn, compiled, datasets.dataset_id(conn, namespace, name))
                return datasets.get_dataset(conn, namespace, name)

        return json_response(await run(self.db_path, work))

    async def add_child_dataset(self, request: Request) -> Response:
        """``GET data/add_child_dataset?parent=ns:name&child=ns:name``."""
        user = self.authenticate(request)
        parent = did_param(request, "parent")
        child = did_param(request, "child")
        assert parent is not None and child is not None

        def work(conn: sqlite3.Connection) -> None:
            namespaces.require_owner(conn, parent[0], user)
            datasets.add_child_dataset(conn, parent, child)

        await run(self.db_path, work)
        return message_response("OK")

    async def declare_files(self, request: Request) -> Response:
        """``POST data/declare_files?dataset=ns:name[&namespace=NS]`` with a JSON list of files."""
        user = self.authenticate(request)
        if flag(request, "dry_run"):
            raise CatalogInvalidInput("dry_run is not supported by this catalog")
        namespace = name_param(request, "namespace")
        dataset = did_param(request, "dataset", namespace, required=False)
        body = await read_json(request)
        if not isinstance(body, list):
            raise CatalogInvalidInput("request body must be a JSON array of files")
        body = [{k: v for k, v in item.items() if k not in _SERVER_SET} if isinstance(item, dict) else item
                for item in body]

        def work(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            given = [item.get("namespace") or namespace for item in body if isinstance(item, dict)]
            owned = {ns for ns in given if isinstance(ns, str)}
            owned |= {parse_did(item["did"], namespace)[0] for item in body
                      if isinstance(item, dict) and isinstance(item.get("did"), str)}
            if dataset is not None:
                owned.add(dataset[0])
            for ns in sorted(owned):
                namespaces.require_owner(conn, ns, user)
            return files.declare_files(conn, body, namespace=namespace, dataset=dataset, creator=user.username)

        return json_response(await run(self.db_path, work))

    async def add_files(self, request: Request) -> Response:
        """``POST data/add_files?dataset=ns:name`` with ``{namespace?, file_list}`` or ``{namespace?, query}``."""
        user = self.authenticate(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise CatalogInvalidInput("request body must be a JSON object with file_list or query")
        default_ns = body.get("namespace")
        if default_ns is not None:
            check_name(default_ns, "namespace")
        dataset = did_param(request, "dataset", default_ns)
        assert dataset is not None
        query = _text(body, "query")
        file_list = body.get("file_list")
        if (query is None) == (file_list is None):
            raise CatalogInvalidInput("give exactly one of file_list and query")
        if isinstance(file_list, list) and default_ns is not None:
            file_list = [{"namespace": default_ns, **item} if isinstance(item, dict) and "name" in item
                         and "namespace" not in item else item for item in file_list]

        def work(conn: sqlite3.Connection) -> int:
            namespaces.require_owner(conn, dataset[0], user)
            if query is not None:
                compiled = compile_mql(conn, query, namespace=default_ns)
                with transaction(conn):
                    return add_query_results(conn, compiled, datasets.dataset_id(conn, *dataset))
            return files.add_files(conn, dataset, file_list)

        return json_response({"files_added": await run(self.db_path, work)})
