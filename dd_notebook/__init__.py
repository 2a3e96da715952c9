"""dd-notebook: a Jupyter toolkit for the Fermilab Data Dispatcher.

The client and its errors load at once; the pandas/matplotlib layers
(frames, views, recorder), the panels, the simulator, reports and the embedded
server load on first use, so that ``import dd_notebook`` stays quick in a
worker script.
"""

from __future__ import annotations

import importlib
from typing import Any

from .client import (
    AlreadyExistsError,
    AuthenticationError,
    AuthExpiredError,
    BadRequestError,
    DataDispatcherClient,
    DataDispatcherError,
    DDNotebookError,
    EndpointUnavailableError,
    HTTPError,
    InvalidResponseError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RequestTimeoutError,
    ServerError,
)

__version__ = "0.1.0"

_LAZY = {
    "LocalServer": "dd_notebook.server",
    "LoginPanel": "dd_notebook.widgets",
    "ProjectBrowser": "dd_notebook.widgets",
    "ProjectCreator": "dd_notebook.widgets",
    "ProjectMonitor": "dd_notebook.widgets",
    "RSEPanel": "dd_notebook.widgets",
    "ReportFiles": "dd_notebook.report",
    "Session": "dd_notebook.session",
    "SimConfig": "dd_notebook.sim",
    "SimResult": "dd_notebook.sim",
    "build_report": "dd_notebook.report",
    "connect": "dd_notebook.session",
    "run_demo": "dd_notebook.demo",
    "simulate": "dd_notebook.sim",
    "write_report": "dd_notebook.report",
    "MetaCatClient": "dd_notebook.metacat",
    "ProjectView": "dd_notebook.view",
    "ProjectRecorder": "dd_notebook.recorder",
    "events_frame": "dd_notebook.frames",
    "handles_frame": "dd_notebook.frames",
    "projects_frame": "dd_notebook.frames",
    "proximity_frame": "dd_notebook.frames",
    "replicas_frame": "dd_notebook.frames",
    "rses_frame": "dd_notebook.frames",
}

__all__ = [
    "AlreadyExistsError",
    "AuthExpiredError",
    "AuthenticationError",
    "BadRequestError",
    "DDNotebookError",
    "DataDispatcherClient",
    "DataDispatcherError",
    "EndpointUnavailableError",
    "HTTPError",
    "InvalidResponseError",
    "LocalServer",
    "LoginPanel",
    "MetaCatClient",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProjectBrowser",
    "ProjectCreator",
    "ProjectMonitor",
    "ProjectRecorder",
    "ProjectView",
    "RSEPanel",
    "ReportFiles",
    "RequestTimeoutError",
    "ServerError",
    "Session",
    "SimConfig",
    "SimResult",
    "__version__",
    "build_report",
    "connect",
    "events_frame",
    "handles_frame",
    "projects_frame",
    "proximity_frame",
    "replicas_frame",
    "rses_frame",
    "run_demo",
    "simulate",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dd_notebook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
