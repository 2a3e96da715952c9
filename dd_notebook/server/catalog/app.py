"""The catalog's web app: MetaCat's data API (metacat-and-auth §2) as a Starlette application.

The DD server mounts it at ``/metacat/app`` (and serves ``/metacat/app/auth/...``
itself), so routes are relative: ``data/query``, ``data/file``, ...

* Every request opens its own SQLite connection in a worker thread, so long
  queries never block the event loop.
* Public endpoints never look at the token (§1.10); writes call ``authenticate``.
* File queries and ``dataset_files`` stream ``application/json-seq``; other
  answers are ``application/json`` or ``text/plain``. Bad input is a 4xx with a
  plain-text message naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from ..core.http import SERVER_VERSION
from . import datasets as dataset_ops
from . import files as file_ops
from . import namespaces as namespace_ops
from .app_query import QueryEndpoint
from .app_write import WriteEndpoints
from .errors import CatalogInvalidInput
from .loads import recover_loads
from .mql import nodes, parse
from .querying import query_json_seq
from .schema import connect
from .validation import check_name, parse_did
from .web import (
    JSON_SEQ,
    closing_stream,
    endpoint,
    flag,
    json_response,
    message_response,
    name_param,
    open_db,
    read_json,
    run,
)

__all__ = ["create_catalog_app"]

_METHODS = ["GET", "POST"]


class ReadEndpoints:
    """Public endpoints: version, files, datasets, namespaces.

    Args:
        db_path: Catalog database file.
    """

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path

    async def version(self, request: Request) -> Response:
        """``data/version``: the server version as text."""
        return message_response(SERVER_VERSION)

    async def file(self, request: Request) -> Response:
        """``data/file?fid=|did=|namespace=&name=`` or ``data/file/<fid|ns:name>``."""
        spec = request.path_params.get("spec")
        fid, namespace, name = None, None, None
        if spec:
            if ":" in spec:
                namespace, name = parse_did(spec)
            else:
                fid = check_name(spec, "fid")
        elif request.query_params.get("fid"):
            fid = name_param(request, "fid")
        elif request.query_params.get("did"):
            namespace, name = parse_did(request.query_params["did"])
        else:
            namespace = name_param(request, "namespace")
            name = name_param(request, "name")
            if namespace is None or name is None:
                raise CatalogInvalidInput("give fid, did, or namespace and name")
        options = {"with_metadata": flag(request, "with_metadata", True),
                   "with_provenance": flag(request, "with_provenance", True),
                   "with_datasets": flag(request, "with_datasets", False)}
        return json_response(await run(self.db_path, lambda conn: file_ops.get_file(
            conn, fid=fid, namespace=namespace, name=name, **options)))

    async def files(self, request: Request) -> Response:
        """``POST data/files`` with a JSON list of ``{fid}``, ``{did}`` or ``{namespace, name}``."""
        specs = await read_json(request)
        options = {"with_metadata": flag(request, "with_metadata"), "with_provenance": flag(request, "with_provenance")}
        return json_response(await run(self.db_path, lambda conn: file_ops.get_files(conn, specs, **options)))

    async def datasets(self, request: Request) -> Response:
        """``data/datasets[?namespace=NS]``: every dataset, with exact file counts."""
        namespace = name_param(request, "namespace")
        return json_response(await run(self.db_path, lambda conn: dataset_ops.list_datasets(conn, namespace)))

    def _dataset_did(self, request: Request) -> tuple[str, str]:
        spec = request.path_params.get("spec") or request.query_params.get("dataset")
        if not spec:
            raise CatalogInvalidInput("parameter dataset (namespace:name) is required")
        return parse_did(spec, what="dataset")

    async def dataset(self, request: Request) -> Response:
        """``data/dataset?dataset=ns:name`` or ``data/dataset/ns:name``."""
        namespace, name = self._dataset_did(request)
        return json_response(await run(self.db_path, lambda conn: dataset_ops.get_dataset(conn, namespace, name)))

    async def dataset_count(self, request: Request) -> Response:
        """``data/dataset_count?dataset=ns:name``: ``{"file_count": n}``."""
        namespace, name = self._dataset_did(request)
        found = await run(self.db_path, lambda conn: dataset_ops.get_dataset(conn, namespace, name))
        return json_response({"file_count": found["file_count"]})

    async def dataset_counts(self, request: Request) -> Response:
        """``data/dataset_counts?dataset=ns:name``."""
        namespace, name = self._dataset_did(request)
        return json_response(await run(self.db_path, lambda conn: dataset_ops.dataset_counts(conn, namespace, name)))

    async def dataset_files(self, request: Request) -> Response:
        """``data/dataset_files?dataset=ns:name&with_metadata=&include_retired_files=``: json-seq of files."""
        namespace, name = self._dataset_did(request)
        with_metadata = flag(request, "with_metadata")
        include_retired = flag(request, "include_retired_files")
        tree = nodes.DatasetFiles((nodes.DatasetSelector(namespace, name),))

        def start() -> Any:
            conn = open_db(self.db_path)
            try:
                rest = query_json_seq(conn, tree, with_metadata=with_metadata, include_retired=include_retired)
                return conn, next(rest, None), rest
            except BaseException:
                conn.close()
                raise

        conn, first, rest = await run_in_threadpool(start)
        return StreamingResponse(closing_stream(conn, first, rest), media_type=JSON_SEQ)

    async def namespaces(self, request: Request) -> Response:
        """``GET data/namespaces[?owner_user=&owner_role=]`` or ``POST`` with a JSON list of names."""
        names = None
        if request.method == "POST" and request.headers.get("content-length", "0") != "0":
            names = await read_json(request)
            if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
                raise CatalogInvalidInput("request body must be a JSON array of namespace names")
        owner_user = request.query_params.get("owner_user") or None
        owner_role = request.query_params.get("owner_role") or None
        return json_response(await run(self.db_path, lambda conn: namespace_ops.list_namespaces(
            conn, owner_user=owner_user, owner_role=owner_role, names=names)))

    async def namespace(self, request: Request) -> Response:
        """``data/namespace?name=NS`` or ``data/namespace/NS``."""
        name = check_name(request.path_params.get("name") or name_param(request, "name", "namespace", required=True),
                          "namespace")
        return json_response(await run(self.db_path, lambda conn: namespace_ops.get_namespace(conn, name)))

    async def namespace_counts(self, request: Request) -> Response:
        """``data/namespace_counts?name=NS``: ``{nfiles, ndatasets, nqueries}``."""
        name = name_param(request, "name", "namespace", required=True)
        return json_response(await run(self.db_path, lambda conn: namespace_ops.namespace_counts(conn, name)))


def create_catalog_app(db_path: str, authenticate: Callable[[Request], Any]) -> ASGIApp:
    """Build the catalog's ASGI app (to be mounted at ``/metacat/app``).

    Loads a crash cut short are removed here (:func:`.loads.recover_loads`).

    Args:
        db_path: SQLite file shared with the DD server; catalog tables are created if missing.
        authenticate: Returns the user of a request (``.username``, ``.is_admin``, ``.roles``) or raises
            ``dd_notebook.server.errors.HTTPError``; called only by endpoints that change the catalog.

    Returns:
        A Starlette application serving ``data/<op>`` paths.
    """
    conn = connect(db_path)
    try:
        recover_loads(conn)
    finally:
        conn.close()
    parse("files")  # build the LALR tables now rather than during the first query
    reads = ReadEndpoints(db_path)
    writes = WriteEndpoints(db_path, authenticate)
    query = QueryEndpoint(db_path, authenticate)
    table: list[tuple[str, Callable[[Request], Any]]] = [
        ("/data/version", reads.version),
        ("/data/query", query.__call__),
        ("/data/file", reads.file),
        ("/data/file/{spec:path}", reads.file),
        ("/data/files", reads.files),
        ("/data/datasets", reads.datasets),
        ("/data/dataset", reads.dataset),
        ("/data/dataset/{spec:path}", reads.dataset),
        ("/data/dataset_count", reads.dataset_count),
        ("/data/dataset_counts", reads.dataset_counts),
        ("/data/dataset_files", reads.dataset_files),
        ("/data/namespaces", reads.namespaces),
        ("/data/namespace", reads.namespace),
        ("/data/namespace/{name:path}", reads.namespace),
        ("/data/namespace_counts", reads.namespace_counts),
        ("/data/create_namespace", writes.create_namespace),
        ("/data/create_dataset", writes.create_dataset),
        ("/data/add_child_dataset", writes.add_child_dataset),
        ("/data/declare_files", writes.declare_files),
        ("/data/add_files", writes.add_files),
    ]
    routes = [Route(path, endpoint(handler), methods=_METHODS) for path, handler in table]
    return Starlette(routes=routes)
