"""``search_projects``: the projects a search-language predicate selects, then exact owner/state filters."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from ..core.errors import HTTPError, bad_request
from .projects import ProjectStore
from .records import PROJECT_COLUMNS
from .search import SearchError

__all__ = ["MAX_SEARCH_SECONDS", "search"]

#: Longest time one search may spend testing projects; beyond it the search answers 503.
MAX_SEARCH_SECONDS = 20.0


def search(store: ProjectStore, predicate: Callable[[dict[str, Any]], bool], owner: str | None,
           state: str | None, with_handles: bool, with_replicas: bool) -> list[dict[str, Any]]:
    """Return the records of the projects that ``predicate`` selects, by ascending id.

    Args:
        store: Project store (on a read-only snapshot).
        predicate: Compiled search query; called with the searchable fields of each project.
        owner: Only projects of this owner (when given).
        state: Only projects in this state (when given).
        with_handles: Include each project's handles.
        with_replicas: Include the handles' replicas.

    Raises:
        HTTPError: 400 when the query cannot be evaluated on a project; 503 when testing the
            projects takes longer than :data:`MAX_SEARCH_SECONDS`.
    """
    selected = []
    deadline = time.monotonic() + MAX_SEARCH_SECONDS
    for examined, row in enumerate(store.conn.execute(f"SELECT {PROJECT_COLUMNS} FROM projects ORDER BY id")):
        if time.monotonic() > deadline:
            raise HTTPError(503, f"Search stopped after {MAX_SEARCH_SECONDS:g} s ({examined} projects examined); "
                                 "narrow it with owner=, state= or a simpler query")
        if (owner and row["owner"] != owner) or (state and row["state"] != state):
            continue
        fields = {"id": row["id"], "owner": row["owner"], "state": row["state"], "query": row["query"],
                  "created_timestamp": row["created_timestamp"], "ended_timestamp": row["ended_timestamp"],
                  "worker_timeout": row["worker_timeout"], "idle_timeout": row["idle_timeout"],
                  "attributes": orjson.loads(row["attributes"])}
        try:
            matched = predicate(fields)
        except SearchError as exc:
            raise bad_request(f"Invalid search query: {exc}") from None
        if matched:
            selected.append(store.record(row, with_handles, with_replicas))
    return selected
