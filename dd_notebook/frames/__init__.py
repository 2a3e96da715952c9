"""Converters from the plain dicts of the Data Dispatcher client to tidy pandas DataFrames.

Conventions (shared with :mod:`dd_notebook.analysis` and :mod:`dd_notebook.plots`):

* handle states are categorical ``initial, reserved, done, failed`` (in that
  order), project states ``active, done, failed, cancelled, held, abandoned``;
* timestamps are ``datetime64[ns, UTC]``; durations are float seconds named ``*_s``;
* integers that may be missing are ``Int64``, flags are ``boolean``;
* every file-level frame has ``namespace``, ``name`` and ``did`` (``ns:name``);
* empty inputs give empty frames with the same columns and dtypes.

Converters work column-wise (one list comprehension or numpy call per column),
so a million handles convert in about a second.
"""

from ._schema import (
    EVENT_COLUMNS,
    EVENT_DTYPE,
    HANDLE_COLUMNS,
    HANDLE_EVENTS,
    HANDLE_STATE_DTYPE,
    HANDLE_STATES,
    PROJECT_COLUMNS,
    PROJECT_STATE_DTYPE,
    PROJECT_STATES,
    PROXIMITY_COLUMNS,
    REPLICA_COLUMNS,
    RSE_COLUMNS,
)
from .events import events_frame
from .handles import handles_frame, is_columnar, replicas_frame
from .projects import projects_frame, proximity_frame, proximity_matrix, rses_frame

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_DTYPE",
    "HANDLE_COLUMNS",
    "HANDLE_EVENTS",
    "HANDLE_STATES",
    "HANDLE_STATE_DTYPE",
    "PROJECT_COLUMNS",
    "PROJECT_STATES",
    "PROJECT_STATE_DTYPE",
    "PROXIMITY_COLUMNS",
    "REPLICA_COLUMNS",
    "RSE_COLUMNS",
    "events_frame",
    "handles_frame",
    "is_columnar",
    "projects_frame",
    "proximity_frame",
    "proximity_matrix",
    "replicas_frame",
    "rses_frame",
]
