"""Worker methods of the seed API: reserve and release files, worker ids (dd-protocol §9.6)."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from .base import ClientBase
from .errors import HTTPError, InvalidResponseError, NotFoundError
from .worker_id import WorkerIdFile, generate_worker_id

__all__ = ["WorkersMixin"]

log = logging.getLogger(__name__)

#: Longest sleep between two ``next_file`` polls, seconds.
MAX_POLL_INTERVAL = 60.0
#: Shortest sleep between two ``next_file`` polls, seconds.
MIN_POLL_INTERVAL = 1.0


class WorkersMixin(ClientBase):
    """``next_file``, ``file_done``, ``file_failed``, ``reserved_handles`` and worker ids."""

    @staticmethod
    def random_worker_id(prefix: str = "") -> str:
        """Static method to generate a random worker id: ``prefix`` + 8 hex digits."""
        return generate_worker_id(prefix)

    def new_worker_id(self, new_id: str | None = None, worker_id_file: str | None = None) -> str:
        """Sets or generates a new worker id to be used for next file allocation.

        Args:
            new_id: New worker id; None generates a random one.
            worker_id_file: Where to store it; default ``<cwd>/.data_dispatcher_worker_id``.

        Returns:
            The assigned worker id.
        """
        worker_id = new_id if new_id is not None else generate_worker_id()
        WorkerIdFile(worker_id_file).write(worker_id)
        self.WorkerID = worker_id
        return worker_id

    #: Opt-in strict mode: ``next_file`` raises HTTP errors instead of reporting the project as ended.
    strict_next_file: bool = False

    def _reserve(self, project_id: int, cpu_site: str | None, worker_id: str,
                 deadline: float | None) -> dict[str, Any]:
        params: list[tuple[str, Any]] = [("project_id", project_id), ("worker_id", worker_id)]
        if cpu_site:
            params.append(("cpu_site", cpu_site))
        budget = None if deadline is None else max(0.0, deadline - time.time())
        try:
            reply = self._http.get("next_file", params, budget=budget)
        except InvalidResponseError:
            raise
        except HTTPError as exc:
            if exc.status in (429, 503) and deadline is not None:
                return {"retry": True}  # busy, nothing reserved: poll again until the caller's deadline
            if self.strict_next_file:
                raise
            # Upstream [2.0] turns every HTTP error into "project ended" (Q-NEXTERR); so do we, but say so.
            # "Inactive project" is the normal end of a worker loop and is logged quietly.
            level = logging.INFO if exc.status == 400 and "Inactive project" in exc.message else logging.WARNING
            log.log(level, "next_file(project_id=%s) failed, reporting the project as ended: %s", project_id, exc)
            return {"retry": False}
        if not isinstance(reply, dict):
            raise InvalidResponseError(self._http.url("next_file", params), 200,
                                       f"next_file answered {type(reply).__name__}, not an object")
        return reply

    def next_file(
        self,
        project_id: int,
        cpu_site: str | None = None,
        worker_id: str | None = None,
        timeout: float | None = None,
        stagger: float = 10,
    ) -> dict[str, Any] | bool:
        """Reserves the next available file of the project, waiting for one if needed.

        Args:
            project_id: Project id.
            cpu_site: CPU site for the proximity lookup; default: the client's ``CPUSite``.
            worker_id: Worker id; default: the client's ``WorkerID``.
            timeout: Seconds to wait for a file; None waits until the project ends.
            stagger: Sleep a random time in ``[0, stagger)`` seconds before the
                first request, to spread the start of many workers. Default 10.

        Returns:
            The reserved handle (dict; ``replicas`` maps RSE name → replica), or
            ``True`` when the wait timed out but the project is still running, or
            ``False`` when the project has ended. As upstream, any HTTP error
            answer also gives ``False`` (it is logged as a warning), unless
            ``client.strict_next_file = True``: then the error is raised. A
            server busy (503/429) until ``timeout`` gives ``True``.

        Raises:
            HTTPError: only with ``strict_next_file``.
            InvalidResponseError: the answer is not the JSON object it should be.
            NetworkError: the server could not be reached.
            RequestTimeoutError: a request got no answer in time.
        """
        worker_id = worker_id or self.WorkerID
        cpu_site = cpu_site or self.CPUSite
        deadline = None if timeout is None else time.time() + timeout
        if stagger:
            time.sleep(stagger * random.random())
        while True:
            reply = self._reserve(project_id, cpu_site, worker_id, deadline)
            handle = reply.get("handle")
            if handle:
                return handle
            if not reply.get("retry"):
                return False
            now = time.time()
            if deadline is not None and now >= deadline:
                return True
            longest = MAX_POLL_INTERVAL if deadline is None else min(MAX_POLL_INTERVAL, deadline - now)
            shortest = min(longest, MIN_POLL_INTERVAL)
            time.sleep(shortest + (longest - shortest) * random.random())

    def _release(self, project_id: int, did: str, worker_id: str | None, failed: bool, retry: bool) -> dict[str, Any]:
        params: list[tuple[str, Any]] = [("handle_id", f"{project_id}:{did}"), ("failed", "yes" if failed else "no")]
        if failed:
            params.append(("retry", "yes" if retry else "no"))
        params.append(("worker_id", worker_id or self.WorkerID))
        return self._http.get("release", params)

    def file_done(self, project_id: int, did: str, worker_id: str | None = None) -> dict[str, Any]:
        """Notifies Data Dispatcher that the file was processed successfully and is "done".

        Args:
            project_id: Project id.
            did: File DID ``"<namespace>:<name>"``.
            worker_id: Worker id holding the reservation; default: the client's.

        Returns:
            The released handle.
        """
        return self._release(project_id, did, worker_id, failed=False, retry=False)

    def file_failed(
        self, project_id: int, did: str, retry: bool = True, worker_id: str | None = None
    ) -> dict[str, Any]:
        """Notifies Data Dispatcher that processing of the file failed.

        Args:
            project_id: Project id.
            did: File DID ``"<namespace>:<name>"``.
            retry: True puts the file back in the queue (``initial``); False marks it ``failed``.
            worker_id: Worker id holding the reservation; default: the client's.

        Returns:
            The released handle.
        """
        return self._release(project_id, did, worker_id, failed=True, retry=retry)

    def reserved_handles(self, project_id: int, worker_id: str | None = None) -> list[dict[str, Any]]:
        """Returns the file handles of the project reserved by the given worker.

        Args:
            project_id: Project id.
            worker_id: Worker id; default: the client's.

        Returns:
            A list of handle dicts.

        Raises:
            NotFoundError: the project does not exist.
        """
        worker_id = worker_id or self.WorkerID
        params = [("project_id", project_id), ("with_files", "yes"), ("with_replicas", "no")]
        project = self._http.get("project", params, none_if_not_found=True)
        if project is None:
            raise NotFoundError(self._http.url("project"), 404, f"Project {project_id} not found")
        return [
            h for h in project.get("file_handles") or [] if h["state"] == "reserved" and h["worker_id"] == worker_id
        ]
