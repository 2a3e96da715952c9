"""Handle counts per state for many projects in one query (extension endpoint ``project_counts``).

A project browser shows the progress of hundreds of projects at once. The
standard ``projects`` listing can only give counts by sending every handle
(``with_handles=yes``); this answers ``{project_id: {state: n}}`` for a
bounded list of ids with one ``GROUP BY`` over the ``handles_queue`` index.
"""

from __future__ import annotations

import sqlite3

import orjson

from ..core.errors import bad_request
from ..core.numbers import parse_int

#: Most project ids one request may ask for.
MAX_COUNT_IDS = 5000

HANDLE_STATES = ("initial", "reserved", "done", "failed")

_COUNTS_SQL = (
    "SELECT p.id, h.state, count(h.project_id) FROM projects p LEFT JOIN handles h ON h.project_id = p.id "
    "WHERE p.id IN (SELECT value FROM json_each(?)) GROUP BY p.id, h.state"
)


def parse_project_ids(text: str | None) -> list[int]:
    """Parse ``project_ids`` (comma-separated integers) into a list without duplicates.

    Parameters
    ----------
    text
        The parameter as sent, e.g. ``"3,17,18"``.

    Returns
    -------
    list of int
        The ids in the order given.

    Raises
    ------
    HTTPError
        400 when the parameter is missing, an item is not an integer, or more
        than :data:`MAX_COUNT_IDS` ids are given.
    """
    if text is None or not text.strip():
        raise bad_request("project_ids must be specified as comma-separated integers")
    items = [item for item in text.split(",") if item.strip()]
    if len(items) > MAX_COUNT_IDS:
        raise bad_request(f"Too many project ids: {len(items)} (at most {MAX_COUNT_IDS} per request)")
    return list(dict.fromkeys(parse_int(item, "project id in project_ids") for item in items))


def state_counts(conn: sqlite3.Connection, project_ids: list[int]) -> dict[int, dict[str, int]]:
    """Count the handles of each project by state.

    Parameters
    ----------
    conn
        A connection to the server's database.
    project_ids
        Projects to count (at most :data:`MAX_COUNT_IDS`).

    Returns
    -------
    dict
        ``{project_id: {"initial": n, "reserved": n, "done": n, "failed": n}}``
        for every id that exists (unknown ids are left out); a project without
        handles has all zeros.
    """
    counts: dict[int, dict[str, int]] = {}
    for project_id, state, n in conn.execute(_COUNTS_SQL, (orjson.dumps(project_ids).decode(),)):
        row = counts.setdefault(project_id, dict.fromkeys(HANDLE_STATES, 0))
        if state is not None:
            row[state] = n
    return counts
