"""Vectorised analysis of Data Dispatcher projects, computed from the frames of :mod:`dd_notebook.frames`.

Every function takes DataFrames (an events frame, a handles frame, a
replicas frame) and returns a DataFrame, Series or small dataclass; nothing
here talks to a server.

==========================  ==================================================
``throughput``              done / failed / timed out per time bin, rolling rate
``state_timeline``          handles per state after every event (exact)
``resample_timeline``       the timeline at fixed steps, for plotting
``failure_rates``           failure rate per worker, attempt, RSE or attribute, with a Wilson interval
``wilson_interval``         binomial confidence interval of a rate
``worker_timeout_counts``   worker timeouts per group
``retry_counts``            reservations, failures, timeouts, resets per file
``permanent_failures``      files whose current state is ``failed``
``durations``               reserve-to-release time of every reservation
``eta``                     expected completion from the recent rate, and what it is based on
``project_summary``         all headline numbers in one call
==========================  ==================================================
"""

from .completion import Eta, eta
from .durations import OUTCOMES, durations
from .failures import (
    NO_REPLICA,
    failure_rates,
    permanent_failures,
    retry_counts,
    wilson_interval,
    worker_timeout_counts,
)
from .summary import ProjectSummary, project_summary
from .throughput import throughput
from .timeline import resample_timeline, state_timeline

__all__ = [
    "NO_REPLICA",
    "OUTCOMES",
    "Eta",
    "ProjectSummary",
    "durations",
    "eta",
    "failure_rates",
    "permanent_failures",
    "project_summary",
    "resample_timeline",
    "retry_counts",
    "state_timeline",
    "throughput",
    "wilson_interval",
    "worker_timeout_counts",
]
