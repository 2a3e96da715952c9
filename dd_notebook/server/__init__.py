"""The embedded Data Dispatcher server: DD data server, auth server and catalog on SQLite.

Names load on first use, so that importing a submodule (for example
``dd_notebook.server.errors`` from the catalog) does not start the whole server.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"LocalServer": ".local", "ServerApp": ".app", "SweepSettings": ".app"}

__all__ = ["LocalServer", "ServerApp", "SweepSettings"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dd_notebook.server' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
