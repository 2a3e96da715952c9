"""``dd-notebook demo``: the command-line face of :func:`dd_notebook.demo.run_demo`."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .demo import DemoSettings, run_demo
from .sim import LogNormal


def _demo(args: argparse.Namespace) -> int:
    defaults = DemoSettings()
    fleet = dataclasses.replace(
        defaults.fleet,
        workers=args.workers if args.workers is not None else defaults.fleet.workers,
        processing_time=LogNormal(args.time) if args.time is not None else defaults.fleet.processing_time,
        seed=args.seed if args.seed is not None else defaults.fleet.seed,
        max_seconds=args.max_seconds if args.max_seconds is not None else defaults.fleet.max_seconds,
    )
    settings = dataclasses.replace(
        defaults,
        catalog_files=args.files if args.files is not None else defaults.catalog_files,
        worker_timeout=args.worker_timeout if args.worker_timeout is not None else defaults.worker_timeout,
        fleet=fleet,
    )
    result = run_demo(args.out, settings, progress=not args.no_progress,
                      say=lambda line: print(f"• {line}", flush=True))
    out = result.notebook.parent
    print()
    print(f"Done in {result.seconds:.0f} s. Post-mortem of project {result.project_id}:")
    if result.html is not None:
        print(f"  {result.html}   <- open it in a browser (self-contained, works offline)")
    print(f"  {result.notebook}   <- the executed notebook")
    print()
    print("Explore the same data:")
    print(f"  dd-notebook serve --db {result.database}      # the demo server again, with this project")
    print(f"  dd-notebook report {result.project_id} --url http://127.0.0.1:8080/dd/data -o {out} --html")
    print('  pip install -e ".[jupyter]" && jupyter lab notebooks/   # the notebooks, in JupyterLab')
    return 0


def register(commands: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` command to the ``dd-notebook`` sub-command parser."""
    demo = commands.add_parser("demo", help="run a simulated campaign on the embedded server and write its post-mortem")
    demo.add_argument("-o", "--out", default="dd-demo", help="output folder (default ./dd-demo)")
    demo.add_argument("--files", type=int, help="files in the demo catalog (default 3000; the query takes ~30 %%)")
    demo.add_argument("--workers", type=int, help="simulated workers (default 16)")
    demo.add_argument("--time", type=float, help="median processing time per file, seconds (default 1.2)")
    demo.add_argument("--worker-timeout", type=float, help="project worker timeout, seconds (default 8)")
    demo.add_argument("--max-seconds", type=float, help="stop the campaign after this many seconds (default 150)")
    demo.add_argument("--seed", type=int, help="simulation seed (default 2026)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    return demo

