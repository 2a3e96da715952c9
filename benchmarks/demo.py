"""Benchmark: ``dd-notebook demo`` end to end with its default settings, against the 3-minute goal.

Usage::

    python benchmarks/demo.py [--runs 3]

Each run starts the embedded server on a fresh database in a temporary folder,
creates the demo project from its MQL query, runs the simulated campaign and
writes the executed post-mortem report and its HTML -- exactly what
``dd-notebook demo`` does. The script prints every run's wall time per step
(server, project, campaign, report), the median total, and its ratio to the
named baseline: the goal of 180 s for the whole demo on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from dd_notebook.demo import run_demo

GOAL_S = 180.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    totals = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="dd-demo-bench-") as folder:
            result = run_demo(Path(folder) / "dd-demo", progress=False)
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.phases.items())
        print(f"run {run}: {result.seconds:.1f} s ({steps}); {result.simulation.reservations} reservations")
        totals.append(result.seconds)
    median = statistics.median(totals)
    print(f"median demo wall time {median:.1f} s over {len(totals)} runs; goal {GOAL_S:.0f} s; "
          f"ratio to the goal {median / GOAL_S:.2f} (below 1 meets it)")


if __name__ == "__main__":
    main()
