"""Goal: the project browser lists 1,000 projects with their handle counts without fetching their handles.

Same run, same server (``dd-notebook serve`` in its own process), 1,000 projects of 50 files each:

(a) baseline: ``client.list_projects(owner="all", with_files=True)`` and counting each project's handle
    states in Python (what a browser without a count endpoint has to do);
(b) ours: ``ProjectBrowser.refresh()`` with owner ``all``: one listing without handles and one
    ``project_counts`` request, then the frame and the first page of the table.

Prints the median of ``--repeat`` runs of each and the ratio baseline / ours.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import requests
from _server import served, token_for


def _setup(url: str, token: str, n_projects: int, n_files: int) -> None:
    session = requests.Session()
    headers = {"X-Authentication-Token": token}
    for p in range(n_projects):
        body = {"files": [f"bench:p{p:04d}_f{i:03d}.root" for i in range(n_files)],
                "project_attributes": {"virtual": True, "campaign": f"c{p % 10}"}}
        response = session.post(f"{url}/create_project", headers=headers, data=orjson.dumps(body))
        response.raise_for_status()


def _median(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from dd_notebook.client import DataDispatcherClient
    from dd_notebook.widgets.browser import ProjectBrowser

    with served() as (base, db_path):
        url = base + "/dd/data"
        token = token_for(db_path, "alice")
        t0 = time.perf_counter()
        _setup(url, token, args.projects, args.files)
        print(f"setup: {args.projects} projects of {args.files} files in {time.perf_counter() - t0:.1f} s")
        client = DataDispatcherClient(url, base + "/auth", token=token, worker_id="bench")

        def baseline() -> dict[int, Counter]:
            projects = client.list_projects(owner="all", with_files=True)
            return {p["project_id"]: Counter(h["state"] for h in p["file_handles"]) for p in projects}

        browser = ProjectBrowser(client, load=False)
        browser.filters.owner.value = "all"
        base_s, counted = _median(baseline, args.repeat)
        ours_s, frame = _median(browser.refresh, args.repeat)
        assert browser.error == "", browser.error
        assert len(frame) == len(counted) == args.projects
        assert frame["n_handles"].tolist() == [sum(counted[p].values()) for p in frame["project_id"]]
        print(f"baseline list_projects(with_files=True) + Counter: median {base_s * 1000:8.1f} ms")
        print(f"ProjectBrowser.refresh() (list + project_counts): median {ours_s * 1000:8.1f} ms")
        print(f"ratio baseline / ours: {base_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()
