"""The DD data-server endpoints (spec §3), mounted under ``/dd/data``.

Each function takes a :class:`~dd_notebook.server.http.Call` and checks its
input in the order the upstream server does, so clients see the same errors.
Where upstream answers 500 for bad input, these answer 400 with a message.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.responses import Response

from ..auth.users import User
from ..core.errors import bad_request, forbidden, not_found
from ..core.http import JSON_TYPE, json_response, text_response
from ..core.json_pieces import json_pieces
from ..core.numbers import parse_int, stored_int
from ..core.service import Call, Endpoint
from .columns import COLUMNS_TYPE, handle_log_columns, handle_log_columns_after, project_columns
from .counts import parse_project_ids, state_counts
from .dispatch import Dispatcher
from .file_summary import file_summary, parse_dids
from .project_writes import ProjectWriteEndpoints, project_id_param
from .projects import MAX_LOG_PAGE, ProjectStore
from .rses import RSEStore
from .search import SearchError, compile_search
from .search_listing import search
from .snapshots import SnapshotAnswers
from .standard_json import handles_json, project_json
from .validation import split_did

PROTOCOL_VERSION = "2.0.3"


def _admin(call: Call) -> User:
    user = call.user()
    if not user.is_admin:
        raise forbidden("Not authorized")
    return user


def _only_params(call: Call, allowed: set[str]) -> None:
    unknown = sorted(set(call.params) - allowed)
    if unknown:
        raise bad_request(f"Unknown parameter(s): {', '.join(unknown)}")


class DDEndpoints(ProjectWriteEndpoints):
    """Binds the endpoint functions to the stores.

    Args:
        projects: Project store.
        rses: RSE store.
        dispatcher: Reservation logic.
        answers: Builds listings and the answers to writes off the loop, on one snapshot each.
    """

    def __init__(self, projects: ProjectStore, rses: RSEStore, dispatcher: Dispatcher,
                 answers: SnapshotAnswers) -> None:
        super().__init__(projects, answers)
        self._rses = rses
        self._dispatcher = dispatcher

    def table(self) -> dict[str, Endpoint]:
        """Endpoint name → function."""
        names = ("version", "probe", "create_project", "copy_project", "delete_project", "cancel_project",
                 "activate_project", "restart_handles", "restart_project", "project", "projects",
                 "search_projects", "next_file", "release", "handles", "rses", "get_rse", "create_rse",
                 "update_rse", "delete_rse", "set_rse_availability", "project_files", "project_handles_log",
                 "file_handle", "replica_available", "replica_unavailable", "proximity_map", "set_proximity",
                 "project_counts", "file_summary")
        return {name: getattr(self, name) for name in names}

    # ---- service ------------------------------------------------------------------------------

    def version(self, call: Call) -> Response:
        """Server protocol version as text."""
        return text_response(PROTOCOL_VERSION)

    def probe(self, call: Call) -> Response:
        """Health check: ``OK`` when the database answers."""
        self._projects.conn.execute("SELECT 1").fetchone()
        return text_response("OK")

    # ---- projects -----------------------------------------------------------------------------

    def project(self, call: Call) -> Response | Awaitable[Response]:
        """One project; handles when ``with_files`` or ``with_replicas`` is ``yes`` (defaults yes)."""
        project_id = project_id_param(call)
        with_files, with_replicas = call.flag("with_files", "yes"), call.flag("with_replicas", "yes")
        if COLUMNS_TYPE in call.request.headers.get("accept", ""):
            return self._answers.body(lambda store: project_columns(
                store, project_id, with_files or with_replicas, with_replicas), COLUMNS_TYPE)
        if with_files or with_replicas:
            return self._answers.body(lambda store: project_json(store, project_id, with_files, with_replicas),
                                      JSON_TYPE)
        return json_response(self._projects.record(self._projects.require(project_id)))

    def projects(self, call: Call) -> Awaitable[Response]:
        """Projects filtered by owner (default: the caller), state, not_state and attributes."""
        user = call.user()
        owner = call.param("owner")
        owner = None if owner == "all" else (owner or user.username)
        attributes = None
        text = call.param("attributes")
        if text:
            try:
                attributes = orjson.loads(unquote(text))
            except orjson.JSONDecodeError:
                raise bad_request("attributes must be a URL-encoded JSON object") from None
            if not isinstance(attributes, dict):
                raise bad_request("attributes must be a URL-encoded JSON object")
        state, not_state = call.param("state") or None, call.param("not_state") or None
        with_handles, with_replicas = call.flag("with_handles", "yes"), call.flag("with_replicas", "yes")
        return self._answers.json(lambda store: store.listing(owner, state, not_state, attributes, with_handles,
                                                               with_replicas))

    def project_counts(self, call: Call) -> Awaitable[Response]:
        """Extension: handle counts per state of many projects (``project_ids=1,2,3``) in one query."""
        call.user()
        _only_params(call, {"project_ids"})
        project_ids = parse_project_ids(call.param("project_ids"))

        return self._answers.json(lambda store: state_counts(store.conn, project_ids))

    def search_projects(self, call: Call) -> Awaitable[Response]:
        """Projects selected by a search-language query, then by exact owner/state."""
        body = call.json_object()
        query = body.get("query")
        if not isinstance(query, str):
            raise bad_request("query must be given as a string")
        try:
            predicate = compile_search(query)
        except SearchError as exc:
            raise bad_request(f"Invalid search query: {exc}") from None
        owner, state = body.get("owner"), body.get("state")
        with_handles, with_replicas = body.get("with_handles") is True, body.get("with_replicas") is True
        return self._answers.json(lambda store: search(store, predicate, owner, state, with_handles, with_replicas))

    # ---- workers ------------------------------------------------------------------------------

    def next_file(self, call: Call) -> Response:
        """Reserve the next file of a project for a worker."""
        user = call.user()
        project_id_text, worker_id = call.param("project_id"), call.param("worker_id")
        if project_id_text is None or worker_id is None:
            raise bad_request("Project ID and Worker ID must be specified")
        project_id = parse_int(project_id_text, "project_id")
        return json_response(self._dispatcher.next_file(user, project_id, worker_id, call.param("cpu_site")))

    def release(self, call: Call) -> Response:
        """Release a reserved handle as done, failed, or failed for retry."""
        handle_id = call.param("handle_id")
        if not handle_id:
            raise bad_request("File Handle ID (<project_id>:<namespace>:<name>) must be specified")
        user = call.user()
        return json_response(self._dispatcher.release(
            user, handle_id, call.flag("failed"), call.flag("retry", "yes"), call.param("worker_id", "") or ""))

    def handles(self, call: Call) -> Awaitable[Response]:
        """Deprecated listing of handles (never with replicas, Q-HANDLES)."""
        _only_params(call, {"project_id", "state", "not_state", "with_replicas"})
        project_id = project_id_param(call)
        filtered = not call.flag("with_replicas")
        state, not_state = call.param("state"), call.param("not_state")

        def build(store: ProjectStore) -> list[bytes]:
            store.require(project_id)
            if filtered:
                return handles_json(store, project_id, False, state or None, not_state or None)
            return handles_json(store, project_id, False)
        return self._answers.body(build, JSON_TYPE)

    # ---- RSEs and replicas --------------------------------------------------------------------

    def rses(self, call: Call) -> Response:
        """All RSEs."""
        return json_response(self._rses.list())

    def get_rse(self, call: Call) -> Response:
        """One RSE by ``name`` or ``get_rse/NAME``."""
        name = call.param("name") or call.relpath or ""
        return json_response(self._rses.require(name))

    def create_rse(self, call: Call) -> Response:
        """Create an RSE (admin)."""
        _admin(call)
        return json_response(self._rses.create(call.json_object()))

    def update_rse(self, call: Call) -> Response:
        """Update an RSE (admin)."""
        _admin(call)
        return json_response(self._rses.update(call.json_object()))

    def delete_rse(self, call: Call) -> Response:
        """Delete an RSE with its replicas (admin)."""
        name = call.param("name") or call.relpath
        if not name:
            raise bad_request("RSE name must be specified")
        user = call.user()
        if self._rses.get(name) is None:
            raise not_found("RSE not found")
        if not user.is_admin:
            raise forbidden("Not authorized")
        self._rses.delete(name)
        return json_response(None)

    def set_rse_availability(self, call: Call) -> Response:
        """Set an RSE up or down (admin)."""
        _admin(call)
        available = call.param("available")
        if available not in ("yes", "no"):
            raise bad_request('availability value must be specified as "yes" or "no"')
        return json_response(self._rses.set_availability(call.param("name") or call.relpath or "", available == "yes"))

    def _replica_target(self, call: Call) -> tuple[str, str, str]:
        rse, namespace, name = call.param("rse"), call.param("namespace"), call.param("name")
        if not rse or not namespace or not name:
            raise bad_request("rse, namespace and name must be specified")
        return namespace, name, rse

    def replica_available(self, call: Call) -> Response:
        """Admin extension: register a replica as available (body: path, url, urls, preference)."""
        _admin(call)
        namespace, name, rse = self._replica_target(call)
        body = call.json_object() if call.body.strip() else {}
        unknown = sorted(set(body) - {"path", "url", "urls", "preference"})
        if unknown:
            raise bad_request(f"Unknown key(s) in replica: {', '.join(unknown)}")
        urls = body.get("urls")
        if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
            raise bad_request("urls must be a list of strings")
        for key in ("path", "url"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise bad_request(f"{key} must be a string or null")
        preference = stored_int(body.get("preference") or 0, "preference")
        return json_response(self._rses.set_replica(namespace, name, rse, available=True, path=body.get("path"),
                                                   url=body.get("url"), urls=urls, preference=preference))

    def replica_unavailable(self, call: Call) -> Response:
        """Admin extension: mark a replica unavailable."""
        _admin(call)
        return json_response(self._rses.mark_unavailable(*self._replica_target(call)))

    def proximity_map(self, call: Call) -> Response:
        """Extension: the CPU/RSE proximity map as rows."""
        return json_response(self._rses.proximity_rows())

    def file_summary(self, call: Call) -> Awaitable[Response]:
        """Extension: replicas, RSE states and datasets of a DID list (body ``{"dids": [...]}``), public."""
        dids = parse_dids(call.json_object())
        return self._answers.body(lambda store: file_summary(store.conn, dids), JSON_TYPE)

    def set_proximity(self, call: Call) -> Response:
        """Extension (admin): set one proximity value; body ``{"cpu", "rse", "proximity"}``."""
        _admin(call)
        body = call.json_object()
        cpu, rse, value = body.get("cpu"), body.get("rse"), body.get("proximity")
        if not isinstance(cpu, str) or not cpu or not isinstance(rse, str) or not rse:
            raise bad_request("cpu and rse must be non-empty strings")
        self._rses.set_proximity(cpu, rse, stored_int(value, "proximity"))
        return json_response(self._rses.proximity_rows())

    # ---- working versions of the endpoints broken upstream ------------------------------------

    def project_files(self, call: Call) -> Awaitable[Response]:
        """Handles (with replicas) of a project, optionally by ``state``; ``ready_only=yes`` keeps
        initial handles with an available replica on an enabled, available RSE."""
        project_id = project_id_param(call, "Project ID must be specified")
        state, ready_only = call.param("state"), call.flag("ready_only")

        def ready(store: ProjectStore) -> list[dict[str, Any]]:
            store.require(project_id)
            handles = store.handles(project_id, True, (state,) if state else None)
            enabled = {r["name"] for r in RSEStore(store.conn).list() if r["is_enabled"]}
            return [h for h in handles if h["state"] == "initial" and any(
                r["available"] and r["rse_available"] and r["rse"] in enabled for r in h["replicas"].values())]

        def every(store: ProjectStore) -> list[bytes]:
            store.require(project_id)
            return handles_json(store, project_id, True, state or None)
        return self._answers.json(ready) if ready_only else self._answers.body(every, JSON_TYPE)

    def project_handles_log(self, call: Call) -> Response | Awaitable[Response]:
        """All handle-log records of a project ordered by ``(namespace, name, t)``
        (in the columnar form, on request, ordered by time).

        Extension: ``after=<cursor>`` (optional ``limit``, at most ``MAX_LOG_PAGE``)
        answers only the records after the cursor, by record id, with the next
        cursor in the ``X-DD-Log-Cursor`` header (``X-DD-Log-More: yes`` when a
        limit cut the answer short); the columnar header line carries them too.
        """
        _only_params(call, {"project_id", "after", "limit"})
        project_id = project_id_param(call)
        if "after" in call.params or "limit" in call.params:
            return self._handle_log_page(call, project_id)
        if COLUMNS_TYPE in call.request.headers.get("accept", ""):
            return self._answers.body(lambda store: handle_log_columns(store, project_id), COLUMNS_TYPE)
        return self._answers.json(lambda store: store.handle_log(project_id))

    def _handle_log_page(self, call: Call, project_id: int) -> Awaitable[Response]:
        after = parse_int(call.param("after") or "", "cursor after")
        limit = parse_int(call.param("limit") or str(MAX_LOG_PAGE), "limit")
        if not 0 < limit <= MAX_LOG_PAGE:
            raise bad_request(f"limit must be between 1 and {MAX_LOG_PAGE}")
        if COLUMNS_TYPE in call.request.headers.get("accept", ""):
            return self._answers.log_page(lambda store: handle_log_columns_after(store, project_id, after, limit),
                                          COLUMNS_TYPE)

        def build(store: ProjectStore) -> tuple[list[bytes], int, bool]:
            records, cursor, more = store.handle_log_page(project_id, after, limit)
            return json_pieces(records), cursor, more
        return self._answers.log_page(build, JSON_TYPE)

    def file_handle(self, call: Call) -> Response:
        """One handle with replicas, by ``handle_id`` or ``project_id`` + DID; null when absent."""
        handle_id = call.param("handle_id")
        if handle_id:
            pid_text, _, did = handle_id.partition(":")
            project_id = parse_int(pid_text, "handle_id project part")
            namespace, name = split_did(did)
        else:
            if call.param("project_id") in (None, ""):
                raise bad_request("At least handle_id or project_id must be specified")
            project_id = project_id_param(call)
            name_text, namespace_text = call.param("name"), call.param("namespace")
            if not name_text:
                raise bad_request("File name must be specified as name='namespace:name' or namespace + name")
            namespace, name = (namespace_text, name_text) if namespace_text else split_did(name_text)
        return json_response(self._projects.handle(project_id, namespace, name))

