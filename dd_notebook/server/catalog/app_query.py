"""The ``data/query`` endpoint: MQL in, ``application/json-seq`` file objects out (metacat-and-auth §2.7)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..core.transactions import transaction
from . import datasets
from .errors import CatalogExists, CatalogInvalidInput
from .namespaces import require_owner
from .querying import add_query_results, compile_mql, query_json_seq, query_summary
from .validation import parse_did
from .web import JSON_SEQ, closing_stream, flag, json_response, limit_work, name_param, open_db, read_text, run

__all__ = ["QueryEndpoint"]


class QueryEndpoint:
    """``GET|POST data/query``: the MQL text comes from the ``query`` parameter or the body.

    Each query runs under :func:`~.web.limit_work` (a 503 beyond its budget); ``save_as``
    and ``add_to`` write only into namespaces the user owns (admins included, as the spec says).

    Args:
        db_path: Catalog database file.
        authenticate: The server's authenticator, used only with ``save_as``/``add_to``.
    """

    def __init__(self, db_path: str, authenticate: Callable[[Request], Any]) -> None:
        self.db_path = db_path
        self.authenticate = authenticate

    async def __call__(self, request: Request) -> Response:
        params = request.query_params
        summary = params.get("summary")
        if summary is not None and summary not in ("count", "keys"):
            raise CatalogInvalidInput(f"summary must be count or keys, not {summary!r}")
        namespace = name_param(request, "namespace")
        text = params.get("query")
        if text is None:
            text = await read_text(request)
        if not text.strip():
            return json_response([])
        include_retired = flag(request, "include_retired_files")
        save_as, add_to = params.get("save_as") or None, params.get("add_to") or None
        user = None
        if save_as or add_to:
            if summary:
                raise CatalogInvalidInput("summary cannot be combined with save_as or add_to")
            user = self.authenticate(request)
        if summary:
            def summarize(conn: sqlite3.Connection) -> Any:
                limit_work(conn)
                return query_summary(conn, text, summary, namespace=namespace, include_retired=include_retired)
            return json_response(await run(self.db_path, summarize))
        options = {"namespace": namespace, "include_retired": include_retired,
                   "with_metadata": flag(request, "with_meta"), "with_provenance": flag(request, "with_provenance")}
        conn, first, rest = await run_in_threadpool(self._start, text, options, save_as, add_to, user)
        return StreamingResponse(closing_stream(conn, first, rest), media_type=JSON_SEQ)

    def _start(self, text: str, options: dict[str, Any], save_as: str | None, add_to: str | None,
               user: Any) -> tuple[sqlite3.Connection, bytes | None, Iterator[bytes]]:
        """Compile, save if asked, and produce the first chunk, so that errors come before the 200 header."""
        conn = open_db(self.db_path)
        limit_work(conn)
        try:
            if save_as or add_to:
                self._save(conn, text, options, save_as, add_to, user)
            rest = query_json_seq(conn, text, **options)
            first = next(rest, None)
        except BaseException:
            conn.close()
            raise
        return conn, first, rest

    def _save(self, conn: sqlite3.Connection, text: str, options: dict[str, Any], save_as: str | None,
              add_to: str | None, user: Any) -> None:
        """Create the ``save_as`` dataset and/or add the query's files to ``save_as``/``add_to``."""
        compiled = compile_mql(conn, text, namespace=options["namespace"], include_retired=options["include_retired"])
        with transaction(conn):  # the new dataset and its files, or nothing
            targets: list[int] = []
            if save_as:
                namespace, name = parse_did(save_as, options["namespace"], "save_as")
                require_owner(conn, namespace, user, admins=False)
                try:
                    datasets.create_dataset(conn, namespace, name, creator=getattr(user, "username", None))
                except CatalogExists:
                    raise CatalogExists(f"dataset {namespace}:{name} already exists (save_as)") from None
                targets.append(datasets.dataset_id(conn, namespace, name))
            if add_to:
                namespace, name = parse_did(add_to, options["namespace"], "add_to")
                target = datasets.dataset_id(conn, namespace, name)
                require_owner(conn, namespace, user, admins=False)
                targets.append(target)
            for target in targets:
                add_query_results(conn, compiled, target)
