"""Build a report notebook (nbformat v4): set-up, parameters, then the sections of each project in order.

Cells stay short: each calls a function of :mod:`dd_notebook.report.sections`
inside a ``sections.guard(...)`` block, so a section that fails shows an error
box and the others still render. Parameters follow papermill's convention (a
cell tagged ``parameters``; :func:`inject_parameters` adds a cell tagged
``injected-parameters`` after it), without depending on papermill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook

from .data import EventsPaths, default_title, normalize_events_paths, normalize_project_ids

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
PARAMETER_NAMES = ("project_ids", "url", "gui_url", "events_paths", "window", "title")

SETUP_SOURCE = """\
%matplotlib inline
from IPython.display import display

from dd_notebook.report import sections
from dd_notebook.report.data import Report"""

REPORT_SOURCE = """\
report = Report(project_ids, url=url, gui_url=gui_url, events_paths=events_paths, window=window, title=title)
display(*sections.header(report))"""

#: (name shown in an error box, call) of each project section, in report order; ``{p}`` is the project variable.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Verdict", "sections.verdict({p}, window)"),
    ("Handle states over time", "sections.state_timeline({p})"),
    ("Throughput", "sections.throughput({p})"),
    ("Failure rates", "sections.failure_rates({p})"),
    ("Slowest files", "sections.slowest_files({p})"),
    ("Permanently failed files", "sections.permanent_failures({p})"),
    ("Worker timeouts", "sections.worker_timeouts({p})"),
    ("Restarting what failed", "sections.restart_calls({p}, report.url)"),
    ("Provenance", "sections.provenance(report, {p})"),
)


def parameters_source(values: Mapping[str, Any], comment: str = "") -> str:
    """Python assignments ``name = <literal>`` for the report parameters."""
    lines = [comment] if comment else []
    lines += [f"{name} = {values.get(name)!r}" for name in PARAMETER_NAMES]
    return "\n".join(lines)


def report_parameters(project_ids: int | Sequence[int], *, url: str | None, gui_url: str | None,
                      events_paths: EventsPaths, window: str, title: str | None) -> dict[str, Any]:
    """Checked, literal-only parameter values (what a parameters cell holds)."""
    ids = normalize_project_ids(project_ids)
    if not isinstance(window, str) or not window.strip():
        raise ValueError(f"window must be a duration text such as '15min', got {window!r}")
    paths = normalize_events_paths(ids, events_paths)
    return {"project_ids": ids, "url": url, "gui_url": gui_url, "events_paths": paths or None,
            "window": window, "title": title or default_title(ids)}


def _section_cell(index: int, section: str, call: str) -> NotebookNode:
    return new_code_cell(f"with sections.guard({section!r}):\n    display(*{call.format(p=f'p{index}')})")


def build_report(
    project_ids: int | Sequence[int],
    *,
    url: str | None = None,
    gui_url: str | None = None,
    events_paths: EventsPaths = None,
    title: str | None = None,
    window: str = "15min",
) -> NotebookNode:
    """Build the (not executed) post-mortem notebook of one or more projects.

    Parameters
    ----------
    project_ids
        The projects, in report order.
    url
        Data Dispatcher server URL; ``None`` lets the kernel read env ``DATA_DISPATCHER_URL``.
    gui_url
        DD GUI server URL, for data servers that serve no handle log (production).
    events_paths
        Recorder files (:class:`~dd_notebook.recorder.ProjectRecorder`) to read
        events from instead of the handle log: one path per project (``None``
        entries read the server), a mapping project id → path, or one path for
        a single project.
    title
        Report title (default ``Post-mortem of project …``).
    window
        Rate window of the ETA check (a pandas duration text).

    Returns
    -------
    nbformat.NotebookNode
        A valid nbformat v4 notebook.

    Raises
    ------
    ValueError
        A project id, window or events path does not make sense.
    """
    values = report_parameters(project_ids, url=url, gui_url=gui_url, events_paths=events_paths, window=window,
                               title=title)
    cells = [
        new_code_cell(SETUP_SOURCE),
        new_code_cell(parameters_source(values), metadata={"tags": [PARAMETERS_TAG]}),
        new_code_cell(REPORT_SOURCE),
    ]
    for index, pid in enumerate(values["project_ids"]):
        cells.append(new_code_cell(f"p{index} = report.project({index})  # project {pid}\n"
                                   f"display(*sections.project_heading(p{index}))"))
        cells.extend(_section_cell(index, section, call) for section, call in SECTIONS)
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "title": values["title"],
    })
    nbformat.validate(notebook)
    return notebook


def inject_parameters(notebook: NotebookNode, values: Mapping[str, Any]) -> NotebookNode:
    """Put ``values`` in a cell tagged ``injected-parameters`` right after the ``parameters`` cell.

    An earlier injected cell is replaced. Names not given keep the value of the
    ``parameters`` cell. Returns the notebook (changed in place).
    """
    unknown = set(values) - set(PARAMETER_NAMES)
    if unknown:
        raise ValueError(f"unknown report parameters: {sorted(unknown)}")
    cells = [c for c in notebook.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    positions = [i for i, c in enumerate(cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    if not positions:
        raise ValueError("the notebook has no cell tagged 'parameters'")
    lines = ["# Parameters"] + [f"{name} = {value!r}" for name, value in values.items()]
    cells.insert(positions[0] + 1, new_code_cell("\n".join(lines), metadata={"tags": [INJECTED_TAG]}))
    notebook.cells = cells
    return notebook
