"""Print pip constraints that pin each dependency of dd-notebook to its lowest declared version.

``.ci/run`` installs the package with these constraints into a fresh virtual
environment and runs the client, frames, analysis, plots, panels and report
tests there, so every ``>=`` bound in ``pyproject.toml`` is one that was tested.

Usage::

    python .ci/min_constraints.py [path/to/pyproject.toml] > min-constraints.txt

Runtime dependencies and the ``test`` extra are pinned: ``name>=X`` becomes
``name==X``, ``name==X`` stays as it is; extras in brackets are dropped (pip
constraints cannot carry them). A requirement without a lower bound is an
error, since its lowest version could not be installed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

PINNED_EXTRAS = ("test",)


def lowest_pin(requirement: str) -> str:
    """The ``name==version`` constraint of ``requirement``'s lowest allowed version.

    Raises
    ------
    ValueError
        The requirement has no ``>=`` or ``==`` bound.
    """
    parsed = Requirement(requirement)
    bounds = [spec.version for spec in parsed.specifier if spec.operator in (">=", "==")]
    if len(bounds) != 1:
        raise ValueError(f"{requirement!r}: declare exactly one lower bound (>= or ==) to pin it")
    return f"{parsed.name}=={bounds[0]}"


def lowest_pins(requirements: Iterable[str]) -> list[str]:
    """One ``name==version`` line per requirement, de-duplicated, in the given order."""
    pins: dict[str, str] = {}
    for requirement in requirements:
        pin = lowest_pin(requirement)
        name = pin.split("==", 1)[0].lower()
        if pins.setdefault(name, pin) != pin:
            raise ValueError(f"{name} is declared with two different lower bounds: {pins[name]} and {pin}")
    return list(pins.values())


def declared_requirements(pyproject: Path) -> list[str]:
    """The runtime dependencies and the requirements of :data:`PINNED_EXTRAS` in ``pyproject``."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    return [*project["dependencies"], *(req for extra in PINNED_EXTRAS for req in extras.get(extra, []))]


def main(argv: list[str]) -> int:
    pyproject = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "pyproject.toml"
    print("\n".join(lowest_pins(declared_requirements(pyproject))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
