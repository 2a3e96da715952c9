"""MQL engine vs. bare SQLite on a 1,000,000-file demo catalog.

Builds the demo catalog once (or reuses it) in the temporary directory, picks a
run range holding about 10 % of all files, and runs

    files from hd-protodune:raw-2024 where core.data_tier=raw and core.runs[any] in A:B

through (1) the engine returning dicts (``Catalog.query``), (2) the engine
producing json-seq bytes (the code path of the ``data/query`` endpoint) and
(3) real HTTP (uvicorn in another process, streamed with ``requests``). The floor is a
hand-written SQLite statement selecting the same rows and columns from the same
file with the same indexes; a naive JSON-scan statement is shown for context.
The variants run interleaved several times; medians of time-to-first-result
and total are printed.

Usage: python benchmarks/mql.py [--files N] [--repeat R] [--db PATH] [--no-http]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import requests

from dd_notebook.catalog import Catalog
from dd_notebook.server.catalog.demo import load_demo_catalog
from dd_notebook.server.catalog.querying import query_json_seq
from dd_notebook.server.catalog.records import file_columns
from dd_notebook.server.catalog.schema import connect, json_path

FLOOR_SQL = f"""
SELECT {file_columns(False, False)} FROM mc_files f
WHERE f.id IN (SELECT file_id FROM mc_meta_values WHERE key_id = ? AND vtype = 0 AND value BETWEEN ? AND ?)
  AND EXISTS (SELECT 1 FROM mc_dataset_files d WHERE d.dataset_id = ? AND d.file_id = f.id)
  AND f.retired = 0 AND json_extract(f.metadata, ?) = 'raw'
"""
SCAN_SQL = f"""
SELECT {file_columns(False, False)} FROM mc_dataset_files d JOIN mc_files f ON f.id = d.file_id
WHERE d.dataset_id = ? AND f.retired = 0 AND json_extract(f.metadata, ?) = 'raw'
  AND json_extract(f.metadata, ?) BETWEEN ? AND ?
"""


def prepare(db: Path, n_files: int) -> None:
    """Build the demo catalog in ``db`` unless it is already there."""
    conn = connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    try:
        if conn.execute("SELECT count(*) FROM mc_files").fetchone()[0] == n_files:
            print(f"reusing {db} ({n_files:,} files)")
            return
        if conn.execute("SELECT count(*) FROM mc_files").fetchone()[0]:
            raise SystemExit(f"{db} holds another catalog; remove it or pass --db")
        print(f"building a {n_files:,}-file demo catalog in {db} ...", flush=True)
        summary = load_demo_catalog(conn, n_files=n_files)
        print(f"  loaded in {summary['seconds']:.1f} s, {db.stat().st_size / 1e9:.2f} GB")
    finally:
        conn.close()


def run_range(db: Path, share: float) -> tuple[int, int, int]:
    """First and last run of a range holding about ``share`` of all files, and its raw-file count."""
    conn = connect(db, create_schema=False)
    total = conn.execute("SELECT count(*) FROM mc_files").fetchone()[0]
    rows = conn.execute("SELECT json_extract(metadata, '$.\"core.runs\"[0]') AS run, count(*) FROM mc_files "
                        "WHERE namespace = 'hd-protodune' GROUP BY run ORDER BY run").fetchall()
    conn.close()
    start = len(rows) // 4
    count = 0
    for index in range(start, len(rows)):
        count += rows[index][1]
        if count >= share * total:
            return rows[start][0], rows[index][0], count
    return rows[start][0], rows[-1][0], count


def timed(consume: Callable[[], Iterable[object]]) -> tuple[float, float, int]:
    """Return (seconds to first item, seconds in total, items) of one run."""
    started = time.perf_counter()
    first = None
    count = 0
    for _ in consume():
        if first is None:
            first = time.perf_counter() - started
        count += 1
    return first or 0.0, time.perf_counter() - started, count


def measure(variants: dict[str, Callable[[], Iterable[object]]], repeat: int) -> list[tuple[str, float, float, int]]:
    """Median (first, total) of each variant; runs are interleaved so that load changes hit all alike."""
    for consume in variants.values():
        timed(consume)
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, consume in variants.items():
            runs[name].append(timed(consume))
    return [(name, statistics.median(r[0] for r in found), statistics.median(r[1] for r in found), found[0][2])
            for name, found in runs.items()]


_SERVE = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from dd_notebook.server.catalog.app import create_catalog_app
app = Starlette(routes=[Mount("/metacat/app", app=create_catalog_app(sys.argv[1], lambda request: None))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


@contextlib.contextmanager
def serve(db: Path) -> Iterator[str]:
    """Serve the catalog app from ``db`` in another process (so client and server do not share a GIL)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-c", _SERVE, str(db), str(port)])
    url = f"http://127.0.0.1:{port}/metacat/app"
    try:
        for _ in range(600):
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{url}/data/version", timeout=1).ok:
                    break
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def http_records(url: str, mql: str) -> Iterator[bytes]:
    with requests.post(f"{url}/data/query", data=mql, params={"with_meta": "no"}, stream=True) as response:
        response.raise_for_status()
        yield from response.iter_lines(chunk_size=65536)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--share", type=float, default=0.10)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    db = args.db or Path(tempfile.gettempdir()) / f"dd_notebook_mql_bench_{args.files}.sqlite"
    prepare(db, args.files)
    low, high, expected = run_range(db, args.share)
    mql = f"files from hd-protodune:raw-2024 where core.data_tier=raw and core.runs[any] in {low}:{high}"
    print(f"query: {mql}\nexpected: {expected:,} files ({expected / args.files:.1%} of the catalog)\n")

    catalog = Catalog.open(db)
    conn = catalog.conn
    runs_key = conn.execute("SELECT id FROM mc_meta_keys WHERE key = 'core.runs'").fetchone()[0]
    dataset = conn.execute("SELECT id FROM mc_datasets WHERE namespace = 'hd-protodune' AND name = 'raw-2024'"
                           ).fetchone()[0]
    tier = json_path("core.data_tier")
    floor_args = (runs_key, low, high, dataset, tier)
    scan_args = (dataset, tier, json_path("core.runs") + "[0]", low, high)

    variants: dict[str, Callable[[], Iterable[object]]] = {
        "floor: bare SQLite, same indexes": lambda: conn.execute(FLOOR_SQL, floor_args),
        "engine -> dicts (Catalog.query)": lambda: catalog.query(mql),
        "engine -> json-seq (HTTP code path)": lambda: query_json_seq(conn, mql),
        "context: bare SQLite, JSON scan": lambda: conn.execute(SCAN_SQL, scan_args),
    }
    with contextlib.ExitStack() as stack:
        if not args.no_http:
            url = stack.enter_context(serve(db))
            variants["HTTP: POST data/query, streamed"] = lambda: http_records(url, mql)
        results = measure(variants, args.repeat)
    catalog.close()

    floor = results[0][2]
    print(f"{'variant':40} {'first (ms)':>11} {'total (ms)':>11} {'rows':>9} {'x floor':>8}")
    for name, first, total, rows in results:
        print(f"{name:40} {first * 1e3:11.1f} {total * 1e3:11.1f} {rows:9,} {total / floor:8.2f}")
    print(f"\nmedians of {args.repeat} interleaved runs after one warm-up; json-seq rows are chunks of ~100 kB, "
          "HTTP rows are records")


if __name__ == "__main__":
    main()
