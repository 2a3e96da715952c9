"""ProjectCreator preview of a 100,000-file selection vs the bare MetaCat query of the same MQL.

Starts the embedded server with a 100,000-file demo catalog, then runs, interleaved
``--repeat`` times:

* baseline: ``list(MetaCatClient.query(mql))`` (the catalog query alone, streamed and parsed);
* preview: :func:`dd_notebook.widgets.preview.compute_preview` (the same query, the
  ``file_summary`` lookup of every file's replicas and datasets, the pandas summary
  and the HTML of the first 20 rows).

Prints the medians and their ratio.

Usage: python benchmarks/preview.py [--files N] [--repeat R] [--mql TEXT]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dd_notebook.client import DataDispatcherClient
from dd_notebook.metacat import MetaCatClient
from dd_notebook.server import LocalServer
from dd_notebook.widgets.preview import compute_preview


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mql", default="files from dune:all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with LocalServer(db=Path(tmp) / "bench.sqlite", demo=True, demo_files=args.files) as srv:
            print(f"demo catalog of {args.files:,} files loaded and served in {time.perf_counter() - started:.1f} s")
            client = DataDispatcherClient(srv.url, srv.auth_url, token=srv.issue_token("alice"),
                                          token_library=str(Path(tmp) / "lib"))
            metacat = MetaCatClient(srv.metacat_url)
            baseline, preview = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                files = list(metacat.query(args.mql))
                baseline.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                result = compute_preview(metacat, args.mql, client)
                result._repr_html_()
                preview.append(time.perf_counter() - t0)
            assert result.file_count == len(files)
    base, prev = statistics.median(baseline), statistics.median(preview)
    print(f"query: {args.mql!r} -> {len(files):,} files, {result.total_size_text}")
    print(f"baseline (bare MetaCatClient.query): median {base:.2f} s  runs {', '.join(f'{t:.2f}' for t in baseline)}")
    print(f"preview (compute_preview + HTML):   median {prev:.2f} s  runs {', '.join(f'{t:.2f}' for t in preview)}")
    print(f"ratio preview / baseline: {prev / base:.2f}")


if __name__ == "__main__":
    main()
