"""Server CPU time and memory of the standard project listing against the columnar one (the baseline,
measured in the same run), and of the ``create_project`` reply against the creation itself.

Usage::

    python benchmarks/listing.py                  # 10^6 catalog files with their replicas (slow: minutes)
    python benchmarks/listing.py --files 100000   # quicker

The server runs in a process of its own; its CPU time (user + system) is read
from ``/proc`` around each request (medians over the rounds, the forms taking
turns). Memory is the server's peak resident size above what it held before
the request, each form measured in a freshly started server on the same
database (a server that already answered keeps the memory it freed for its
next answers). The client reads each answer in pieces and throws them away, so
it costs the server what a real download costs. Goals: the standard listing
within 2x the columnar one in CPU and memory, and the reply to
``create_project`` (the project with its handles) cheaper than the creation.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
from _server import served, token_for

COLUMNS = "application/vnd.dd-notebook.columns+jsonl"
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _memory_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def measure(pid: int, request: Callable[[], requests.Response]) -> tuple[float, float, float, int]:
    """Return (wall s, server CPU s, server peak MB above its resident size before, body bytes)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak resident size (VmHWM)
    before_rss, before_cpu = _memory_kib(pid, "VmRSS"), _cpu_seconds(pid)
    start = time.perf_counter()
    size = 0
    with request() as answer:
        answer.raise_for_status()
        for piece in answer.iter_content(1 << 20):
            size += len(piece)
    wall = time.perf_counter() - start
    time.sleep(0.2)  # the server's thread has finished its accounting
    cpu = _cpu_seconds(pid) - before_cpu
    peak = (_memory_kib(pid, "VmHWM") - before_rss) / 1024
    return wall, cpu, peak, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000, help="catalog files, all in the project")
    parser.add_argument("--rounds", type=int, default=5, help="requests of each form (medians are printed)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(args.files, args.rounds, Path(tmp) / "listing.sqlite")


def _forms(session: requests.Session, url: str, project_id: int) -> dict[str, Callable[[], requests.Response]]:
    project = {"project_id": project_id}
    return {
        "columnar": lambda: session.get(f"{url}/project", params=project, headers={"Accept": COLUMNS}, stream=True),
        "standard": lambda: session.get(f"{url}/project", params=project, stream=True),
        "reply": lambda: session.get(f"{url}/project", params={**project, "with_replicas": "no"}, stream=True),
    }


def run(files: int, rounds: int, db: Path) -> None:
    """Load the catalog and create the project, then measure every form."""
    process: list[subprocess.Popen[bytes]] = []
    with served(db=db, demo_files=files, process=process) as (base, _):
        pid = process[-1].pid
        url = base + "/dd/data"
        session = requests.Session()
        session.headers["X-Authentication-Token"] = token_for(db, "admin")
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            names = [did for (did,) in conn.execute("SELECT namespace || ':' || name FROM mc_files")]
            replicas = conn.execute("SELECT count(*) FROM replicas").fetchone()[0]
        print(f"{len(names):,} handles, {replicas:,} replicas")

        created: dict[str, int] = {}

        def create() -> requests.Response:
            answer = session.post(f"{url}/create_project", json={"files": names}, stream=True)
            created["id"] = answer.json()["project_id"] if answer.ok else 0
            return answer

        _, create_cpu, create_peak, _ = measure(pid, create)
        figures: dict[str, list[tuple[float, float, float, int]]] = {}
        for _ in range(rounds):
            for form, request in _forms(session, url, created["id"]).items():
                figures.setdefault(form, []).append(measure(pid, request))
    median = {form: [statistics.median(one[i] for one in runs) for i in range(4)] for form, runs in figures.items()}
    for form in median:
        with served(db=db, demo_files=files, process=process) as (base, _):
            median[form][2] = measure(process[-1].pid, _forms(session, base + "/dd/data", created["id"])[form])[2]
    print(f"{'answer':34s} {'wall s':>8s} {'CPU s':>8s} {'peak MB':>8s} {'body MB':>8s}")
    labels = {"columnar": "project, columnar (baseline)", "standard": "project, standard JSON",
              "reply": "create_project reply (handles)"}
    for form, (wall, cpu, peak, size) in median.items():
        print(f"{labels[form]:34s} {wall:8.2f} {cpu:8.2f} {peak:8.0f} {size / 1e6:8.0f}")
    print(f"{'create_project (whole request)':34s} {'':8s} {create_cpu:8.2f} {create_peak:8.0f}")
    columnar, standard = median["columnar"], median["standard"]
    print(f"standard / columnar: CPU {standard[1] / columnar[1]:.2f}x, memory {standard[2] / columnar[2]:.2f}x "
          f"(goal: 2x); reply / whole create_project CPU: {median['reply'][1] / create_cpu:.2f} (goal: < 1)")


if __name__ == "__main__":
    main()
