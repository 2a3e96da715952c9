"""Every notebook in ``notebooks/`` runs top to bottom against a fresh embedded server."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SERVER_VARIABLES = ("DATA_DISPATCHER_URL", "DATA_DISPATCHER_AUTH_URL", "METACAT_SERVER_URL",
                    "METACAT_AUTH_SERVER_URL", "BEARER_TOKEN", "BEARER_TOKEN_FILE")


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"01-quickstart.ipynb", "02-create-project.ipynb",
                                         "03-campaign-postmortem.ipynb", "04-worker-loop.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SERVER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = {kind for o in outputs for kind in o.get("data", {})}
    assert shown & {"image/png", "application/vnd.jupyter.widget-view+json"}, "no figure or panel was shown"
