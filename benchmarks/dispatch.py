"""Goal: the dispatch cycle (next_file + release) runs at >= 50% of the request rate of ``version``.

16 concurrent workers (threads with keep-alive connections) against ``dd-notebook serve`` in its
own process. Both loads run in the same run against the same server; each is repeated and the
median is reported.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
from urllib.parse import urlencode, urlsplit

import requests
from _server import served, token_for


def _load(base: str, n_workers: int, work) -> float:
    """Run ``work(conn, index)`` in n_workers threads; return requests per second."""
    host = urlsplit(base).netloc
    counts = [0] * n_workers
    barrier = threading.Barrier(n_workers + 1)

    def run(i: int) -> None:
        conn = http.client.HTTPConnection(host)
        barrier.wait()
        counts[i] = work(conn, i)
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_workers)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def dispatch_rate(base: str, token: str, files_per_worker: int, n_workers: int) -> float:
    files = [f"bench:f{i:07d}" for i in range(files_per_worker * n_workers)]
    project = requests.post(base + "/dd/data/create_project", data=json.dumps(
        {"files": files, "project_attributes": {"virtual": True}}),
        headers={"X-Authentication-Token": token}).json()
    pid = project["project_id"]
    headers = {"X-Authentication-Token": token}

    def work(conn: http.client.HTTPConnection, i: int) -> int:
        requests_sent = 0
        for _ in range(files_per_worker):
            status, body = _get(conn, "/dd/data/next_file?" + urlencode({"project_id": pid, "worker_id": f"w{i}"}),
                                headers)
            requests_sent += 1
            handle = json.loads(body)["handle"] if status == 200 else None
            if handle is None:
                continue
            handle_id = f"{pid}:{handle['namespace']}:{handle['name']}"
            status, _ = _get(conn, "/dd/data/release?" + urlencode({"handle_id": handle_id, "worker_id": f"w{i}"}),
                             headers)
            assert status == 200
            requests_sent += 1
        return requests_sent

    return _load(base, n_workers, work)


def version_rate(base: str, requests_per_worker: int, n_workers: int) -> float:
    def work(conn: http.client.HTTPConnection, i: int) -> int:
        for _ in range(requests_per_worker):
            status, _ = _get(conn, "/dd/data/version", {})
            assert status == 200
        return requests_per_worker

    return _load(base, n_workers, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--files-per-worker", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with served() as (base, db_path):
        token = token_for(db_path, "alice")
        dispatch, trivial = [], []
        for _ in range(args.repeat):
            dispatch.append(dispatch_rate(base, token, args.files_per_worker, args.workers))
            trivial.append(version_rate(base, 2 * args.files_per_worker, args.workers))
    ratios = [d / v for d, v in zip(dispatch, trivial)]
    print(f"workers={args.workers} cycles/worker={args.files_per_worker} repeats={args.repeat}")
    print(f"dispatch (next_file + release): median {statistics.median(dispatch):8.1f} req/s  runs "
          + ", ".join(f"{x:.0f}" for x in dispatch))
    print(f"version (trivial):              median {statistics.median(trivial):8.1f} req/s  runs "
          + ", ".join(f"{x:.0f}" for x in trivial))
    print(f"ratio dispatch/version: median {statistics.median(ratios):.2f} (goal >= 0.50)")


if __name__ == "__main__":
    main()
