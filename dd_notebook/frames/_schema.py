"""Column names, dtypes and state vocabularies of the frames built by :mod:`dd_notebook.frames`.

Every converter builds its frame from one of the schemas below, so an empty
input gives a frame with exactly the same columns and dtypes as a full one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

HANDLE_STATES: tuple[str, ...] = ("initial", "reserved", "done", "failed")
"""File handle states, in lifecycle order (protocol §4.1)."""

PROJECT_STATES: tuple[str, ...] = ("active", "done", "failed", "cancelled", "held", "abandoned")
"""Project states (protocol §5.1); ``held`` is declared upstream but never set."""

HANDLE_EVENTS: tuple[str, ...] = ("create", "reserve", "done", "failed", "reset", "worker_timeout")
"""Events of the handle log (protocol §2.6)."""

HANDLE_STATE_DTYPE = pd.CategoricalDtype(list(HANDLE_STATES))
PROJECT_STATE_DTYPE = pd.CategoricalDtype(list(PROJECT_STATES))
EVENT_DTYPE = pd.CategoricalDtype(list(HANDLE_EVENTS))
UTC_DTYPE = pd.DatetimeTZDtype("ns", "UTC")
STR_DTYPE = pd.StringDtype(na_value=np.nan)
INT_DTYPE = pd.Int64Dtype()
BOOL_DTYPE = pd.BooleanDtype()
FLOAT_DTYPE = np.dtype("float64")
OBJECT_DTYPE = np.dtype("object")
LABEL_DTYPE = pd.CategoricalDtype()
"""Placeholder for categorical columns whose categories come from the data (empty when no rows)."""

HANDLE_COLUMNS: dict[str, object] = {
    "project_id": INT_DTYPE,
    "namespace": STR_DTYPE,
    "name": STR_DTYPE,
    "did": STR_DTYPE,
    "state": HANDLE_STATE_DTYPE,
    "worker_id": STR_DTYPE,
    "attempts": INT_DTYPE,
    "reserved_since": UTC_DTYPE,
    "timeouts": INT_DTYPE,
    "attributes": OBJECT_DTYPE,
}

REPLICA_COLUMNS: dict[str, object] = {
    "project_id": INT_DTYPE,
    "namespace": STR_DTYPE,
    "name": STR_DTYPE,
    "did": STR_DTYPE,
    "rse": STR_DTYPE,
    "path": STR_DTYPE,
    "url": STR_DTYPE,
    "preference": INT_DTYPE,
    "available": BOOL_DTYPE,
    "rse_available": BOOL_DTYPE,
}

PROJECT_COLUMNS: dict[str, object] = {
    "project_id": INT_DTYPE,
    "owner": STR_DTYPE,
    "state": PROJECT_STATE_DTYPE,
    "active": BOOL_DTYPE,
    "created_timestamp": UTC_DTYPE,
    "ended_timestamp": UTC_DTYPE,
    "query": STR_DTYPE,
    "worker_timeout_s": FLOAT_DTYPE,
    "idle_timeout_s": FLOAT_DTYPE,
    "users": OBJECT_DTYPE,
    "roles": OBJECT_DTYPE,
    "attributes": OBJECT_DTYPE,
    "n_handles": INT_DTYPE,
    "n_initial": INT_DTYPE,
    "n_reserved": INT_DTYPE,
    "n_done": INT_DTYPE,
    "n_failed": INT_DTYPE,
}

RSE_COLUMNS: dict[str, object] = {
    "name": STR_DTYPE,
    "description": STR_DTYPE,
    "is_available": BOOL_DTYPE,
    "is_tape": BOOL_DTYPE,
    "pin_url": STR_DTYPE,
    "poll_url": STR_DTYPE,
    "remove_prefix": STR_DTYPE,
    "add_prefix": STR_DTYPE,
    "pin_prefix": STR_DTYPE,
    "preference": INT_DTYPE,
    "is_enabled": BOOL_DTYPE,
    "type": STR_DTYPE,
}

EVENT_COLUMNS: dict[str, object] = {
    "t": UTC_DTYPE,
    "project_id": INT_DTYPE,
    "namespace": LABEL_DTYPE,
    "name": LABEL_DTYPE,
    "did": LABEL_DTYPE,
    "event": EVENT_DTYPE,
    "old_state": HANDLE_STATE_DTYPE,
    "state": HANDLE_STATE_DTYPE,
    "worker": LABEL_DTYPE,
    "attempt": INT_DTYPE,
}

PROXIMITY_COLUMNS: dict[str, object] = {
    "cpu": STR_DTYPE,
    "rse": STR_DTYPE,
    "proximity": INT_DTYPE,
}


def empty_frame(schema: Mapping[str, object]) -> pd.DataFrame:
    """Return a frame with no rows and the columns and dtypes of ``schema``."""
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.items()})
