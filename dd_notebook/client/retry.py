"""When a request may be sent again: the one retry policy of the DD and MetaCat clients.

A request is repeated only when repeating it cannot do anything twice:

* **503** (the server is busy and changed nothing) and **429** (too many
  requests; nothing was done) are retried for every call, after the server's
  ``Retry-After`` when it sends one;
* **502, 504** and **connection failures** (refused, reset, a body cut short)
  are retried only for calls that change nothing on the server (*reads*): a
  proxy's 502/504 or a reset does not tell whether the server acted, so a
  retried ``create_project`` could create a second project and a retried
  ``next_file`` could reserve a second file;
* a request that got no answer in time is never retried.

Which calls are reads is decided per endpoint (:data:`DD_READ_ENDPOINTS`,
:func:`metacat_call_is_read`); a call not known to be a read is treated as
a write. Retries stop at the call's deadline: the waits never add up to more
than the caller's timeout.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from dataclasses import dataclass

__all__ = ["DD_READ_ENDPOINTS", "RetryPolicy", "metacat_call_is_read", "parse_retry_after"]

#: Data-server endpoints that change nothing (the DD client retries them on 502/504 and resets too).
#: Logins only issue a token and change nothing either.
DD_READ_ENDPOINTS = frozenset({
    "version", "probe", "project", "projects", "search_projects", "handles", "file_handle", "file",
    "project_files", "project_handles_log", "project_counts", "rses", "get_rse", "proximity_map",
    "file_summary", "auth", "verify", "whoami", "mydn",
})

#: MetaCat data-API operations that only read (``query`` only without ``save_as``/``add_to``).
METACAT_READ_OPERATIONS = frozenset({
    "query", "file", "files", "dataset", "datasets", "dataset_files", "namespace", "namespaces", "version",
})

_WRITING_MQL = re.compile(r"\b(save_as|add_to)\b", re.IGNORECASE)


def metacat_call_is_read(operation: str, mql: str | None = None) -> bool:
    """Tell whether a MetaCat data-API call changes nothing (an MQL query that saves results does)."""
    if operation not in METACAT_READ_OPERATIONS:
        return False
    return not (operation == "query" and mql is not None and _WRITING_MQL.search(mql))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the wait a ``Retry-After`` header asks for, in seconds, or ``None`` when absent or unreadable.

    Both forms are accepted: a number of seconds and an HTTP date. Negative
    waits and dates in the past give 0; anything else unreadable is ignored.
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Which answers are retried, and how long to wait in between.

    Attributes:
        initial_delay: Upper bound of the first random wait, seconds (upstream: 1 s).
        growth: Factor applied to the bound after each attempt (upstream: 1.5).
        always: Statuses retried for every call.
        reads_only: Statuses retried only for calls that change nothing.
    """

    initial_delay: float = 1.0
    growth: float = 1.5
    always: frozenset[int] = frozenset({429, 503})
    reads_only: frozenset[int] = frozenset({502, 504})

    def retries_status(self, status: int, is_read: bool) -> bool:
        """Tell whether an answer with ``status`` may be retried."""
        return status in self.always or (is_read and status in self.reads_only)
