"""What a report reads: the client, and per project its fields, handles, replicas and events (fetched once).

A report only reads. Every fetch is lazy and remembered, failures included,
so that a section needing something unreachable fails at once with the same
message instead of asking the server again, and the sections that do not
need it still render.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..frames import events_frame
from ..recorder import read_records
from ..view import ProjectView

EventsPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Mapping[Any, str | os.PathLike[str]] | None

#: Read timeout of the report's HTTP requests, seconds.
CLIENT_TIMEOUT = 60.0


def normalize_project_ids(project_ids: int | Sequence[int]) -> list[int]:
    """Project ids as a non-empty list of distinct ints; a clear ``ValueError`` otherwise."""
    ids = [project_ids] if isinstance(project_ids, (int, str)) else list(project_ids)
    try:
        parsed = [int(pid) for pid in ids]
    except (TypeError, ValueError):
        raise ValueError(f"project ids must be integers, got {ids!r}") from None
    if not parsed:
        raise ValueError("no project id given")
    if len(set(parsed)) != len(parsed):
        raise ValueError(f"project ids repeat: {parsed}")
    return parsed


def normalize_events_paths(project_ids: Sequence[int], events_paths: EventsPaths) -> dict[int, str]:
    """``events_paths`` as ``{project_id: absolute path}`` (a report kernel runs in the output folder).

    Accepts ``None``, one path (only for a single project), a sequence with
    one path per project (``None`` entries read the server), or a mapping
    project id → path.
    """
    if events_paths is None:
        return {}
    if isinstance(events_paths, (str, os.PathLike)):
        if len(project_ids) != 1:
            raise ValueError("one events path was given for several projects: pass one path per project "
                             "or a mapping project_id -> path")
        return {project_ids[0]: os.path.abspath(events_paths)}
    if isinstance(events_paths, Mapping):
        paths = {}
        for key, path in events_paths.items():
            pid = int(key)
            if pid not in project_ids:
                raise ValueError(f"events path given for project {pid}, which is not in the report")
            if path is not None:
                paths[pid] = os.path.abspath(path)
        return paths
    listed = list(events_paths)
    if len(listed) != len(project_ids):
        raise ValueError(f"{len(listed)} events paths for {len(project_ids)} projects: give one per project")
    return {pid: os.path.abspath(path) for pid, path in zip(project_ids, listed) if path is not None}


class Remembered:
    """Results of named loaders, computed once; an exception is remembered and raised again."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._errors: dict[str, Exception] = {}

    def get(self, name: str, loader: Callable[[], Any]) -> Any:
        """The value of ``loader()`` (computed on first call)."""
        if name in self._errors:
            raise self._errors[name]
        if name not in self._values:
            try:
                self._values[name] = loader()
            except Exception as exc:
                self._errors[name] = exc
                raise
        return self._values[name]


class ProjectData:
    """One project of a report: lazy, remembered fetches.

    Parameters
    ----------
    client_of
        Returns the Data Dispatcher client (called on first fetch).
    project_id
        The project.
    gui_url
        DD GUI server for handle logs a production data server cannot serve.
    events_path
        A :class:`~dd_notebook.recorder.ProjectRecorder` file to read events
        from instead of the server's handle log.
    """

    def __init__(self, client_of: Callable[[], Any], project_id: int, *, gui_url: str | None = None,
                 events_path: str | None = None) -> None:
        self.project_id = int(project_id)
        self.gui_url = gui_url
        self.events_path = events_path
        self._client_of = client_of
        self._cache = Remembered()

    def _view(self) -> ProjectView:
        return self._cache.get("view", lambda: ProjectView(self._client_of(), self.project_id, gui_url=self.gui_url))

    @property
    def project(self) -> Mapping[str, Any]:
        """The project's fields."""
        return self._cache.get("project", lambda: self._view().project)

    @property
    def handles(self) -> pd.DataFrame:
        """The handles frame (current states, as the server holds them)."""
        return self._cache.get("handles", lambda: self._view().handles)

    @property
    def replicas(self) -> pd.DataFrame:
        """The replicas frame."""
        return self._cache.get("replicas", lambda: self._view().replicas)

    @property
    def events(self) -> pd.DataFrame:
        """The events frame, from the recorder file when one was given, else from the handle log."""
        return self._cache.get("events", self._load_events)

    def events_or_none(self) -> pd.DataFrame | None:
        """The events, or ``None`` when they cannot be read."""
        try:
            return self.events
        except Exception:
            return None

    @property
    def events_source(self) -> str:
        """Where the events come from, in words."""
        if self.events_path:
            return f"recorder file {self.events_path}"
        if self.gui_url:
            return f"server handle log (GUI server {self.gui_url} when the data server has none)"
        return "server handle log"

    def _load_events(self) -> pd.DataFrame:
        if not self.events_path:
            return self._view().events
        path = Path(self.events_path)
        if not path.is_file():
            raise FileNotFoundError(f"events file {path} does not exist")
        records = list(read_records(path))
        others = {r.get("project_id") for r in records} - {self.project_id}
        if others:
            raise ValueError(f"events file {path} holds records of project(s) {sorted(map(str, others))}, "
                             f"not only {self.project_id}")
        return events_frame(records)


class Report:
    """The parameters of a report run and its projects.

    Parameters
    ----------
    project_ids
        Projects, in report order.
    url
        Data Dispatcher server URL (default: env ``DATA_DISPATCHER_URL``).
    gui_url, events_paths, window, title
        As :func:`dd_notebook.report.build_report`.
    client_factory
        Builds the client from the URL (default: :class:`~dd_notebook.client.DataDispatcherClient`).
    """

    def __init__(self, project_ids: int | Sequence[int], *, url: str | None = None, gui_url: str | None = None,
                 events_paths: EventsPaths = None, window: str = "15min", title: str | None = None,
                 client_factory: Callable[[str | None], Any] | None = None) -> None:
        self.project_ids = normalize_project_ids(project_ids)
        self.url = url or os.environ.get("DATA_DISPATCHER_URL")
        self.gui_url = gui_url
        self.events_paths = normalize_events_paths(self.project_ids, events_paths)
        self.window = window
        self.title = title or default_title(self.project_ids)
        self.run_at = pd.Timestamp.now(tz="UTC")
        self._client_factory = client_factory or _default_client
        self._cache = Remembered()
        self._projects: dict[int, ProjectData] = {}

    @property
    def client(self) -> Any:
        """The Data Dispatcher client (built on first use; read-only use, no login)."""
        return self._cache.get("client", lambda: self._client_factory(self.url))

    def project(self, index: int) -> ProjectData:
        """The ``index``-th project of the report."""
        pid = self.project_ids[index]
        if pid not in self._projects:
            self._projects[pid] = ProjectData(lambda: self.client, pid, gui_url=self.gui_url,
                                              events_path=self.events_paths.get(pid))
        return self._projects[pid]

    @property
    def parameters(self) -> dict[str, Any]:
        """The run's parameters, for the provenance footer."""
        return {"project_ids": self.project_ids, "url": self.url, "gui_url": self.gui_url,
                "events_paths": self.events_paths or None, "window": self.window, "title": self.title}


def default_title(project_ids: Sequence[int]) -> str:
    """``Post-mortem of project 42`` / ``Post-mortem of projects 42, 43``."""
    ids = ", ".join(str(pid) for pid in project_ids)
    return f"Post-mortem of project{'s' if len(project_ids) > 1 else ''} {ids}"


def _default_client(url: str | None) -> Any:
    from ..client import DataDispatcherClient

    return DataDispatcherClient(url, timeout=CLIENT_TIMEOUT)
