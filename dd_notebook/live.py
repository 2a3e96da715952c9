"""The live state of a running project, polled incrementally: what a monitor shows, without any widget.

:class:`LiveProject` polls one project and keeps an append-only
:class:`EventBuffer` of its handle transitions; every summary (counts,
throughput, ETA, the stall flag, the latest failures) is recomputed from that
buffer after each poll and returned as a :class:`LiveState`.

Where the events come from
--------------------------
* **The embedded server** (``project_handles_log?after=<cursor>``): each poll
  asks for the records after the cursor of the previous one, so a project of
  10^6 files costs one full read at the first poll and then only what is new.
  The project record comes from ``project`` without files; the state counts
  from the cheapest call the server offers (``project_counts`` when the client
  has :meth:`project_state_counts`, else the GUI server's
  ``handle_state_counts`` when ``gui_url`` is given, else the buffer itself).
* **A production server** has no readable handle log (the client raises
  :class:`~dd_notebook.client.EndpointUnavailableError`): a
  :class:`~dd_notebook.recorder.ProjectRecorder` then takes one snapshot of the
  project per poll and infers the transitions (time resolution = the interval).

A server that cannot be reached (connection refused, no answer, 502–504) is
not an error of the poll: the state keeps the last data and says since when
the server is unreachable; the next successful poll clears it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .analysis import Eta, eta
from .client.errors import BadRequestError, EndpointUnavailableError, HTTPError
from .frames import HANDLE_STATES, events_frame
from .recorder import ProjectRecorder

log = logging.getLogger(__name__)

__all__ = ["ENDED_PROJECT_STATES", "EventBuffer", "LiveProject", "LiveState"]

#: Project states after which nothing changes any more.
ENDED_PROJECT_STATES = frozenset({"done", "failed", "cancelled", "abandoned"})

_COLUMNS = ("t", "namespace", "name", "event", "state", "old_state", "worker", "attempts")
_FINISHING = frozenset({"done", "failed"})
_FAILURE_EVENTS = ("failed", "worker_timeout")
_GATEWAY_STATUSES = frozenset({502, 503, 504})
_ETA_WINDOW_S = 900.0


class EventBuffer:
    """Append-only handle transitions of one project, with counts kept up to date as records arrive.

    Parameters
    ----------
    project_id
        The project the records belong to.
    """

    def __init__(self, project_id: int) -> None:
        self.project_id = int(project_id)
        self._columns: dict[str, list[Any]] = {c: [] for c in _COLUMNS}
        self._states: dict[tuple[str, str], str] = {}
        self._counts = dict.fromkeys(HANDLE_STATES, 0)
        self._frame: pd.DataFrame | None = None
        self.last_finish_t: float | None = None
        self.busy_since_t: float | None = None

    def __len__(self) -> int:
        return len(self._columns["t"])

    def extend(self, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Append records: the server's columnar log (``{"events": {column: [...]}}``) or a list of records.

        Returns the number of records appended.
        """
        if isinstance(data, Mapping):
            table = data["events"]
            n = len(table["t"])
            new = {c: list(table.get(c) or [None] * n) for c in _COLUMNS}
        else:
            new = {c: [] for c in _COLUMNS}
            for record in data:
                payload = record.get("data") or {}
                for c in ("t", "namespace", "name"):
                    new[c].append(record.get(c))
                for c in _COLUMNS[3:]:
                    new[c].append(payload.get(c))
        for c in _COLUMNS:
            self._columns[c].extend(new[c])
        self._follow(new)
        if new["t"]:
            self._frame = None
        return len(new["t"])

    def _follow(self, new: Mapping[str, list[Any]]) -> None:
        """Move each handle to its new state, in record order, tracking finishes and busy periods."""
        counts, states = self._counts, self._states
        for t, ns, name, state in zip(new["t"], new["namespace"], new["name"], new["state"]):
            if state not in counts:
                continue
            old = states.get((ns, name))
            states[(ns, name)] = state
            if old is not None:
                counts[old] -= 1
            counts[state] += 1
            if state in _FINISHING and old == "reserved":
                self.last_finish_t = t
            if state == "reserved" and counts["reserved"] == 1:
                self.busy_since_t = t

    def counts(self) -> dict[str, int]:
        """Handles per state (``initial``, ``reserved``, ``done``, ``failed``) after the newest record."""
        return dict(self._counts)

    def frame(self) -> pd.DataFrame:
        """The buffer as an events frame (:func:`dd_notebook.frames.events_frame`), cached until it grows."""
        if self._frame is None:
            self._frame = events_frame({"project_id": self.project_id, "events": self._columns})
        return self._frame


@dataclass(frozen=True)
class LiveState:
    """What one poll of :class:`LiveProject` found (the last good data while the server is unreachable).

    Attributes
    ----------
    project_id, project_state
        The project and its state (``None`` before the first good poll).
    counts, total
        Handles per state, and their sum.
    eta, eta_window_s, covered_s
        The completion estimate, the window asked for, and the seconds its rate
        is really measured over.
    stalled_for_s
        Seconds since anything finished while files are reserved, when that is
        at least ``stall_after``; ``None`` otherwise.
    failures
        The latest failed releases and worker timeouts, newest first: ``t``
        (UTC), ``file``, ``event``, ``worker``, ``RSE`` (of the file's
        preferred replica; empty when unknown) and ``attempt``.
    updated, unreachable_since
        Epoch seconds of the last good poll, and of the first failed attempt to
        reach the server (``None`` while it answers).
    error
        The message of the last poll's failure other than an unreachable server.
    source
        ``"handle log"`` or ``"recorder snapshots"``.
    new_records, records_fetched, cursor
        Records of the last poll, of all polls, and the handle-log cursor (``None`` for snapshots).
    """

    project_id: int
    project_state: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    eta: Eta | None = None
    eta_window_s: float = _ETA_WINDOW_S
    covered_s: float = 0.0
    stalled_for_s: float | None = None
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    updated: float | None = None
    unreachable_since: float | None = None
    error: str = ""
    source: str = "handle log"
    new_records: int = 0
    records_fetched: int = 0
    cursor: int | None = None

    @property
    def finished(self) -> bool:
        """The project has ended (done, failed, cancelled or abandoned)."""
        return self.project_state in ENDED_PROJECT_STATES

    @property
    def stalled(self) -> bool:
        """Files are reserved but nothing finished for ``stall_after``."""
        return self.stalled_for_s is not None


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the server could not be reached (rather than that it refused the request)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return isinstance(exc, HTTPError) and exc.status in _GATEWAY_STATUSES


def _seconds(value: str | float | pd.Timedelta) -> float:
    """Seconds of a positive duration given as text (``"10min"``), a Timedelta or a number of seconds."""
    try:
        seconds = pd.Timedelta(value).total_seconds() if isinstance(value, (str, pd.Timedelta)) else float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0:
        raise ValueError(f"stall_after must be a positive duration such as '10min' or a number of seconds, "
                         f"not {value!r}")
    return seconds


def preferred_rse(handle: Mapping[str, Any] | None) -> str:
    """The RSE of a handle's preferred replica (usable first, then lowest preference, then name); ``""`` if none."""
    replicas = (handle or {}).get("replicas") or {}
    ranked = sorted(replicas.values(), key=lambda r: (not (r.get("available") and r.get("rse_available")),
                                                      r.get("preference") or 0, r.get("rse") or ""))
    return str(ranked[0].get("rse") or "") if ranked else ""


class LiveProject:
    """Poll one project incrementally and summarise it (see the module docstring).

    Parameters
    ----------
    client
        A :class:`~dd_notebook.client.DataDispatcherClient` (or anything with its methods).
    project_id
        The project to follow.
    interval
        Seconds between polls of a monitor (also the recorder's time resolution).
    gui_url
        Base URL of a DD GUI server, for its cheap ``handle_state_counts``.
    stall_after
        How long nothing may finish while files are reserved before the state
        says "stalled" (``"10min"``, ``"30s"`` or seconds).
    recorder
        Used when the server has no readable handle log: a
        :class:`~dd_notebook.recorder.ProjectRecorder`, or the path of its
        file; default a recorder writing into a temporary folder.
    failures_shown
        How many of the latest failures the state lists.
    clock
        Time source (epoch seconds).
    """

    def __init__(self, client: Any, project_id: int, *, interval: float = 5.0, gui_url: str | None = None,
                 stall_after: str | float | pd.Timedelta = "10min", recorder: ProjectRecorder | str | os.PathLike[str]
                 | None = None, failures_shown: int = 10, clock: Any = time.time) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        self.client = client
        self.project_id = int(project_id)
        self.interval = float(interval)
        self.gui_url = gui_url.rstrip("/") if gui_url else None
        self.stall_after_s = _seconds(stall_after)
        self.failures_shown = int(failures_shown)
        self.clock = clock
        self.buffer = EventBuffer(self.project_id)
        self.cursor: int | None = 0
        self.recorder: ProjectRecorder | None = None
        self._recorder_choice = recorder
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._rses: dict[str, str] = {}
        self._lock = threading.Lock()
        self._counts_call = hasattr(client, "project_state_counts")
        self._last = LiveState(self.project_id)
        self.records_fetched = 0
        self.polls = 0

    @property
    def source(self) -> str:
        """``"handle log"`` or ``"recorder snapshots"``."""
        return "handle log" if self.recorder is None else "recorder snapshots"

    @property
    def state(self) -> LiveState:
        """The state of the last poll."""
        return self._last

    def poll(self) -> LiveState:
        """Fetch what is new and return the recomputed state (thread-safe; one poll at a time)."""
        with self._lock:
            now = float(self.clock())
            try:
                project, new = self._fetch()
                counts = self._counts(project)
                failures = self._failures()
            except Exception as exc:
                if not _unreachable(exc):
                    log.debug("poll of project %d failed", self.project_id, exc_info=True)
                    self._last = _replace(self._last, error=_message(exc), unreachable_since=None)
                    raise
                log.info("server unreachable while polling project %d: %s", self.project_id, exc)
                since = self._last.unreachable_since or now
                self._last = _replace(self._last, unreachable_since=since, error="")
                return self._last
            self.polls += 1
            self.records_fetched += new
            self._last = self._summarise(now, project, counts, failures, new)
            return self._last

    def _fetch(self) -> tuple[Mapping[str, Any], int]:
        """The project record and the number of new records appended to the buffer."""
        if self.recorder is None:
            project = self.client.get_project(self.project_id, with_files=False)
            if project is None:
                raise LookupError(f"project {self.project_id} not found")
            try:
                return project, self._fetch_log()
            except EndpointUnavailableError:
                log.info("no incremental handle log for project %d; recording snapshots", self.project_id)
                self._start_recorder()
        new = self.buffer.extend(self.recorder.poll_once())  # type: ignore[union-attr]
        return self.recorder.last_project or {}, new  # type: ignore[union-attr]

    def _fetch_log(self) -> int:
        new = 0
        while True:
            try:
                page = self.client.get_handles_log_page(self.project_id, after=self.cursor)
            except BadRequestError:
                if not self.cursor:
                    raise
                log.warning("the server no longer knows cursor %s (a new database?); reading the log anew",
                            self.cursor)
                self.buffer, self.cursor, new = EventBuffer(self.project_id), 0, 0
                continue
            new += self.buffer.extend(page.data)
            self.cursor = page.cursor
            if not page.more or page.count == 0:
                return new

    def _start_recorder(self) -> None:
        choice = self._recorder_choice
        if isinstance(choice, ProjectRecorder):
            recorder = choice
        else:
            if choice is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="dd-monitor-")
                choice = os.path.join(self._tmp.name, f"project-{self.project_id}.jsonl")
            recorder = ProjectRecorder(self.client, self.project_id, choice, self.interval)
        self.recorder, self.cursor = recorder, None
        self.buffer = EventBuffer(self.project_id)
        self.buffer.extend(recorder.records())

    def _counts(self, project: Mapping[str, Any]) -> dict[str, int]:
        """Counts from the cheapest source (see the module docstring)."""
        if self.recorder is None and self._counts_call:
            try:
                found = self.client.project_state_counts([self.project_id])
            except EndpointUnavailableError:
                self._counts_call = False
            else:
                row = found.get(self.project_id)
                if row is not None:
                    return {s: int(row.get(s, 0)) for s in HANDLE_STATES}
        if self.recorder is None and self.gui_url:
            response = self.client.retry_request(
                "GET", f"{self.gui_url}/P/handle_state_counts?project_id={self.project_id}", timeout=0)
            if response.status_code == 200:
                row = response.json()
                initial = sum(int(row.get(k, 0)) for k in ("initial", "available", "found", "not found"))
                return {"initial": initial, **{s: int(row.get(s, 0)) for s in HANDLE_STATES[1:]}}
            log.info("GUI handle_state_counts answered %d; counting from the log", response.status_code)
        return self.buffer.counts()

    def _failures(self) -> pd.DataFrame:
        """The latest failures, newest first, with the RSE of each file's preferred replica when known."""
        frame = self.buffer.frame()
        failed = frame[frame["event"].isin(_FAILURE_EVENTS)].tail(self.failures_shown).iloc[::-1]
        dids = failed["did"].astype(str).tolist()
        if self.recorder is None:
            for did in dict.fromkeys(dids):
                if did not in self._rses:
                    namespace, _, name = did.partition(":")
                    self._rses[did] = preferred_rse(self.client.get_handle(self.project_id, namespace, name))
        return pd.DataFrame({
            "t": failed["t"].tolist(),
            "file": dids,
            "event": failed["event"].astype(str).tolist(),
            "worker": failed["worker"].astype(object).where(failed["worker"].notna(), "").tolist(),
            "RSE": [self._rses.get(d, "") for d in dids],
            "attempt": failed["attempt"].astype("Int64").tolist(),
        })

    def _summarise(self, now: float, project: Mapping[str, Any], counts: dict[str, int], failures: pd.DataFrame,
                   new: int) -> LiveState:
        frame = self.buffer.frame()
        covered = 0.0
        estimate = None
        if len(frame):
            estimate = eta(frame, window=pd.Timedelta(seconds=_ETA_WINDOW_S), now=pd.Timestamp(now, unit="s", tz="UTC"))
            reported = getattr(estimate, "covered_s", None)
            # an analysis version without it: the part of the window the log spans
            covered = reported if reported is not None else min(max(now - frame["t"].iloc[0].timestamp(), 0.0),
                                                                  _ETA_WINDOW_S)
        return LiveState(
            project_id=self.project_id, project_state=project.get("state"), counts=counts,
            total=sum(counts.values()), eta=estimate, eta_window_s=_ETA_WINDOW_S, covered_s=float(covered),
            stalled_for_s=self._stalled_for(now, counts), failures=failures, updated=now, source=self.source,
            new_records=new, records_fetched=self.records_fetched, cursor=self.cursor)

    def _stalled_for(self, now: float, counts: Mapping[str, int]) -> float | None:
        """Seconds without a finished file while files are reserved, if at least ``stall_after``."""
        if not counts.get("reserved"):
            return None
        marks = [t for t in (self.buffer.last_finish_t, self.buffer.busy_since_t) if t is not None]
        if not marks:
            return None
        idle = now - max(marks)
        return idle if idle >= self.stall_after_s else None


def _replace(state: LiveState, **changes: Any) -> LiveState:
    return LiveState(**{**state.__dict__, **changes})


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return str(message if isinstance(message, str) and message else exc) or type(exc).__name__
