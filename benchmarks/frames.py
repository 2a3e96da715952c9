"""Goal: handles + replicas frames of a 200,000-handle project at least 5x faster than the upstream way,
with peak memory at most 2x the size of the resulting frames.

Same run, same server (``dd-notebook serve`` in its own process), a 200,000-file project with two
replicas per file:

(a) baseline: upstream ``datadispatcher-client`` ``get_project(with_replicas=True)``, then
    ``pandas.DataFrame(handles)`` and a Python loop for the replicas frame;
(b) ours: ``DataDispatcherClient.get_project_columns`` + ``handles_frame`` + ``replicas_frame``;
(c) floor: download of the same standard JSON bytes + ``orjson.loads``.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import statistics
import time
import tracemalloc

import orjson
import pandas as pd
import requests
from _server import served, token_for


def _setup(base: str, db_path, token: str, n_files: int) -> int:
    files = [f"bench:run{i // 1000:05d}_{i:07d}.root" for i in range(n_files)]
    project = requests.post(f"{base}/dd/data/create_project", headers={"X-Authentication-Token": token},
                            data=orjson.dumps({"files": files, "common_attributes": {}})).json()
    with sqlite3.connect(db_path) as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO replicas(namespace, name, rse, path, url, urls, preference, available) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [("bench", f[6:], rse, f"/pnfs/{f[6:]}", f"root://{rse.lower()}/{f[6:]}",
              orjson.dumps([f"root://{rse.lower()}/{f[6:]}"]).decode(), pref, int(rse != "FNAL_TAPE"))
             for f in files for rse, pref in (("FNAL_DCACHE", 0), ("FNAL_TAPE", 10))])
    return project["project_id"]


def _measure(fn) -> tuple[float, float, object]:
    """Time ``fn`` in one call, then measure its peak Python memory in a second call under tracemalloc
    (tracemalloc slows allocation-heavy code several times, so it cannot be timed at the same time)."""
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t0
    del result
    gc.collect()
    tracemalloc.start()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak, result


def baseline(url: str, token: str, pid: int):
    from data_dispatcher.api import DataDispatcherClient as UpstreamClient

    client = UpstreamClient(server_url=url, auth_server_url=url + "/auth", token=token, worker_id="bench")
    project = client.get_project(pid, with_files=True, with_replicas=True)
    handles = pd.DataFrame(project["file_handles"])
    rows = []
    for handle in project["file_handles"]:
        for rse, replica in handle["replicas"].items():
            rows.append({"namespace": handle["namespace"], "name": handle["name"], "rse": rse,
                         "url": replica["url"], "preference": replica["preference"],
                         "available": replica["available"], "rse_available": replica["rse_available"]})
    return handles, pd.DataFrame(rows)


def ours(url: str, token: str, pid: int):
    from dd_notebook.client import DataDispatcherClient
    from dd_notebook.frames import handles_frame, replicas_frame

    client = DataDispatcherClient(url, url + "/auth", token=token, worker_id="bench")
    listing = client.get_project_columns(pid, with_files=True, with_replicas=True)
    return handles_frame(listing), replicas_frame(listing)


def floor(url: str, pid: int):
    response = requests.get(f"{url}/project", params={"project_id": pid, "with_files": "yes", "with_replicas": "yes"})
    return orjson.loads(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with served() as (base, db_path):
        token = token_for(db_path, "alice")
        url = base + "/dd/data"
        pid = _setup(base, db_path, token, args.files)
        results: dict[str, list[tuple[float, float]]] = {"a": [], "b": [], "c": []}
        frames_bytes = 0
        for _ in range(args.repeat):
            t, peak, _ = _measure(lambda: baseline(url, token, pid))
            results["a"].append((t, peak))
            t, peak, (handles, replicas) = _measure(lambda: ours(url, token, pid))
            results["b"].append((t, peak))
            frames_bytes = int(handles.memory_usage(deep=True).sum() + replicas.memory_usage(deep=True).sum())
            del handles, replicas
            t, peak, _ = _measure(lambda: floor(url, pid))
            results["c"].append((t, peak))
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in results.items()}
    print(f"project: {args.files} handles, {2 * args.files} replicas; median of {args.repeat} runs")
    for key, label in (("a", "(a) upstream client + DataFrame + loop"), ("b", "(b) dd-notebook frames"),
                       ("c", "(c) floor: JSON download + orjson.loads")):
        print(f"{label:42s} {med[key][0]:7.2f} s   peak {med[key][1] / 1e6:8.1f} MB")
    print(f"speed-up (a)/(b): {med['a'][0] / med['b'][0]:.1f}x (goal >= 5x); (b)/(c): {med['b'][0] / med['c'][0]:.2f}")
    print(f"frames size {frames_bytes / 1e6:.1f} MB; peak of (b) / frames size: {med['b'][1] / frames_bytes:.2f} "
          "(goal <= 2)")


if __name__ == "__main__":
    main()
