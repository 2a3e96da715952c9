"""ipywidgets panels: log in, create a project from MQL, browse and act on projects, monitor, manage RSEs.

===================  ========================================================
``LoginPanel``       server and auth URLs, password or token login
``ProjectCreator``   MQL query -> preview (counts, sizes, availability) -> create
``ProjectBrowser``   filter or search projects, act on the selected one
``ProjectMonitor``   live counts, throughput, ETA, failures, stalled flag
``RSEPanel``         RSE table, availability toggles (admins), proximity heatmap
===================  ========================================================

Every panel owns its widget tree in ``.widget`` and displays itself; each
action is also a method, usable without the UI. Panels load ipywidgets only
when imported, so ``import dd_notebook`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_PANELS = {
    "LoginPanel": "login",
    "ProjectCreator": "creator",
    "ProjectBrowser": "browser",
    "ProjectMonitor": "monitor",
    "RSEPanel": "rses",
}

__all__ = ["LoginPanel", "ProjectBrowser", "ProjectCreator", "ProjectMonitor", "RSEPanel"]


def __getattr__(name: str) -> Any:
    module = _PANELS.get(name)
    if module is None:
        raise AttributeError(f"module 'dd_notebook.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
