"""Notebook-facing extensions of the client (not part of the upstream API).

These methods exist only in dd-notebook. They use endpoints that upstream
servers declare but answer with 500 (``project_handles_log``,
``project_files``), and fall back to what upstream servers do offer where
possible. :meth:`NotebookExtensionsMixin.create_project_from_query` is the
library form of ``ddisp project create [-c fields] <MQL query>``.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import EndpointUnavailableError, NotFoundError, ServerError
from .projects import ProjectsMixin

__all__ = ["COLUMNS_TYPE", "FILE_PROPERTIES", "HandleLogPage", "NotebookExtensionsMixin", "copy_file_fields",
           "parse_columns"]

#: Media type of the embedded server's column-oriented project listing.
COLUMNS_TYPE = "application/vnd.dd-notebook.columns+jsonl"

#: Response headers of an incremental handle log: the next cursor, and ``yes`` when more records wait.
LOG_CURSOR_HEADER = "X-DD-Log-Cursor"
LOG_MORE_HEADER = "X-DD-Log-More"

#: Project ids per ``project_counts`` request (the embedded server accepts up to 5,000).
PROJECT_COUNTS_BATCH = 1000

#: MetaCat file-record keys that ``ddisp project create -c`` copies from the top
#: level of the record; every other name (and any dotted name) comes from ``metadata``.
FILE_PROPERTIES = frozenset(
    ["fid", "namespace", "name", "checksums", "size", "creator", "created_timestamp", "parents", "children", "datasets"]
)


def copy_file_fields(record: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """Return the attributes that ``ddisp project create -c <fields>`` copies from a MetaCat file record.

    A name without a dot that is one of :data:`FILE_PROPERTIES` is read from the
    top level of the record; anything else from ``record["metadata"]``. Missing
    values become None (metacat-and-auth §4.2).
    """
    metadata = record.get("metadata") or {}
    return {
        field: record.get(field) if "." not in field and field in FILE_PROPERTIES else metadata.get(field)
        for field in fields
    }


def _field_list(copy_metadata: str | Iterable[str]) -> list[str]:
    if isinstance(copy_metadata, str):
        return [f.strip() for f in copy_metadata.split(",") if f.strip()]
    return [str(f) for f in copy_metadata]


class NotebookExtensionsMixin(ProjectsMixin):
    """dd-notebook extensions: handle logs, filtered file lists, projects from MQL queries."""

    def get_handles_log(self, project_id: int, gui_url: str | None = None) -> list[dict[str, Any]]:
        """Return the handle log of a project (extension; not in the upstream API).

        Uses ``GET project_handles_log`` (implemented by the embedded server).
        Upstream data servers answer 500 there; then, if ``gui_url`` is given,
        the DD GUI server's ``P/handle_logs`` is used instead.

        Args:
            project_id: Project id.
            gui_url: Base URL of a DD GUI server (the part before ``/P/...``).

        Returns:
            Handle log records ``{"type", "t", "data", "project_id", "namespace", "name"}``.

        Raises:
            NotFoundError: the project does not exist.
            EndpointUnavailableError: the server has no handle log endpoint and no ``gui_url`` was given.
        """
        if "project_handles_log" not in self._missing_endpoints:
            try:
                return self._http.get("project_handles_log", [("project_id", project_id)])
            except (ServerError, NotFoundError) as exc:
                self._note_missing("project_handles_log", exc)
                if "project_handles_log" not in self._missing_endpoints:
                    raise
        if gui_url:
            url = f"{gui_url.rstrip('/')}/P/handle_logs?project_id={int(project_id)}"
            return self._http.get_absolute(url)
        raise EndpointUnavailableError(
            self._http.url("project_handles_log", [("project_id", project_id)]),
            None,
            "this Data Dispatcher server does not provide handle logs: pass gui_url=<DD GUI URL> "
            "or record the events with a recorder",
        )

    def get_project_columns(
        self, project_id: int, with_files: bool = True, with_replicas: bool = False
    ) -> dict[str, Any] | None:
        """Return a project for conversion to DataFrames, in the cheapest form the server offers (extension).

        The embedded server answers with its column-oriented listing
        (``{"project": ..., "handles": {column: [...]}, "replicas": {...}}``);
        other servers answer with the standard project JSON. Both forms are
        accepted by :func:`dd_notebook.frames.handles_frame` and
        :func:`dd_notebook.frames.replicas_frame`.

        Args:
            project_id: Project id.
            with_files: Include the handles.
            with_replicas: Include the replicas.

        Returns:
            The project in one of the two forms, or None when it does not exist.
        """
        params = [("project_id", project_id), ("with_files", "yes" if with_files else "no"),
                  ("with_replicas", "yes" if with_replicas else "no")]
        token = self._http.token
        response = self._http.get_raw("project", params, accept=COLUMNS_TYPE)
        if response.status_code == 200 and response.headers.get("Content-Type", "").startswith(COLUMNS_TYPE):
            body = response.content
            del response
            return parse_columns(body)
        return self._http.decode(response, "project", none_if_not_found=True, token=token)

    def get_handles_log_columns(self, project_id: int, gui_url: str | None = None) -> Any:
        """Return the handle log in the cheapest form the server offers (extension).

        The embedded server answers with its column-oriented log
        (``{"project_id": N, "events": {column: [...]}}``); other servers are
        read through :meth:`get_handles_log` (a list of records). Both forms are
        accepted by :func:`dd_notebook.frames.events_frame`.

        Raises:
            NotFoundError: the project does not exist.
            EndpointUnavailableError: as :meth:`get_handles_log`.
        """
        if "project_handles_log" not in self._missing_endpoints:
            response = self._http.get_raw("project_handles_log", [("project_id", project_id)], accept=COLUMNS_TYPE)
            if response.status_code == 200 and response.headers.get("Content-Type", "").startswith(COLUMNS_TYPE):
                body = response.content
                del response
                return parse_columns(body)
        return self.get_handles_log(project_id, gui_url=gui_url)

    def get_handles_log_page(
        self, project_id: int, after: int = 0, limit: int | None = None, columns: bool = True
    ) -> HandleLogPage:
        """Return the handle-log records added after a cursor, and the cursor to ask with next (extension).

        Uses ``GET project_handles_log?after=<cursor>`` of the embedded server:
        only the records after the cursor are sent, so polling a project of 10^6
        files costs as much as the records that are new. Start with ``after=0``
        and pass the returned :attr:`HandleLogPage.cursor` the next time;
        treat the cursor as opaque.

        Args:
            project_id: Project id.
            after: Cursor from the previous page (0 for the beginning).
            limit: Most records in one answer (the server caps it at 100,000).
            columns: Ask for the column-oriented form (cheaper to parse).

        Returns:
            The page; its ``data`` is accepted by :func:`dd_notebook.frames.events_frame`.

        Raises:
            NotFoundError: the project does not exist.
            BadRequestError: the cursor is not one of this server's.
            EndpointUnavailableError: the server cannot send handle logs incrementally
                (upstream servers).
        """
        params: list[tuple[str, Any]] = [("project_id", project_id), ("after", after), ("limit", limit)]
        url = self._http.url("project_handles_log", params)
        if "project_handles_log" not in self._missing_endpoints:
            token = self._http.token
            response = self._http.get_raw("project_handles_log", params, accept=COLUMNS_TYPE if columns else None)
            cursor = response.headers.get(LOG_CURSOR_HEADER)
            if response.status_code == 200 and cursor is not None:
                more = response.headers.get(LOG_MORE_HEADER) == "yes"
                if response.headers.get("Content-Type", "").startswith(COLUMNS_TYPE):
                    data: Any = parse_columns(response.content)
                    count = len(data["events"]["t"])
                else:
                    data = self._http.decode(response, "project_handles_log", token=token)
                    count = len(data)
                return HandleLogPage(data, int(cursor), more, count)
            unsupported = response.status_code == 400 and "Unknown parameter" in response.text
            if response.status_code != 200 and not unsupported:
                try:
                    self._http.decode(response, "project_handles_log", token=token)
                except (ServerError, NotFoundError) as exc:
                    self._note_missing("project_handles_log", exc)
                    if "project_handles_log" not in self._missing_endpoints:
                        raise
        raise EndpointUnavailableError(url, None, "this Data Dispatcher server cannot send the handle log "
                                                  "incrementally: poll snapshots with a ProjectRecorder instead")

    def project_files(
        self, project_id: int, state: str | None = None, ready_only: bool = False
    ) -> list[dict[str, Any]]:
        """Return the handles of a project, optionally filtered (extension; not in the upstream API).

        Uses ``GET project_files``. Upstream servers answer 500 there; the handles
        are then filtered from the project listing on the client side.

        Args:
            project_id: Project id.
            state: Only handles in this state (``initial``, ``reserved``, ``done``, ``failed``).
            ready_only: Only ``initial`` handles with an available replica in an available RSE.

        Returns:
            A list of handle dicts.

        Raises:
            NotFoundError: the project does not exist.
        """
        if "project_files" not in self._missing_endpoints:
            params: list[tuple[str, Any]] = [("project_id", project_id), ("state", state)]
            if ready_only:
                params.append(("ready_only", "yes"))
            try:
                return self._http.get("project_files", params)
            except (ServerError, NotFoundError) as exc:
                self._note_missing("project_files", exc)
                if "project_files" not in self._missing_endpoints:
                    raise
        project = self.get_project(project_id, with_files=True, with_replicas=ready_only)
        if project is None:
            raise NotFoundError(self._http.url("project"), 404, f"Project {project_id} not found")
        handles = project.get("file_handles") or []
        if state:
            handles = [h for h in handles if h["state"] == state]
        if ready_only:
            handles = [h for h in handles if h["state"] == "initial" and _has_available_replica(h)]
        return handles

    def project_state_counts(self, project_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        """Return the handle counts per state of many projects, in one request per 1,000 ids (extension).

        Uses ``GET project_counts`` of the embedded server (one ``GROUP BY`` on
        the server, no handle is sent).

        Args:
            project_ids: The projects to count.

        Returns:
            ``{project_id: {"initial": n, "reserved": n, "done": n, "failed": n}}``;
            ids of projects that do not exist are left out.

        Raises:
            EndpointUnavailableError: the server has no ``project_counts`` endpoint
                (upstream servers): count the handles of each project instead.
        """
        ids = list(dict.fromkeys(int(p) for p in project_ids))
        counts: dict[int, dict[str, int]] = {}
        for start in range(0, len(ids), PROJECT_COUNTS_BATCH):
            if "project_counts" in self._missing_endpoints:
                break
            params = [("project_ids", ",".join(str(p) for p in ids[start:start + PROJECT_COUNTS_BATCH]))]
            try:
                answer = self._http.get("project_counts", params)
            except (ServerError, NotFoundError) as exc:
                self._note_missing("project_counts", exc)
                if "project_counts" not in self._missing_endpoints:
                    raise
                break
            counts.update({int(pid): {state: int(n) for state, n in row.items()} for pid, row in answer.items()})
        else:
            return counts
        raise EndpointUnavailableError(
            self._http.url("project_counts"), None,
            "this Data Dispatcher server cannot count the handles of many projects at once (no project_counts)")

    def create_project_from_query(
        self,
        query: str,
        metacat: Any = None,
        copy_metadata: str | Iterable[str] = (),
        **create_project_options: Any,
    ) -> dict[str, Any]:
        """Create a project from the files an MQL query selects (extension; like ``ddisp project create``).

        Args:
            query: MQL file query, e.g. ``"files from dune:all limit 10"``.
            metacat: A MetaCat client with ``query(query, with_metadata=...)``
                (upstream ``metacat.webapi.MetaCatClient`` or dd-notebook's own);
                default: ``dd_notebook.metacat.MetaCatClient()`` configured from
                env ``METACAT_SERVER_URL``.
            copy_metadata: File fields to copy into each file's attributes, as
                a list or a comma-separated string (``ddisp ... -c size,checksums``
                semantics, see :func:`copy_file_fields`).
            **create_project_options: Passed to :meth:`create_project`
                (``common_attributes``, ``project_attributes``, timeouts, ...).

        Returns:
            The new project.

        Raises:
            ValueError: the query selected no files, or no MetaCat URL is known.
            BadRequestError: the MQL query does not parse or compile (raised by the catalog).
            NotFoundError: the query names an unknown dataset (raised by the catalog).
            DataDispatcherError: any other failure of the catalog or the data server; with
                dd-notebook's ``MetaCatClient`` every error is of the one tree
                (:mod:`dd_notebook.errors`), an upstream client raises its own classes.
        """
        fields = _field_list(copy_metadata)
        if metacat is None:
            metacat = _default_metacat()
        records = list(metacat.query(query, with_metadata=bool(fields)))
        if not records:
            raise ValueError(f"Empty file list: the query selected no files: {query}")
        files = [
            {"namespace": r["namespace"], "name": r["name"], "attributes": copy_file_fields(r, fields)} for r in records
        ]
        return self.create_project(files, query=query, **create_project_options)


@dataclass(frozen=True)
class HandleLogPage:
    """Handle-log records added after a cursor (:meth:`NotebookExtensionsMixin.get_handles_log_page`).

    Attributes:
        data: The records: ``{"project_id", "events": {column: [...]}, ...}`` in the
            column-oriented form, else a list of handle-log records.
        cursor: The cursor to send next time (unchanged when nothing was new).
        more: More records wait beyond the page's limit: ask again at once.
        count: Number of records in ``data``.
    """

    data: Any
    cursor: int
    more: bool
    count: int


def parse_columns(body: bytes) -> dict[str, Any]:
    """Parse the embedded server's line-oriented columnar listing into
    ``{"project": ..., "handles": {column: [...]}, "replicas": {column: [...]}}``.

    Lines are parsed one at a time with the standard library's parser, whose
    memory overhead stays close to the size of one line (orjson's whole-document
    tree would need many times the body size at once).
    """
    lines = _lines(body)
    header = orjson.loads(next(lines))
    result: dict[str, Any] = {k: v for k, v in header.items() if k not in ("tables", "int_booleans")}
    collecting = gc.isenabled()
    gc.disable()  # millions of new objects, no cycles: the collector would only rescan them
    try:
        for table, columns in header["tables"].items():
            result[table] = {column: json.loads(next(lines)) for column in columns}
    finally:
        if collecting:
            gc.enable()
    for table, columns in header.get("int_booleans", {}).items():
        for column in columns:
            result[table][column] = [None if v is None else v == 1 for v in result[table][column]]
    return result


def _lines(body: bytes) -> Iterator[bytes]:
    start = 0
    while start <= len(body):
        end = body.find(b"\n", start)
        end = len(body) if end < 0 else end
        yield body[start:end]
        start = end + 1


def _has_available_replica(handle: dict[str, Any]) -> bool:
    return any(r.get("available") and r.get("rse_available") for r in (handle.get("replicas") or {}).values())


def _default_metacat() -> Any:
    if not os.environ.get("METACAT_SERVER_URL"):
        raise ValueError("MetaCat server URL unspecified: pass metacat=<client> or set METACAT_SERVER_URL")
    from dd_notebook.metacat import MetaCatClient  # imported lazily: optional sibling module

    return MetaCatClient()
