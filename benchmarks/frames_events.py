"""Benchmark: throughput + state timeline + failure rates on 10,000,000 synthetic handle events.

Usage::

    python benchmarks/frames_events.py [--events 10000000] [--repeat 3] [--scale 50]

The synthetic stream mimics a real project: every file is created, then
reserved 1-3 times; non-final attempts end in a retried ``failed`` or a
``worker_timeout``, the final one in ``done`` (or a permanent ``failed``
after three attempts). The frame is built directly with the dtypes of
:func:`dd_notebook.frames.events_frame` (10^7 log records as dicts would take
about 10 GB).

The vectorised functions run on the full stream (median of ``--repeat`` runs).
The naive baseline -- one Python loop per row over plain lists, which is
already kinder to it than ``DataFrame.iterrows`` -- runs on a stream from the
same generator with ``events / scale`` events, and its time is multiplied by
``scale``: every per-row loop is linear in the number of events, so the scaled
time estimates the full-size run. Both give the same numbers on the small
stream (checked before timing).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np
import pandas as pd

from dd_notebook.analysis import failure_rates, state_timeline, throughput
from dd_notebook.frames import EVENT_COLUMNS, EVENT_DTYPE, HANDLE_EVENTS, HANDLE_STATE_DTYPE, HANDLE_STATES

EV = {name: i for i, name in enumerate(HANDLE_EVENTS)}
ST = {name: i for i, name in enumerate(HANDLE_STATES)}
FREQ = "1min"


def synthetic_events(n_events: int, *, n_workers: int = 200, span_s: float = 86_400.0, seed: int = 1) -> pd.DataFrame:
    """A time-sorted events frame of about ``n_events`` rows."""
    rng = np.random.default_rng(seed)
    attempts_per_file = 1.0 * 0.9 + 2 * 0.09 + 3 * 0.01
    n_files = max(1, int(n_events / (1 + 2 * attempts_per_file)))
    attempts = rng.choice([1, 2, 3], size=n_files, p=[0.9, 0.09, 0.01])
    n_cycles = int(attempts.sum())
    file_of_cycle = np.repeat(np.arange(n_files), attempts)
    first_cycle = np.repeat(np.cumsum(attempts) - attempts, attempts)
    attempt = np.arange(n_cycles) - first_cycle + 1
    last = attempt == attempts[file_of_cycle]

    duration = rng.lognormal(np.log(60.0), 0.6, n_cycles)
    gap = rng.exponential(30.0, n_cycles)
    step = duration + gap
    offset = np.cumsum(step) - step
    offset -= offset[first_cycle]
    start = rng.uniform(60.0, span_s, n_files)[file_of_cycle]
    t_reserve = start + offset
    t_end = t_reserve + duration

    timed_out = rng.random(n_cycles) < 0.3
    permanent = last & (attempt == 3) & (rng.random(n_cycles) < 0.5)
    end_event = np.where(last & ~permanent, EV["done"], np.where(timed_out & ~last, EV["worker_timeout"], EV["failed"]))
    end_state = np.where(last, np.where(permanent, ST["failed"], ST["done"]), ST["initial"])
    worker = rng.integers(0, n_workers, n_cycles)

    t = np.concatenate([rng.uniform(0.0, 60.0, n_files), t_reserve, t_end])
    file_code = np.concatenate([np.arange(n_files), file_of_cycle, file_of_cycle])
    event = np.concatenate([np.full(n_files, EV["create"]), np.full(n_cycles, EV["reserve"]), end_event])
    old = np.concatenate([np.full(n_files, -1), np.full(n_cycles, ST["initial"]), np.full(n_cycles, ST["reserved"])])
    new = np.concatenate([np.full(n_files, ST["initial"]), np.full(n_cycles, ST["reserved"]), end_state])
    workers = np.concatenate([np.full(n_files, -1), worker, worker])
    attempt_col = np.concatenate([np.zeros(n_files, dtype=np.int64), attempt, attempt])
    order = np.argsort(t, kind="stable")

    names = pd.Index([f"f{i:08d}" for i in range(n_files)], dtype=object)
    dids = pd.Index([f"bench:f{i:08d}" for i in range(n_files)], dtype=object)
    ns = np.round(t[order] * 1e9).astype(np.int64) + 1_700_000_000 * 10**9
    frame = pd.DataFrame(
        {
            "t": pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC").array,
            "project_id": pd.array(np.ones(len(t), dtype=np.int64), dtype="Int64"),
            "namespace": pd.Categorical.from_codes(np.zeros(len(t), dtype=np.int8), categories=["bench"]),
            "name": pd.Categorical.from_codes(file_code[order], categories=names),
            "did": pd.Categorical.from_codes(file_code[order], categories=dids),
            "event": pd.Categorical.from_codes(event[order], dtype=EVENT_DTYPE),
            "old_state": pd.Categorical.from_codes(old[order], dtype=HANDLE_STATE_DTYPE),
            "state": pd.Categorical.from_codes(new[order], dtype=HANDLE_STATE_DTYPE),
            "worker": pd.Categorical.from_codes(workers[order], categories=[f"w{i:03d}" for i in range(n_workers)]),
            "attempt": pd.array(attempt_col[order], dtype="Int64"),
        }
    )
    assert list(frame.columns) == list(EVENT_COLUMNS)
    return frame


def vectorised(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return throughput(events, FREQ), state_timeline(events), failure_rates(events, "worker")


def as_rows(events: pd.DataFrame) -> list[tuple]:
    """Plain Python rows (time in ns, event, old state, state, worker) for the naive loops."""
    t = events["t"].array.asi8.tolist()
    return list(
        zip(
            t,
            events["event"].astype(object).tolist(),
            events["old_state"].astype(object).where(events["old_state"].notna(), None).tolist(),
            events["state"].astype(object).tolist(),
            events["worker"].astype(object).where(events["worker"].notna(), None).tolist(),
        )
    )


def naive(rows: list[tuple]) -> tuple[dict, list, dict]:
    """The same three results computed one row at a time."""
    step = pd.Timedelta(FREQ).value
    bins: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    counts = dict.fromkeys(HANDLE_STATES, 0)
    timeline = []
    per_worker: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    slot = {"done": 0, "failed": 1, "worker_timeout": 2}
    for t, event, old, new, worker in rows:
        if event in slot:
            bins[t // step][slot[event]] += 1
            if worker is not None:
                per_worker[worker][slot[event]] += 1
        if old is not None:
            counts[old] -= 1
        counts[new] += 1
        timeline.append((t, counts["initial"], counts["reserved"], counts["done"], counts["failed"]))
    return dict(bins), timeline, dict(per_worker)


def check_same(events: pd.DataFrame) -> None:
    """Assert that the naive and vectorised results agree on a small stream."""
    through, timeline, rates = vectorised(events)
    bins, naive_timeline, per_worker = naive(as_rows(events))
    step = pd.Timedelta(FREQ).value
    for start, row in through.iterrows():
        expected = bins.get(start.value // step, [0, 0, 0])
        assert [row["done"], row["failed"], row["worker_timeout"]] == expected
    assert np.array_equal(timeline.to_numpy(), np.array(naive_timeline)[:, 1:])
    for worker, row in rates.iterrows():
        assert [row["done"], row["failed"], row["worker_timeout"]] == per_worker[worker]


def median_time(func, *args, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=int, default=50)
    args = parser.parse_args()

    start = time.perf_counter()
    events = synthetic_events(args.events)
    print(f"generated {len(events):,} events for {events['did'].cat.categories.size:,} files "
          f"in {time.perf_counter() - start:.1f} s")
    small = synthetic_events(args.events // args.scale, seed=2)
    check_same(small)
    print(f"naive and vectorised agree on {len(small):,} events")

    fast = median_time(vectorised, events, repeat=args.repeat)
    rows = as_rows(small)
    slow_small = median_time(naive, rows, repeat=args.repeat)
    slow = slow_small * len(events) / len(small)
    print(f"vectorised, {len(events):,} events (median of {args.repeat}): {fast:.2f} s")
    print(f"naive loop, {len(small):,} events (median of {args.repeat}): {slow_small:.2f} s "
          f"-> scaled x{len(events) / len(small):.1f}: {slow:.1f} s")
    print(f"ratio naive/vectorised: {slow / fast:.0f}x")


if __name__ == "__main__":
    main()
