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
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    view = namespace["view"]
    assert view.handles["state"].eq("done").all() and len(view.handles) == 100
    assert (tmp_path / ".token_library").exists()
