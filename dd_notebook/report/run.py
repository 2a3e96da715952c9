"""Validate, execute (nbclient) and export (nbconvert, one self-contained HTML file) a report notebook."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .builder import build_report, inject_parameters, report_parameters
from .data import EventsPaths

log = logging.getLogger(__name__)

KERNEL_NAME = "python3"

# The lab template links require.js, MathJax, mermaid and the widget manager from public CDNs.
# A report shows static outputs only (images, HTML, text), so those blocks are left empty:
# the page loads nothing from outside and looks the same offline.
_SELF_CONTAINED_TEMPLATE = """\
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
_TEMPLATE_FILE = "dd_report.html.j2"


class ReportError(RuntimeError):
    """A report could not be executed or exported (the message says which cell or step failed)."""


@dataclass(frozen=True)
class ReportFiles:
    """Where a written report is.

    Attributes
    ----------
    notebook
        The executed ``.ipynb``.
    html
        The self-contained HTML file, or ``None`` when not asked for.
    """

    notebook: Path
    html: Path | None


def execute(notebook: NotebookNode, *, timeout: float = 600, cwd: str | os.PathLike[str] | None = None,
            kernel_name: str = KERNEL_NAME) -> NotebookNode:
    """Validate and run every cell of ``notebook`` in a fresh kernel; returns the executed notebook.

    Raises
    ------
    ReportError
        The notebook is not valid, a cell raised (section errors are shown in
        the report, so this means the set-up failed), the kernel died or a cell
        ran longer than ``timeout`` seconds.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        raise ReportError(f"the report notebook is not valid: {exc.message}") from exc
    path = os.fspath(cwd) if cwd is not None else os.getcwd()
    client = NotebookClient(notebook, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": path}})
    try:
        client.execute()
    except CellExecutionError as exc:
        raise ReportError(f"a report cell failed: {_first_line(exc)}") from exc
    except CellTimeoutError as exc:
        raise ReportError(f"a report cell ran longer than {timeout:g} s") from exc
    except DeadKernelError as exc:
        raise ReportError(f"the report kernel died: {exc}") from exc
    return notebook


def _first_line(exc: BaseException) -> str:
    name, value = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if name:
        return f"{name}: {value}" if value else str(name)
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def export_html(notebook: NotebookNode) -> str:
    """One self-contained HTML page of an executed notebook: code hidden, no prompts, images embedded.

    Uses nbconvert's ``lab`` template without its CDN scripts (require.js,
    MathJax, mermaid, widget manager); styles are inlined and images are
    ``data:`` URLs.
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({_TEMPLATE_FILE: _SELF_CONTAINED_TEMPLATE})],
        template_file=_TEMPLATE_FILE,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(notebook)
    return body


def report_stem(project_ids: Sequence[int]) -> str:
    """File name stem: ``dd-report-42``, ``dd-report-42-43``, ``dd-report-1-2-3-4-5-and-7-more``."""
    shown = "-".join(str(pid) for pid in project_ids[:5])
    more = f"-and-{len(project_ids) - 5}-more" if len(project_ids) > 5 else ""
    return f"dd-report-{shown}{more}"


def write_report(
    project_ids: int | Sequence[int],
    out_dir: str | os.PathLike[str],
    *,
    url: str | None = None,
    gui_url: str | None = None,
    events_paths: EventsPaths = None,
    html: bool = True,
    timeout: float = 600,
    title: str | None = None,
) -> ReportFiles:
    """Build, validate, execute and export the post-mortem report of one or more projects.

    Parameters
    ----------
    project_ids
        The projects, in report order.
    out_dir
        Folder for the executed notebook and the HTML file (created if missing).
    url
        Data Dispatcher server URL (default: env ``DATA_DISPATCHER_URL``).
    gui_url, events_paths, title
        As :func:`~dd_notebook.report.build_report`.
    html
        Also write the self-contained HTML file.
    timeout
        Longest time one cell may run, seconds.

    Returns
    -------
    ReportFiles
        Paths of the executed notebook and of the HTML file.

    Raises
    ------
    ValueError
        No server URL, or bad project ids / events paths.
    ReportError
        Execution or export failed (the notebook executed so far is still written).
    """
    url = url or os.environ.get("DATA_DISPATCHER_URL")
    if not url:
        raise ValueError("no Data Dispatcher server URL: pass url= or set DATA_DISPATCHER_URL")
    values = report_parameters(project_ids, url=url, gui_url=gui_url, events_paths=events_paths,
                               window="15min", title=title)
    notebook = build_report(values["project_ids"], url=url, gui_url=gui_url, events_paths=values["events_paths"],
                            title=values["title"])
    inject_parameters(notebook, values)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = report_stem(values["project_ids"])
    notebook_path = out / f"{stem}.ipynb"
    try:
        execute(notebook, timeout=timeout, cwd=out)
    finally:
        nbformat.write(notebook, notebook_path)
    log.info("report notebook written to %s", notebook_path)
    if not html:
        return ReportFiles(notebook_path, None)
    html_path = out / f"{stem}.html"
    try:
        page = export_html(notebook)
    except Exception as exc:
        raise ReportError(f"exporting the report to HTML failed: {exc}") from exc
    html_path.write_text(page, encoding="utf-8")
    log.info("report HTML written to %s", html_path)
    return ReportFiles(notebook_path, html_path)
