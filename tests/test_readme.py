"""The README's first-session example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def test_readme_example_runs(tmp_path, monkeypatch):
    text = (Path(__file__).parent.parent / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("DATA_DISPATCHER_URL", "DATA_DISPATCHER_AUTH_URL", "METACAT_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    view = namespace["view"]
    assert view.handles["state"].eq("done").all() and len(view.handles) == 100
    assert view.project["query"].startswith("files from hd-protodune-det-reco:full-reco-2024")
    assert not (tmp_path / ".token_library").exists(), "a throwaway server's token reached the user's library"
