"""Benchmark: ``project_summary`` on 10,000,000 synthetic handle events, against the previous approach.

Usage::

    python benchmarks/summary.py [--events 10000000] [--repeat 3]

The events frame comes from the generator of ``benchmarks/frames_events.py``
(files created, reserved 1-3 times, retried failures and worker timeouts,
``done`` or a permanent ``failed`` at the end), built directly with the dtypes
of :func:`dd_notebook.frames.events_frame`.

Baseline ("previous approach"): the summary as it used to be computed, by
calling the public analysis functions one after another -- ``state_timeline``
for the final counts, ``permanent_failures``, ``value_counts`` of the event
column, ``retry_counts``, ``durations``, ``nunique`` of the workers, ``eta``
-- each of which recomputes the codes, file keys and sorts it needs. Both give
the same numbers (checked before timing); the script prints the median of
``--repeat`` runs of each and their ratio.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dd_notebook.analysis import (
    durations,
    eta,
    permanent_failures,
    project_summary,
    retry_counts,
    state_timeline,
)
from dd_notebook.frames import HANDLE_STATES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames_events import median_time, synthetic_events  # noqa: E402

WINDOW = "15min"


def previous_approach(events: pd.DataFrame) -> dict[str, Any]:
    """The summary's log numbers computed by calling the individual analysis functions."""
    last = state_timeline(events).iloc[-1]
    counts = events["event"].value_counts()
    retries = retry_counts(events)
    table = durations(events)
    done = table.loc[table["outcome"] == "done", "duration_s"]
    estimate = eta(events, window=WINDOW)
    return {
        "state_counts": {state: int(last[state]) for state in HANDLE_STATES},
        "permanently_failed": len(permanent_failures(events)),
        "project_ids": events["project_id"].dropna().unique().tolist(),
        "reservations": int(counts.get("reserve", 0)),
        "failed_releases": int(counts.get("failed", 0)),
        "worker_timeouts": int(counts.get("worker_timeout", 0)),
        "resets": int(counts.get("reset", 0)),
        "files_retried": int((retries["reservations"] > 1).sum()),
        "n_workers": int(events["worker"].nunique()),
        "first_event": events["t"].min(),
        "last_event": events["t"].max(),
        "median_duration_s": float(np.median(done)),
        "rate_per_s": estimate.rate_per_s,
    }


def one_pass(events: pd.DataFrame) -> dict[str, Any]:
    """The same numbers from :func:`project_summary`."""
    summary = project_summary(events=events, window=WINDOW)
    fields = {key: getattr(summary, key) for key in (
        "state_counts", "permanently_failed", "reservations", "failed_releases", "worker_timeouts", "resets",
        "files_retried", "n_workers", "first_event", "last_event", "median_duration_s")}
    return {**fields, "project_ids": [summary.project_id], "rate_per_s": summary.eta.rate_per_s}


def check_same(events: pd.DataFrame) -> None:
    """Assert that both approaches give the same numbers."""
    old, new = previous_approach(events), one_pass(events)
    assert old.keys() == new.keys()
    for key in old:
        if isinstance(old[key], float):
            assert math.isclose(old[key], new[key], rel_tol=1e-12), (key, old[key], new[key])
        else:
            assert old[key] == new[key], (key, old[key], new[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    events = synthetic_events(args.events)
    print(f"generated {len(events):,} events for {events['did'].cat.categories.size:,} files "
          f"in {time.perf_counter() - start:.1f} s")
    check_same(synthetic_events(args.events // 50, seed=2))
    check_same(events)
    print("previous approach and project_summary agree (small and full stream)")

    baseline = median_time(previous_approach, events, repeat=args.repeat)
    fast = median_time(one_pass, events, repeat=args.repeat)
    print(f"previous approach (individual functions), median of {args.repeat}: {baseline:.2f} s")
    print(f"project_summary (one pass), median of {args.repeat}: {fast:.2f} s")
    print(f"ratio previous/one-pass: {baseline / fast:.1f}x")


if __name__ == "__main__":
    main()
