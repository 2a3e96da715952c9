"""The package's layering, checked on the source (AST imports, nothing is imported to check it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dd_notebook"

#: What the embedded server must never import: the client side of the package.
SERVER_FORBIDDEN = ("dd_notebook.client", "dd_notebook.metacat", "dd_notebook.widgets", "dd_notebook.report",
                    "dd_notebook.sim")
LOWER_LAYERS = ("frames", "analysis", "plots", "palette", "rendering")
UPPER_LAYERS = tuple(f"dd_notebook.{name}" for name in ("widgets", "report", "sim", "demo", "view", "live"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (``from x import y`` counts ``x`` and ``x.y``)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add(origin)
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return found


def _files(*parts: str) -> list[Path]:
    root = PACKAGE.joinpath(*parts)
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


def _offending(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        bad = sorted(name for name in imported_modules(path)
                     if any(name == f or name.startswith(f + ".") for f in forbidden))
        if bad:
            found[str(path.relative_to(PACKAGE.parent))] = bad
    return found


def test_the_import_reader_resolves_relative_imports(tmp_path):
    source = PACKAGE / "server" / "catalog" / "web.py"
    names = imported_modules(source)
    assert "dd_notebook.server.core.http" in names
    assert "dd_notebook.server.catalog.errors" in names


def test_the_server_never_imports_the_client_side():
    assert _offending(_files("server"), SERVER_FORBIDDEN) == {}


def test_the_catalog_service_never_imports_the_top_level_package():
    offending = {}
    for path in _files("server", "catalog"):
        names = imported_modules(path)
        top = sorted(n for n in names if n in ("dd_notebook", "dd_notebook.__version__")
                     or (n.count(".") == 1 and n.startswith("dd_notebook.") and not n.startswith("dd_notebook.server")
                         and n != "dd_notebook.errors"))
        if top:
            offending[path.name] = top
    assert offending == {}


def test_the_core_imports_no_service():
    services = ("dd_notebook.server.dd", "dd_notebook.server.auth", "dd_notebook.server.catalog",
                "dd_notebook.server.app", "dd_notebook.server.local", "dd_notebook.server.demo")
    assert _offending(_files("server", "core"), services) == {}


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_lower_layers_never_import_upper_ones(layer):
    assert _offending(_files(layer), UPPER_LAYERS) == {}


def test_the_old_catalog_path_only_re_exports():
    assert sorted(p.name for p in (PACKAGE / "catalog").glob("*.py")) == ["__init__.py"]
    assert imported_modules(PACKAGE / "catalog" / "__init__.py") - {"dd_notebook.server.catalog"} == {
        f"dd_notebook.server.catalog.{name}" for name in __import__("dd_notebook.catalog").catalog.__all__}


def test_reports_never_import_the_panels():
    """A report kernel needs no ipywidgets: shared HTML pieces live in ``dd_notebook.rendering``."""
    assert _offending(_files("report"), ("dd_notebook.widgets",)) == {}
