"""One simulated worker slot: reserve, "process" (sleep), release, crash and get replaced.

Each slot runs in its own thread with its own :class:`DataDispatcherClient`
(a client is not thread-safe); the slots share only a :class:`FleetState`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..client import DataDispatcherClient, DataDispatcherError, NotFoundError, PermissionDeniedError
from .config import NO_REPLICA, SimConfig
from .decisions import CRASHED, DONE, FAILED, LOST, RETRIED, plan_attempt
from .result import Reservation, StopReason

__all__ = ["ClientFactory", "FleetState", "WorkerSlot", "first_replica_rse"]

log = logging.getLogger(__name__)

#: Builds the client of one worker: ``(worker_id, cpu_site) -> client``.
ClientFactory = Callable[[str, str], DataDispatcherClient]

#: Why a worker incarnation ended (besides ``crashed``).
ENDED, IDLE, STOPPED = "ended", "idle", "stopped"


class FleetState:
    """What the worker threads share: the stop flag, the reservation budget and the records.

    Parameters
    ----------
    max_reservations
        Total reservations allowed (None: unlimited).
    """

    def __init__(self, max_reservations: int | None) -> None:
        self.stop = threading.Event()
        self.stop_reason: str | None = None
        self.error: DataDispatcherError | None = None
        self.unexpected: BaseException | None = None
        self.records: list[Reservation] = []
        self.finished = 0
        self.failures = 0
        self.crashes = 0
        self._budget = max_reservations
        self._taken = 0
        self._lock = threading.Lock()

    def request_stop(self, reason: str) -> None:
        """Ask every worker to stop reserving; the first reason given is kept."""
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
        self.stop.set()

    def take_ticket(self) -> bool:
        """Claim one reservation of the budget; False when it is used up."""
        with self._lock:
            if self._budget is not None and self._taken >= self._budget:
                return False
            self._taken += 1
            return True

    def return_ticket(self) -> None:
        """Give back a ticket whose ``next_file`` call reserved nothing."""
        with self._lock:
            self._taken -= 1

    def add(self, record: Reservation) -> None:
        """Record a finished reservation."""
        with self._lock:
            self.records.append(record)
            self.finished += record.outcome in (DONE, FAILED)
            self.failures += record.outcome in (RETRIED, FAILED)
            self.crashes += record.outcome == CRASHED

    def snapshot(self) -> tuple[int, int, int, int]:
        """``(files finished, reservations, failures, crashes)`` so far."""
        with self._lock:
            return self.finished, self._taken, self.failures, self.crashes


def first_replica_rse(replicas: Mapping[str, Any] | None) -> str | None:
    """The RSE a worker reads from: the closest available replica (smallest proximity, unknown last).

    Parameters
    ----------
    replicas
        The ``replicas`` map of a ``next_file`` handle (RSE name → replica).

    Returns
    -------
    str or None
        The RSE name, or None when no replica is available.
    """
    usable = [(name, r) for name, r in (replicas or {}).items()
              if r.get("available", True) is not False and r.get("rse_available", True) is not False]
    if not usable:
        return None

    def closeness(item: tuple[str, Mapping[str, Any]]) -> tuple[bool, float, str]:
        proximity = item[1].get("proximity", item[1].get("preference"))
        return proximity is None, float(proximity or 0), item[0]

    name, replica = min(usable, key=closeness)
    return str(replica.get("rse") or name)


class WorkerSlot:
    """A worker that is replaced by a fresh one (new worker id, new client) each time it crashes.

    Parameters
    ----------
    slot
        Slot number, 0-based; it picks the CPU site and names the workers.
    config
        The fleet configuration.
    project_id
        The project to work on.
    make_client
        Builds a logged-in client for a worker id and CPU site.
    state
        The shared fleet state.
    """

    def __init__(self, slot: int, config: SimConfig, project_id: int, make_client: ClientFactory,
                 state: FleetState) -> None:
        self.slot = slot
        self.config = config
        self.project_id = project_id
        self.cpu_site = config.site_of_slot(slot)
        self.make_client = make_client
        self.state = state
        self.exit: str | None = None

    def run(self) -> None:
        """Thread target: run worker incarnations until the project ends, idleness, a stop or an error."""
        try:
            incarnation = 0
            while not self.state.stop.is_set():
                incarnation += 1
                worker_id = f"{self.config.worker_prefix}{self.slot:02d}.{incarnation}"
                client = self.make_client(worker_id, self.cpu_site)
                try:
                    self.exit = self._work(client, worker_id)
                finally:
                    client.close()
                if self.exit != CRASHED or self.state.stop.wait(self.config.restart_delay):
                    return
        except DataDispatcherError as exc:
            log.warning("simulated worker slot %d stopped the fleet: %s", self.slot, exc)
            self.state.error = exc
            self.state.request_stop(StopReason.ERROR)
        except Exception as exc:  # a bug must reach the caller, not die with the thread
            self.state.unexpected = exc
            self.state.request_stop(StopReason.ERROR)

    def _work(self, client: DataDispatcherClient, worker_id: str) -> str:
        idle_since: float | None = None
        while not self.state.stop.is_set():
            if not self.state.take_ticket():
                self.state.request_stop(StopReason.MAX_RESERVATIONS)
                return STOPPED
            reply = client.next_file(self.project_id, cpu_site=self.cpu_site, worker_id=worker_id,
                                     timeout=0, stagger=0)
            if isinstance(reply, dict):
                idle_since = None
                if self._process(client, worker_id, reply) == CRASHED:
                    return CRASHED
                continue
            self.state.return_ticket()
            if reply is False:
                return ENDED
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= self.config.idle_exit:
                return IDLE
            self.state.stop.wait(self.config.poll_interval)
        return STOPPED

    def _process(self, client: DataDispatcherClient, worker_id: str, handle: Mapping[str, Any]) -> str:
        did = f"{handle['namespace']}:{handle['name']}"
        attempt = int(handle.get("attempts") or 1)
        rse = first_replica_rse(handle.get("replicas"))
        plan = plan_attempt(self.config, did, attempt, rse)
        reserved_at = time.time()
        time.sleep(plan.seconds)
        outcome = plan.outcome

        def record(outcome: str) -> None:
            self.state.add(Reservation(
                worker=worker_id, cpu_site=self.cpu_site, did=did, attempt=attempt, rse=rse or NO_REPLICA,
                outcome=outcome, bad=plan.bad, seconds=plan.seconds, reserved_at=reserved_at,
                released_at=time.time(),
            ))

        if outcome != CRASHED:
            try:
                if outcome == DONE:
                    client.file_done(self.project_id, did, worker_id=worker_id)
                else:
                    client.file_failed(self.project_id, did, retry=plan.retry, worker_id=worker_id)
            except (PermissionDeniedError, NotFoundError) as exc:
                log.info("release of %s by %s refused (the reservation was taken away?): %s", did, worker_id, exc)
                outcome = LOST
            except DataDispatcherError:
                record(LOST)  # the reservation happened; the error itself stops the fleet
                raise
        record(outcome)
        return outcome
