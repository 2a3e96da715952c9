"""A simulated worker fleet that drives any Data Dispatcher server through its HTTP API.

>>> from dd_notebook.sim import LogNormal, RetryPolicy, SimConfig, simulate      # doctest: +SKIP
>>> config = SimConfig(workers=8, cpu_sites={"FNAL": 3, "CERN": 1},
...                    processing_time=LogNormal(median=0.2, sigma=0.5),
...                    rse_failure={"CERN_EOS": 0.2, "no_replica": 1.0},
...                    bad_files=0.02, crash=0.01, retry=RetryPolicy(max_attempts=3), seed=1)
>>> result = simulate(client, project_id, config)                                  # doctest: +SKIP
>>> result.by_rse; result.to_frame()                                              # doctest: +SKIP

Reproducibility
---------------
Real thread scheduling decides which worker gets which file and when, so a seed
cannot fix the order of events. It fixes every *decision* instead: whether a
file is bad is drawn from a generator keyed by ``(seed, did)``, and the fate of
the *n*-th reservation of a file (crash, failure, retry, processing time) from
one keyed by ``(seed, did, n)``, where *n* is the server's ``attempts`` counter.
So with the same seed and configuration, identical projects get identical
per-file histories (:meth:`SimResult.file_histories`) whatever the scheduling,
provided that

* each file is read from the same RSE whichever worker reserves it (one CPU
  site, or replicas whose proximity order does not depend on the site), and
* no bound (``max_reservations``, ``max_seconds``, ``idle_exit``) cuts the
  run short, and no reservation is taken away by the worker timeout while
  its worker is still processing (keep processing times below it).

Worker ids are ``<worker_prefix><slot>.<incarnation>``; a crashed worker's
replacement gets the next incarnation number.
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import NO_REPLICA, Distribution, Fixed, LogNormal, RetryPolicy, SimConfig, Uniform
from .result import Reservation, SimResult, StopReason

__all__ = [
    "NO_REPLICA",
    "Distribution",
    "Fixed",
    "LogNormal",
    "Reservation",
    "RetryPolicy",
    "SimConfig",
    "SimResult",
    "StopReason",
    "Uniform",
    "simulate",
]



def __getattr__(name: str) -> Any:
    # the fleet needs the HTTP client: load it on first use, so that the command line stays quick
    if name == "simulate":
        return importlib.import_module("dd_notebook.sim.fleet").simulate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
