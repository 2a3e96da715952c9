"""The declared dependencies: tested lower bounds, the minimum-versions job, and a lean worker install."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]

#: What a worker script installs besides dd-notebook itself (``pip install --no-deps``).
WORKER_DEPENDENCIES = {"requests", "orjson", "pyjwt"}


def _load_generator():
    spec = importlib.util.spec_from_file_location("min_constraints", ROOT / ".ci" / "min_constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


min_constraints = _load_generator()


def lower_bound(requirement: Requirement) -> Version:
    (bound,) = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    return bound


@pytest.mark.parametrize("requirement", RUNTIME, ids=lambda r: r.name)
def test_each_runtime_dependency_has_a_lower_bound_that_the_installed_version_meets(requirement):
    try:
        installed = Version(version(requirement.name))
    except PackageNotFoundError:
        pytest.fail(f"{requirement.name} is declared but not installed")
    assert installed >= lower_bound(requirement), f"{requirement.name} {installed} is below {requirement}"


def test_the_lower_bound_of_pandas_admits_no_release_without_string_na_value():
    """``StringDtype(na_value=...)``, used by every frame, arrived in pandas 2.3 (2.2.3 fails at import)."""
    (pandas,) = [r for r in RUNTIME if r.name == "pandas"]
    assert lower_bound(pandas) >= Version("2.3")
    assert not pandas.specifier.contains("2.2.3")


def test_the_constraints_pin_every_dependency_to_its_lowest_declared_version():
    pins = min_constraints.lowest_pins(min_constraints.declared_requirements(ROOT / "pyproject.toml"))
    pinned = {Requirement(p).name.lower(): Requirement(p) for p in pins}
    for requirement in RUNTIME:
        pin = pinned[requirement.name.lower()]
        assert str(pin.specifier) == f"=={lower_bound(requirement)}", pin
        assert not pin.extras  # pip constraints cannot carry extras (uvicorn[standard])
    assert {"pytest", "pytest-timeout", "responses"} <= set(pinned)


def test_the_generator_refuses_a_requirement_it_cannot_pin():
    assert min_constraints.lowest_pin("uvicorn[standard]>=0.29,<1") == "uvicorn==0.29"
    with pytest.raises(ValueError, match="declare exactly one lower bound"):
        min_constraints.lowest_pin("pandas")
    with pytest.raises(ValueError, match="two different lower bounds"):
        min_constraints.lowest_pins(["nbclient>=0.10", "nbclient>=0.11"])


def test_the_generator_prints_the_constraints_file():
    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "min_constraints.py")], capture_output=True,
                          text=True, check=True)
    lines = done.stdout.split()
    assert "pandas==2.3" in lines and all("==" in line for line in lines)


def test_ci_runs_ruff_mypy_and_the_minimum_versions_job():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -e ".[test]" && python -m pytest' in script  # the README's test command
    assert "python -m ruff check ." in script and "python -m mypy" in script
    assert ".ci/min_constraints.py" in script and '-c "$min_env/min-constraints.txt"' in script
    for pattern in ("tests/test_client_unit.py", "tests/test_frames*.py", "tests/test_analysis*.py"):
        assert pattern in script and list(ROOT.glob(pattern)), pattern
    extras = PYPROJECT["project"]["optional-dependencies"]["test"]
    assert {"ruff", "mypy"} <= {Requirement(r).name for r in extras}


WORKER = """
import importlib.abc, json, sys

ALLOWED = set(sys.argv[1].split(","))
THIRD_PARTY = set(sys.argv[2].split(","))


class OnlyWorkerDependencies(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in THIRD_PARTY and top not in ALLOWED:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed on a worker)", name=name)
        return None


sys.meta_path.insert(0, OnlyWorkerDependencies())
from dd_notebook import DataDispatcherClient
from dd_notebook.metacat import MetaCatClient

server, auth, token, workdir = sys.argv[3:7]
client = DataDispatcherClient(server, auth, token=token, token_library=workdir + "/library",
                              worker_id_file=workdir + "/worker_id")
clients = (DataDispatcherClient, MetaCatClient)  # both import on a worker
pid = client.create_project(["lean:a", "lean:b", "lean:c"], project_attributes={"virtual": True})["project_id"]
done = []
while isinstance(handle := client.next_file(pid, stagger=0, timeout=5), dict):
    done.append(client.file_done(pid, f"{handle['namespace']}:{handle['name']}")["name"])
missing = client.get_project(10**9)  # the upstream answer for an unknown project: None
loaded = sorted({m.partition(".")[0] for m in sys.modules} & THIRD_PARTY)
print(json.dumps({"project_id": pid, "done": done, "missing": missing, "loaded": loaded}))
"""

#: Import names of every third-party package that the default install brings in.
THIRD_PARTY_IMPORTS = {"requests", "orjson", "jwt", "urllib3", "certifi", "idna", "charset_normalizer", "cryptography",
                       "pandas", "numpy", "matplotlib", "ipywidgets", "IPython", "ipykernel", "nbformat", "nbconvert",
                       "nbclient", "starlette", "uvicorn", "lark", "re2", "platformdirs", "tqdm", "anyio"}


def test_a_worker_loop_runs_with_only_the_client_dependencies(server, tmp_path):
    """``pip install --no-deps dd-notebook requests orjson PyJWT`` is enough for a worker script."""
    allowed = {"requests", "urllib3", "certifi", "idna", "charset_normalizer", "orjson", "jwt", "cryptography"}
    declared = {r.name.lower() for r in RUNTIME}
    assert WORKER_DEPENDENCIES <= declared
    done = subprocess.run(
        [sys.executable, "-c", WORKER, ",".join(sorted(allowed)), ",".join(sorted(THIRD_PARTY_IMPORTS)),
         server.url, server.auth_url, server.issue_token("alice"), str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(result["done"]) == ["a", "b", "c"] and result["missing"] is None
    assert set(result["loaded"]) <= allowed and "requests" in result["loaded"]
    handles = server_handles(server, result["project_id"], tmp_path)
    assert {h["name"]: h["state"] for h in handles} == {"a": "done", "b": "done", "c": "done"}


def server_handles(server, project_id: int, tmp_path: Path) -> list[dict]:
    """The handles as the server holds them, read with a client of the full install."""
    from dd_notebook.client import DataDispatcherClient

    reader = DataDispatcherClient(server.url, server.auth_url, token=server.issue_token("alice"),
                                  token_library=str(tmp_path / "reader-library"))
    return reader.get_project(project_id, with_files=True)["file_handles"]
