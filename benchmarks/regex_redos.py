"""ReDoS patterns on the embedded server: RE2 against Python's backtracking ``re``.

Baseline (measured in the same run): Python ``re`` searching ``^(.|.){0,N}Z``
in a text of ``N + 4`` letters, which is what the server did before; its cost
doubles with each repetition, so N is kept small (``--re-n``, default 20).
Then, over real HTTP to an embedded server with a few projects carrying a
5,000-character attribute and a 3,000-file demo catalog, the median times of

* a project search ``note ~ '^(.|.){0,26}Z'`` and a benign ``note ~ '^a'``,
* an MQL query ``core.data_tier ~ '^(.|.){0,26}Z'`` and a benign ``core.data_tier ~ '^raw'``,
* ``version`` answered while four hostile searches run at the same time.

Usage: python benchmarks/regex_redos.py [--repeat R] [--re-n N]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
from pathlib import Path

import requests

from dd_notebook.server import LocalServer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frames_events import median_time  # noqa: E402

REDOS = "^(.|.){0,26}Z"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--re-n", type=int, default=20)
    args = parser.parse_args()

    pattern = re.compile(f"^(.|.){{0,{args.re_n}}}Z")
    baseline = median_time(lambda: pattern.search("a" * (args.re_n + 4)), repeat=max(1, args.repeat // 2))
    print(f"baseline: Python re, ^(.|.){{0,{args.re_n}}}Z on {args.re_n + 4} letters: {baseline * 1e3:.1f} ms "
          f"(x2 per extra repetition: about {baseline * 2 ** (26 - args.re_n):.0f} s at 26)")

    with tempfile.TemporaryDirectory() as tmp, LocalServer(db=Path(tmp) / "b.sqlite", demo=True,
                                                           demo_files=3000) as srv:
        session = requests.Session()
        session.headers["X-Authentication-Token"] = srv.issue_token("alice")
        for i in range(20):
            session.post(f"{srv.url}/create_project", json={
                "files": [{"namespace": "n", "name": f"f{i}"}],
                "project_attributes": {"note": "a" * 5000}}).raise_for_status()

        def search(query: str) -> None:
            session.post(f"{srv.url}/search_projects", json={"query": query}).raise_for_status()

        def mql(query: str) -> None:
            requests.post(f"{srv.metacat_url}/data/query", data=query).raise_for_status()

        rows = [
            ("search, hostile", lambda: search(f"note ~ '{REDOS}'")),
            ("search, benign", lambda: search("note ~ '^a'")),
            ("MQL, hostile", lambda: mql(f"files from dune:all where core.data_tier ~ '{REDOS}'")),
            ("MQL, benign", lambda: mql("files from dune:all where core.data_tier ~ '^raw'")),
        ]
        medians = {name: median_time(action, repeat=args.repeat) for name, action in rows}
        for name, value in medians.items():
            print(f"{name:>18}: {value * 1e3:8.1f} ms   ratio to baseline {value / baseline:8.3f}")

        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                search(f"note ~ '{REDOS}'")

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        version = median_time(lambda: requests.get(f"{srv.url}/version").raise_for_status(), repeat=args.repeat * 4)
        stop.set()
        for thread in threads:
            thread.join()
        print(f"version during 4 hostile searches: {version * 1e3:.1f} ms   ratio to baseline {version / baseline:.3f}")


if __name__ == "__main__":
    main()
