"""``dd-notebook report PROJECT_ID... -o DIR``: write a project's post-mortem notebook (and HTML)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _report(args: argparse.Namespace) -> int:
    from .run import ReportError, write_report

    events: Any = args.events
    if events and all("=" in item for item in events):
        events = dict(item.split("=", 1) for item in events)
    try:
        files = write_report(args.project_ids, args.output, url=args.url, gui_url=args.gui_url,
                             events_paths=events or None, html=args.html, timeout=args.timeout, title=args.title)
    except (ValueError, ReportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"notebook: {files.notebook}")
    if files.html is not None:
        print(f"html: {files.html}")
    return 0


def register(commands: Any) -> argparse.ArgumentParser:
    """Add the ``report`` sub-command to the ``dd-notebook`` sub-parsers ``commands``."""
    report = commands.add_parser("report", help="write the post-mortem report of one or more projects")
    report.add_argument("project_ids", metavar="PROJECT_ID", type=int, nargs="+")
    report.add_argument("--url", help="Data Dispatcher server URL (default: env DATA_DISPATCHER_URL)")
    report.add_argument("--gui-url", help="DD GUI server URL, for data servers without a handle log")
    report.add_argument("--events", nargs="+", metavar="PATH",
                        help="recorder files with the events: one per project, or PROJECT_ID=PATH items")
    report.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the report files")
    report.add_argument("--html", action="store_true", help="also write a self-contained HTML file")
    report.add_argument("--title", help="report title")
    report.add_argument("--timeout", type=float, default=600, help="longest run of one cell, seconds (default 600)")
    report.set_defaults(func=_report)
    return report
