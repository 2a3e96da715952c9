"""Latency of ``version`` and of dispatch (``next_file``/``release`` on another project) while one big
request runs on a big project, against the same probes on an idle server (the baseline, same run).

Usage::

    python benchmarks/big_requests.py                 # 10^6 handles and catalog files (slow: minutes)
    python benchmarks/big_requests.py --files 100000 --catalog-files 100000   # quicker

Prints, per big request, the p99 and max of both probes while it ran, and the
ratio of the p99 to the idle server's p99. The probes run in processes of their
own, so the big request's client (JSON of hundreds of megabytes) does not
hold up their GIL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from collections.abc import Callable
from multiprocessing.synchronize import Event
from queue import Queue

import requests
from _server import served, token_for

COLUMNS = "application/vnd.dd-notebook.columns+jsonl"


def _probe(kind: str, url: str, token: str, project_id: int, until: Event, out: Queue) -> None:
    """Probe the server until ``until`` is set, in a process of its own (the big request's client, which
    serialises and parses hundreds of megabytes of JSON, must not hold up the probe's GIL), and put the
    waits on ``out``."""
    session = requests.Session()
    session.headers["X-Authentication-Token"] = token
    waits = []
    while not until.is_set():
        start = time.perf_counter()
        if kind == "version":
            session.get(f"{url}/version")
        else:
            got = session.get(f"{url}/next_file", params={"project_id": project_id, "worker_id": "w"}).json()
            if got.get("handle"):
                handle = got["handle"]
                session.get(f"{url}/release", params={
                    "handle_id": f"{project_id}:{handle['namespace']}:{handle['name']}", "worker_id": "w"})
        waits.append(time.perf_counter() - start)
        time.sleep(0.005)
    out.put((kind, waits))


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000, help="handles of the big project")
    parser.add_argument("--catalog-files", type=int, default=1_000_000, help="files of the demo catalog")
    parser.add_argument("--declare-files", type=int, default=100_000, help="files of one catalog load")
    args = parser.parse_args()
    with served(demo_files=args.catalog_files) as (base, db):
        url = base + "/dd/data"
        session = requests.Session()
        session.headers["X-Authentication-Token"] = token_for(db, "admin")
        names = [f"np04_raw_run{i // 1000:06d}_{i % 1000:04d}_dl{i % 7}_datawriter_raw_20240101T000000.hdf5"
                 for i in range(args.files)]
        small = session.post(f"{url}/create_project", json={
            "files": [f"probe:f{i}" for i in range(100_000)], "project_attributes": {"virtual": True}}).json()

        token = token_for(db, "admin")
        context = multiprocessing.get_context("spawn")

        def measure(label: str, work: Callable[[], object]) -> tuple[float, float, float, float, float]:
            done, out = context.Event(), context.Queue()
            probes = [context.Process(target=_probe, args=(kind, url, token, small["project_id"], done, out))
                      for kind in ("version", "dispatch")]
            for process in probes:
                process.start()
            time.sleep(1.0)  # the probes are running
            start = time.perf_counter()
            work()
            elapsed = time.perf_counter() - start
            done.set()
            results = dict(out.get() for _ in probes)
            for process in probes:
                process.join()
            return (elapsed, _p99(results["version"]), max(results["version"]), _p99(results["dispatch"]),
                    max(results["dispatch"]))

        idle = measure("idle", lambda: time.sleep(3))
        print(f"{args.files:,} handles; baseline (idle server): version p99 {idle[1] * 1e3:.1f} ms, "
              f"dispatch p99 {idle[3] * 1e3:.1f} ms")
        print(f"{'request':28s} {'time s':>8s} {'version p99/max ms':>20s} {'dispatch p99/max ms':>21s} "
              f"{'p99 ratio':>10s}")
        created: dict[str, int] = {}

        def create() -> None:
            answer = session.post(f"{url}/create_project", json={"files": [f"dune:{n}" for n in names]})
            answer.raise_for_status()
            created["id"] = answer.json()["project_id"]

        metacat = base + "/metacat/app"
        loaded = [{"name": f"np04_raw_run{i // 1000:06d}_{i % 1000:04d}_dl{i % 7}_load.hdf5", "size": 1 + i,
                   "metadata": {"core.runs": [i // 1000], "core.data_tier": "raw"}} for i in range(args.declare_files)]

        def catalog_load() -> None:
            session.get(f"{metacat}/data/create_namespace", params={"name": "bench-load"}).raise_for_status()
            session.post(f"{metacat}/data/declare_files", params={"namespace": "bench-load"},
                         json=loaded).raise_for_status()

        def catalog_query() -> None:
            with session.post(f"{metacat}/data/query", data=b"files from dune:all", stream=True) as answer:
                answer.raise_for_status()
                for _ in answer.iter_content(1 << 20):
                    pass

        jobs: list[tuple[str, Callable[[], object]]] = [
            (f"catalog query ({args.catalog_files:,})", catalog_query),
            (f"catalog load ({args.declare_files:,})", catalog_load),
            ("create_project", create)]
        pid = lambda: {"project_id": created["id"]}  # noqa: E731
        jobs += [
            ("copy_project", lambda: created.setdefault(
                "copy", session.post(f"{url}/copy_project", json=pid()).json()["project_id"])),
            ("project (standard)", lambda: session.get(f"{url}/project", params=pid())),
            ("project (columnar)", lambda: session.get(f"{url}/project", params=pid(), headers={"Accept": COLUMNS})),
            ("project_files", lambda: session.get(f"{url}/project_files", params=pid())),
            ("handles", lambda: session.get(f"{url}/handles", params=pid())),
            ("project_handles_log", lambda: session.get(f"{url}/project_handles_log", params=pid())),
            ("gui handle_logs", lambda: session.get(f"{base}/dd/gui/P/handle_logs", params=pid())),
            ("search_projects", lambda: session.post(f"{url}/search_projects",
                                                     json={"query": f"id = {created['id']}", "with_handles": True})),
            ("cancel_project", lambda: session.get(f"{url}/cancel_project", params=pid())),
            ("activate_project", lambda: session.get(f"{url}/activate_project", params=pid())),
            ("restart_project", lambda: session.get(f"{url}/restart_project", params={**pid(), "failed_only": "no"})),
            ("delete_project", lambda: session.get(f"{url}/delete_project", params=pid())),
            ("delete_project (copy)", lambda: session.get(f"{url}/delete_project",
                                                          params={"project_id": created["copy"]})),
        ]
        for label, work in jobs:
            elapsed, v99, vmax, d99, dmax = measure(label, work)
            print(f"{label:28s} {elapsed:8.2f} {v99 * 1e3:9.1f} /{vmax * 1e3:9.1f} {d99 * 1e3:10.1f} "
                  f"/{dmax * 1e3:9.1f} {max(v99 / idle[1], d99 / idle[3]):10.1f}")


if __name__ == "__main__":
    main()
