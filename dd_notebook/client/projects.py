"""Project methods of the seed API (dd-protocol §9.3–§9.5)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .base import ClientBase
from .errors import NotFoundError, ServerError

__all__ = ["ProjectsMixin", "copy_timeout", "normalize_files"]

_DURATION = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([smhdSMHD]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _yes_no(flag: Any) -> str:
    return "yes" if flag else "no"


def normalize_files(files: Iterable[Any], common_attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Convert file specifications to the objects ``create_project`` sends (dd-protocol §9.4).

    Args:
        files: Items are ``"namespace:name"`` strings (split at the first ``:``)
            or dicts with ``namespace``, ``name`` and optional ``attributes``.
        common_attributes: Attributes given to every file; a file's own
            attributes win on key conflicts.

    Returns:
        A list of ``{"name", "namespace", "attributes"}`` dicts.

    Raises:
        ValueError: an item is neither a valid dict nor a ``namespace:name`` string.
    """
    out = []
    for info in files:
        attrs = dict(common_attributes)
        if isinstance(info, Mapping):
            if "namespace" not in info or "name" not in info:
                raise ValueError(f"File specification must include namespace and name: {info!r}")
            attrs.update(info.get("attributes") or {})
            namespace, name = info["namespace"], info["name"]
        elif isinstance(info, str):
            if ":" not in info:
                raise ValueError(f"File specification must be 'namespace:name': {info!r}")
            namespace, name = info.split(":", 1)
        else:
            raise ValueError(f"Unrecognized file info type: {info!r}")
        out.append({"name": name, "namespace": namespace, "attributes": attrs})
    return out


def copy_timeout(value: Any) -> float | str:
    """Convert a ``copy_project`` timeout argument to the value sent (dd-protocol §9.5).

    ``"none"``/``"None"``/``"no timeout"`` → ``"no timeout"``; ``None``/``"default"``
    → ``"default"``; numbers and strings like ``"90"``, ``"10m"``, ``"2h"``, ``"1d"``
    → float seconds (upstream crashes on numbers, Q-COPYNUM; fixed here).

    Raises:
        ValueError: the value cannot be understood.
    """
    if value is None or value == "default":
        return "default"
    if value in ("none", "None", "no timeout"):
        return "no timeout"
    if isinstance(value, bool):
        raise ValueError(f"invalid timeout: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"invalid timeout: {value!r} (use seconds, <n>[smhd], 'none' or 'default')")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


class ProjectsMixin(ClientBase):
    """Create, copy, inspect, list, search, restart, cancel, activate and delete projects."""

    def create_project(
        self,
        files: Iterable[Any],
        common_attributes: Mapping[str, Any] = {},
        project_attributes: Mapping[str, Any] = {},
        query: str | None = None,
        worker_timeout: float | None = None,
        idle_timeout: float | None = ClientBase.DEFAULT_IDLE_TIMEOUT,
        users: Sequence[str] = [],
        roles: Sequence[str] = [],
    ) -> dict[str, Any]:
        """Creates new project.

        Args:
            files: Each item is a dict with keys ``namespace``, ``name`` and
                optional ``attributes``, or a string ``"namespace:name"``.
            common_attributes: Attributes attached to each file; a file's own
                attribute values win.
            project_attributes: Attributes attached to the new project.
            query: MQL query kept with the project for information only.
            worker_timeout: If not None, a handle reserved longer than this many
                seconds is released automatically.
            idle_timeout: Seconds without reserve/release activity after which
                the project is abandoned (default 72 h); None = never.
            users: Users who may use the worker interface besides the creator.
            roles: Roles whose members may use the worker interface.

        Returns:
            The new project (dict, with ``file_handles``).

        Raises:
            ValueError: a file specification is invalid (nothing is sent).
        """
        body = {
            "files": normalize_files(files, common_attributes),
            "project_attributes": dict(project_attributes),
            "query": query,
            "worker_timeout": worker_timeout,
            "idle_timeout": idle_timeout,
            "users": list(users or []),
            "roles": list(roles or []),
        }
        return self._http.post("create_project", body)

    def copy_project(
        self,
        project_id: int,
        common_attributes: Mapping[str, Any] = {},
        project_attributes: Mapping[str, Any] = {},
        worker_timeout: Any = None,
        idle_timeout: Any = None,
    ) -> dict[str, Any] | None:
        """Creates a new project with the files of an existing one.

        Args:
            project_id: Id of the project to copy.
            common_attributes: File attributes to override.
            project_attributes: Project attributes to override.
            worker_timeout: ``None``/``"default"`` keeps the original's, ``"none"``
                removes it, a number or ``"<n>[smhd]"`` sets it.
            idle_timeout: Same conventions as ``worker_timeout``.

        Returns:
            The new project, or None if the original does not exist.
        """
        body = {
            "project_id": project_id,
            "file_attributes": dict(common_attributes),
            "project_attributes": dict(project_attributes),
            "worker_timeout": copy_timeout(worker_timeout),
            "idle_timeout": copy_timeout(idle_timeout),
        }
        return self._http.post("copy_project", body)

    def restart_handles(
        self,
        project_id: int,
        done: bool = False,
        failed: bool = False,
        reserved: bool = False,
        all: bool = False,  # noqa: A002 - seed API name
        handles: Sequence[str] = [],
    ) -> dict[str, Any] | None:
        """Restart processing of project file handles.

        Args:
            project_id: Id of the project.
            done: Restart done handles.
            failed: Restart failed handles.
            reserved: Restart reserved handles.
            all: Restart all handles.
            handles: DIDs of specific handles to restart (the flags are then ignored).

        Returns:
            The project information after the restart.
        """
        if handles:
            body: dict[str, Any] = {"project_id": project_id, "handles": list(handles)}
        else:
            if all:
                done = failed = reserved = True
            body = {"project_id": project_id, "done": bool(done), "failed": bool(failed), "reserved": bool(reserved)}
        return self._http.post("restart_handles", body)

    def delete_project(self, project_id: int) -> None:
        """Deletes a project with its handles and logs (owner or admin) [2.0]."""
        return self._http.get("delete_project", [("project_id", project_id)])

    def cancel_project(self, project_id: int) -> dict[str, Any]:
        """Cancels a project by id.

        Returns:
            The project information (with handles and replicas).
        """
        return self._http.get("cancel_project", [("project_id", project_id)])

    def activate_project(self, project_id: int) -> dict[str, Any]:
        """Resets the state of a project (e.g. abandoned) back to "active".

        Returns:
            The project information (with handles and replicas).
        """
        return self._http.get("activate_project", [("project_id", project_id)])

    def get_project(
        self, project_id: int, with_files: bool = True, with_replicas: bool = False
    ) -> dict[str, Any] | None:
        """Gets information about the project.

        Args:
            project_id: Project id.
            with_files: Include the project's file handles.
            with_replicas: Include the replicas of each handle.

        Returns:
            The project (keys ``project_id``, ``owner``, ``state``, ``attributes``,
            ``created_timestamp``, ``ended_timestamp``, ``active``, ``query``,
            ``worker_timeout``, ``idle_timeout``, ...) or None if not found.
        """
        params = [
            ("project_id", project_id),
            ("with_files", _yes_no(with_files)),
            ("with_replicas", _yes_no(with_replicas)),
        ]
        return self._http.get("project", params, none_if_not_found=True)

    def get_handle(self, project_id: int, namespace: str, name: str) -> dict[str, Any] | None:
        """Gets information about a file handle (with replicas).

        Uses ``GET file_handle``; on servers where that endpoint is missing or
        broken (upstream answers 500) the handle is looked up in the project listing.

        Returns:
            The file handle, or None if the project or the handle is not found.
        """
        if "file_handle" not in self._missing_endpoints:
            params = [("project_id", project_id), ("namespace", namespace), ("name", name)]
            try:
                return self._http.get("file_handle", params)
            except (ServerError, NotFoundError) as exc:
                self._note_missing("file_handle", exc)
        project = self.get_project(project_id, with_files=True, with_replicas=True)
        if project is None:
            return None
        for handle in project.get("file_handles") or []:
            if handle["namespace"] == namespace and handle["name"] == name:
                return handle
        return None

    def list_projects(
        self,
        owner: str | None = None,
        state: str | None = "active",
        not_state: str | None = "abandoned",
        attributes: Mapping[str, Any] | None = None,
        with_files: bool = True,
        with_replicas: bool = False,
    ) -> list[dict[str, Any]]:
        """Lists existing projects.

        Args:
            owner: Only projects of this user (``"all"``: every owner); default:
                the server's default (the caller's own projects on [2.0] servers).
            state: Only projects in this state; default ``"active"``.
            not_state: Exclude projects in this state; default ``"abandoned"``.
            attributes: Only projects whose attributes have these values.
            with_files: Include file handles.
            with_replicas: Include replicas of the handles.

        Returns:
            A list of project dicts.
        """
        params: list[tuple[str, Any]] = []
        if owner:
            params.append(("owner", owner))
        if state:
            params.append(("state", state))
        if not_state:
            params.append(("not_state", not_state))
        params.append(("with_handles", _yes_no(with_files)))
        params.append(("with_replicas", _yes_no(with_replicas)))
        if attributes:
            params.append(("attributes", json.dumps(attributes)))
        return self._http.get("projects", params)

    def search_projects(
        self,
        search_query: str,
        owner: str | None = None,
        state: str | None = "active",
        with_files: bool = True,
        with_replicas: bool = False,
    ) -> list[dict[str, Any]]:
        """Lists projects matching a query in the project search language (a subset of MQL).

        Args:
            search_query: The query, e.g. ``'owner=alice and step = reco'``.
            owner: Only projects of this user.
            state: Only projects in this state; ``"all"`` = no state filter.
            with_files: Include file handles.
            with_replicas: Include replicas.

        Returns:
            A list of project dicts.
        """
        body: dict[str, Any] = {"query": search_query, "with_handles": with_files, "with_replicas": with_replicas}
        if state != "all":
            body["state"] = state
        if owner:
            body["owner"] = owner
        return self._http.post("search_projects", body)

    def get_file(self, namespace: str, name: str) -> Any:
        """Deprecated: upstream servers have no ``file`` endpoint (the answer is None)."""
        return self._http.get("file", [("namespace", namespace), ("name", name)], none_if_not_found=True)

    def list_handles(
        self, project_id: int, state: str | None = None, not_state: str | None = None, with_replicas: bool = False
    ) -> list[dict[str, Any]]:
        """Deprecated: lists the project's handles, optionally filtered by state (no replicas)."""
        params: list[tuple[str, Any]] = []
        if project_id:
            params.append(("project_id", project_id))
        if state:
            params.append(("state", state))
        if not_state:
            params.append(("not_state", not_state))
        return self._http.get("handles", params)
