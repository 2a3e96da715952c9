"""Record a project's handle transitions by polling snapshots -- a handle log for servers that expose none.

:class:`ProjectRecorder` fetches ``client.get_project(project_id, with_files=True)``
every ``interval`` seconds, compares each handle's ``state``, ``worker_id``,
``attempts`` and [2.0] ``attributes.timeouts`` with the previous snapshot, and
appends the transitions it can infer to a JSON-lines file, one handle log
record (protocol §2.6) per line. :meth:`ProjectRecorder.events` reads them back
through :func:`dd_notebook.frames.events_frame`, so every analysis and plot
works on recorded logs exactly as on the server's.

Inference rules (per handle, between two snapshots)
---------------------------------------------------
* **First sighting** -> ``create``. A handle first seen already reserved, done
  or failed, or with ``attempts > 0`` (the recorder started late), gets a
  ``create`` record carrying its current state and ``"baseline": true``, so that
  state counts are exact from the first poll on.
* ``attempts`` grows by one per reservation (§4.2), so its increase ``r`` is the
  number of ``reserve`` events in the interval; the increase of the
  ``timeouts`` attribute is the number of ``worker_timeout`` events (§4.4).
* With ``r == 0``: ``reserved -> done`` is ``done``; ``reserved -> failed`` and
  ``reserved -> initial`` are ``worker_timeout`` when ``timeouts`` grew, else
  ``failed`` (a retried failure for ``initial``); ``done``/``failed -> initial``
  is ``reset``. The worker is the one of the previous snapshot.
* With ``r > 0``: the handle first leaves its old state (a reserved handle's
  reservation ends as above, a done/failed handle is ``reset``), then come the
  ``r`` reservations, each but the last ended by a ``worker_timeout`` (while
  unexplained timeouts remain) or a retried ``failed``; the last one ends
  according to the new state (nothing if still ``reserved``). Only the worker
  of a reservation still open at the poll is known; the others are ``null``.
* A transition that no sequence of server actions explains is logged as a
  warning and recorded as one record straight to the new state, so that the
  chain of states stays consistent.

Limits
------
* **Time resolution is the polling interval**: every event gets the time of
  the poll that saw it (the real transition happened since the previous poll),
  and several transitions of one handle within an interval share one time, in
  their logical order. Durations shorter than the interval cannot be measured.
* A ``reset`` of a reserved handle by ``restart_handles`` looks like a retried
  failure and is recorded as ``failed``; a [1.27] server keeps no ``timeouts``
  counter, so its worker timeouts are recorded as ``failed`` too.

The file is append-only: each poll's lines are written in one ``write`` and
``fsync``-ed. On start the recorder replays an existing file to rebuild the
last known state of every handle and resumes from there (a torn last line left
by a crash is cut off first).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol, cast

import numpy as np
import orjson
import pandas as pd

from .frames import events_frame, handles_frame

log = logging.getLogger(__name__)


class SnapshotClient(Protocol):
    """What :class:`ProjectRecorder` needs from a client."""

    def get_project(self, project_id: int, with_files: bool = True, with_replicas: bool = False) -> Any: ...


class HandleState(NamedTuple):
    """What a snapshot tells about one handle."""

    state: str
    worker: str | None
    attempts: int
    timeouts: int


_EVENT_INTO = {"reserved": "reserve", "done": "done", "failed": "failed", "initial": "reset"}


class _Builder:
    """Accumulates the inferred ``data`` dicts of one handle while walking from ``before`` to ``after``."""

    def __init__(self, before: HandleState, after: HandleState) -> None:
        self.state = before.state
        self.worker = before.worker
        self.attempts = before.attempts
        self.timeouts = before.timeouts
        self.timeouts_left = max(after.timeouts - before.timeouts, 0)
        self.records: list[dict[str, Any]] = []

    def emit(self, event: str, state: str, *, worker: str | None, old_state: bool = True) -> None:
        data: dict[str, Any] = {"event": event}
        if old_state:
            data["old_state"] = self.state
        data.update(state=state, worker=worker, attempts=self.attempts, timeouts=self.timeouts)
        self.records.append(data)
        self.state = state
        self.worker = worker if state == "reserved" else None

    def end_reservation(self, state: str) -> None:
        """End the current reservation, landing in ``state`` (``initial``, ``done`` or ``failed``)."""
        if state != "done" and self.timeouts_left:
            self.timeouts_left -= 1
            self.timeouts += 1
            self.emit("worker_timeout", state, worker=self.worker, old_state=False)
        else:
            self.emit("failed" if state != "done" else "done", state, worker=self.worker)

    def reserve(self, worker: str | None) -> None:
        self.attempts += 1
        self.emit("reserve", "reserved", worker=worker)


def infer_transitions(before: HandleState | None, after: HandleState) -> list[dict[str, Any]]:
    """The ``data`` dicts of the handle log records explaining ``before -> after`` (module docstring rules).

    Each dict has ``event``, ``state``, ``worker``, ``old_state`` (except for
    ``create`` and ``worker_timeout``, as upstream), and the handle's
    ``attempts`` and ``timeouts`` right after the event.
    """
    if before is None:
        data: dict[str, Any] = {"event": "create", "state": after.state, "attempts": after.attempts,
                                "timeouts": after.timeouts}
        if after.state != "initial" or after.attempts:
            data["baseline"] = True
            data["worker"] = after.worker
        return [data]
    build = _Builder(before, after)
    reservations = after.attempts - before.attempts
    if reservations < 0:
        log.warning("attempts went down (%d -> %d); recording a direct transition", before.attempts, after.attempts)
    if reservations <= 0:
        if before.state == after.state:
            return []
        if before.state == "reserved":
            build.end_reservation(after.state)
        elif after.state == "initial":
            build.emit("reset", "initial", worker=before.worker)
        else:
            log.warning("unexplained transition %s -> %s without a reservation", before.state, after.state)
            build.attempts = after.attempts
            build.emit(_EVENT_INTO[after.state], after.state, worker=after.worker)
    else:
        if before.state == "reserved":
            build.end_reservation("initial")
        elif before.state in ("done", "failed"):
            build.emit("reset", "initial", worker=None)
        for k in range(reservations):
            last = k == reservations - 1
            build.reserve(after.worker if last and after.state == "reserved" else None)
            if not last:
                build.end_reservation("initial")
        if after.state != "reserved":
            build.end_reservation(after.state)
    build.records[-1]["timeouts"] = after.timeouts
    return build.records


class _Snapshot(NamedTuple):
    """Handle states of one poll as aligned arrays."""

    did: pd.Index
    namespace: np.ndarray
    name: np.ndarray
    state: np.ndarray
    worker: np.ndarray
    attempts: np.ndarray
    timeouts: np.ndarray

    def handle(self, i: int) -> HandleState:
        return HandleState(self.state[i], self.worker[i], int(self.attempts[i]), int(self.timeouts[i]))

    @classmethod
    def from_project(cls, project: Mapping[str, Any]) -> _Snapshot:
        frame = handles_frame(project)
        return cls(
            pd.Index(frame["did"].to_numpy(dtype=object)),
            frame["namespace"].to_numpy(dtype=object),
            frame["name"].to_numpy(dtype=object),
            frame["state"].astype(object).to_numpy(),
            frame["worker_id"].to_numpy(dtype=object, na_value=None),
            frame["attempts"].to_numpy(dtype=np.int64, na_value=0),
            frame["timeouts"].to_numpy(dtype=np.int64, na_value=0),
        )

    @classmethod
    def from_states(cls, states: Mapping[tuple[str, str], HandleState]) -> _Snapshot:
        keys = list(states)
        values = list(states.values())
        return cls(
            pd.Index([f"{ns}:{name}" for ns, name in keys], dtype=object),
            np.array([ns for ns, _ in keys], dtype=object),
            np.array([name for _, name in keys], dtype=object),
            np.array([v.state for v in values], dtype=object),
            np.array([v.worker for v in values], dtype=object),
            np.array([v.attempts for v in values], dtype=np.int64),
            np.array([v.timeouts for v in values], dtype=np.int64),
        )


def _changed(previous: _Snapshot | None, current: _Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Positions of handles that are new or differ from ``previous``, and their positions in ``previous``."""
    if previous is None or len(previous.did) == 0:
        everything = np.arange(len(current.did))
        return everything, np.full(len(everything), -1)
    where = previous.did.get_indexer(current.did)
    seen = where >= 0
    old = np.maximum(where, 0)
    differs = (
        (current.state != previous.state[old])
        | (current.attempts != previous.attempts[old])
        | (current.timeouts != previous.timeouts[old])
        | (current.worker != previous.worker[old])
    )
    rows = np.flatnonzero(~seen | differs)
    return rows, where[rows]


def read_records(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Handle log records of a recorder file, skipping a torn last line."""
    with open(path, "rb") as stream:
        for line in stream:
            if not line.endswith(b"\n"):
                log.warning("ignoring an incomplete last line in %s", path)
                return
            if line.strip():
                yield orjson.loads(line)


class ProjectRecorder:
    """Poll a project and append the inferred handle transitions to a JSON-lines file.

    Parameters
    ----------
    client
        Anything with ``get_project(project_id, with_files=True)``.
    project_id
        The project to watch.
    path
        The log file; created if missing, resumed if it exists.
    interval
        Seconds between polls in :meth:`run` (also the time resolution of the log).
    clock, sleep
        Time source and sleep function (injectable for tests).
    fsync
        ``fsync`` the file after every poll (crash safety at some cost).
    """

    def __init__(
        self,
        client: SnapshotClient,
        project_id: int,
        path: str | os.PathLike[str],
        interval: float = 10.0,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        fsync: bool = True,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.client = client
        self.project_id = int(project_id)
        self.path = Path(path)
        self.interval = float(interval)
        self.clock = clock
        self.sleep = sleep
        self.fsync = fsync
        self.last_project: Mapping[str, Any] | None = None
        self.polls = 0
        self._previous = self._resume()

    def _resume(self) -> _Snapshot | None:
        if not self.path.exists():
            return None
        self._cut_torn_tail()
        states: dict[tuple[str, str], HandleState] = {}
        for record in read_records(self.path):
            if record.get("project_id") != self.project_id:
                raise ValueError(f"{self.path} holds records of project {record.get('project_id')}, "
                                 f"not {self.project_id}")
            data = record.get("data") or {}
            state = cast(str, data.get("state"))  # every record this recorder writes carries data.state
            states[(record["namespace"], record["name"])] = HandleState(
                state, data.get("worker") if state == "reserved" else None,
                int(data.get("attempts") or 0), int(data.get("timeouts") or 0),
            )
        log.info("resuming %s with %d handles", self.path, len(states))
        return _Snapshot.from_states(states) if states else None

    def _cut_torn_tail(self) -> None:
        """Truncate a partial last line (a crash during a write) so the next append starts clean."""
        with open(self.path, "rb+") as stream:
            data = stream.read()
            if data and not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                log.warning("cutting a torn last line (%d bytes) from %s", len(data) - keep, self.path)
                stream.truncate(keep)

    def poll_once(self) -> list[dict[str, Any]]:
        """Fetch one snapshot, append the inferred records to the file and return them."""
        project = self.client.get_project(self.project_id, with_files=True)
        if project is None:
            raise LookupError(f"project {self.project_id} not found")
        t = float(self.clock())
        current = _Snapshot.from_project(project)
        rows, previous_rows = _changed(self._previous, current)
        records = []
        for row, before_row in zip(rows.tolist(), previous_rows.tolist()):
            before = self._previous.handle(before_row) if before_row >= 0 and self._previous is not None else None
            for data in infer_transitions(before, current.handle(row)):
                records.append({"type": "state", "t": t, "data": data, "project_id": self.project_id,
                                "namespace": current.namespace[row], "name": current.name[row]})
        if records:
            self._append(records)
        self._previous = current
        self.last_project = project
        self.polls += 1
        return records

    def _append(self, records: list[dict[str, Any]]) -> None:
        payload = b"".join(orjson.dumps(r) + b"\n" for r in records)
        with open(self.path, "ab") as stream:
            stream.write(payload)
            stream.flush()
            if self.fsync:
                os.fsync(stream.fileno())

    def finished(self) -> bool:
        """Whether the last snapshot shows a project with nothing left to do (``active`` false)."""
        project = self.last_project
        return project is not None and (project.get("state") != "active" or project.get("active") is False)

    def run(self, duration: float | None = None, *, stop_when_finished: bool = True) -> int:
        """Poll every ``interval`` seconds in the calling thread until ``duration`` has passed.

        Parameters
        ----------
        duration
            Seconds to run; ``None`` runs until the project is finished (see
            ``stop_when_finished``) or the kernel is interrupted.
        stop_when_finished
            Stop once a snapshot shows no ``initial``/``reserved`` handle left
            or a project that is no longer ``active``.

        Returns
        -------
        int
            Number of records written by this call.
        """
        deadline = None if duration is None else self.clock() + duration
        written = 0
        try:
            while True:
                written += len(self.poll_once())
                if stop_when_finished and self.finished():
                    log.info("project %d finished; recorder stops", self.project_id)
                    break
                if deadline is not None and self.clock() + self.interval > deadline:
                    break
                self.sleep(self.interval)
        except KeyboardInterrupt:
            log.info("recorder interrupted after %d polls", self.polls)
        return written

    def records(self) -> list[dict[str, Any]]:
        """All records in the file."""
        return list(read_records(self.path)) if self.path.exists() else []

    def events(self) -> pd.DataFrame:
        """The recorded log as an events frame (:func:`dd_notebook.frames.events_frame`)."""
        return events_frame(self.records())
