"""The public API is re-exported from ``dd_notebook`` and ``__all__`` lists exactly it."""

from __future__ import annotations

import subprocess
import sys
import types

import dd_notebook


def test_all_names_resolve():
    for name in dd_notebook.__all__:
        assert getattr(dd_notebook, name) is not None, name
    assert sorted(dd_notebook.__all__) == sorted(set(dd_notebook.__all__))


def test_all_is_the_public_namespace():
    public = {n for n in dir(dd_notebook) if not n.startswith("_")
              and not isinstance(getattr(dd_notebook, n), types.ModuleType)}
    assert public - {"annotations", "Any"} == set(dd_notebook.__all__) - {"__version__"}


def test_import_is_light():
    code = "import sys, dd_notebook; print('pandas' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_unknown_attribute():
    try:
        dd_notebook.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
