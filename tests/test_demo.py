"""``dd-notebook demo`` end to end, with fast settings: server, project from MQL, campaign, report."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from dd_notebook.cli import main
from dd_notebook.client import DataDispatcherClient
from dd_notebook.demo import DEMO_QUERY
from dd_notebook.server import LocalServer


@pytest.mark.slow
def test_demo_writes_an_executed_report_of_a_finished_campaign(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "dd-demo"
    argv = ["demo", "-o", str(out), "--files", "300", "--workers", "6", "--time", "0.02",
            "--worker-timeout", "2", "--max-seconds", "90", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    reports = sorted(out.glob("dd-report-*.ipynb"))
    htmls = sorted(out.glob("dd-report-*.html"))
    assert len(reports) == 1 and len(htmls) == 1
    assert str(htmls[0]) in printed and str(reports[0]) in printed
    assert f"dd-notebook serve --db {out / 'dd.sqlite'}" in printed

    with LocalServer(db=out / "dd.sqlite", demo=False) as server:
        client = DataDispatcherClient(server.url, server.auth_url, token_library=str(tmp_path / "lib"))
        client.login_password("alice", "alice")
        [project] = client.list_projects(owner="all", state=None, with_files=True)
    assert project["query"] == DEMO_QUERY
    states = [h["state"] for h in project["file_handles"]]
    assert states and set(states) <= {"done", "failed"}, "the campaign did not finish"
    assert project["state"] in ("done", "failed")
    assert any(h["attempts"] > 1 for h in project["file_handles"]), "no file was retried"

    book = nbformat.read(reports[0], as_version=4)
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    html_parts = [o.get("data", {}).get("text/html", "") for o in outputs]
    assert not [h for h in html_parts if "dd-error-box" in h], [h for h in html_parts if "dd-error-box" in h]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3, [
        sorted(o.get("data", {})) for o in outputs]
    text = json.dumps(html_parts)
    assert f"{states.count('done')} of {len(states)} files done" in text
