"""Run a simulated worker fleet against a DD server: :func:`simulate`."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from ..client import (
    AuthenticationError,
    AuthExpiredError,
    DataDispatcherClient,
    DataDispatcherError,
    NotFoundError,
)
from .config import SimConfig
from .result import SimResult, StopReason
from .worker import ENDED, FleetState, WorkerSlot

__all__ = ["simulate"]

log = logging.getLogger(__name__)

#: Seconds between two refreshes of the progress bar (and checks of ``max_seconds``).
REFRESH_INTERVAL = 0.1
_FINISHED_STATES = ("done", "failed")
_RUNNING_STATES = ("active", "abandoned")


def _connect(client_or_url: DataDispatcherClient | str | None, token: str | None, auth_url: str | None,
             user: str | None, password: str | None) -> tuple[DataDispatcherClient, bool]:
    """The caller's client, or a new logged-in one; and whether :func:`simulate` owns (closes) it."""
    if isinstance(client_or_url, DataDispatcherClient):
        client, owned = client_or_url, False
    elif client_or_url is None or isinstance(client_or_url, str):
        if user is not None and password is None:
            raise ValueError(f"user {user!r} given without a password")
        client, owned = DataDispatcherClient(client_or_url, auth_url, token=token), True
        if user is not None:
            client.login_password(user, password)  # type: ignore[arg-type]
    else:
        raise TypeError(f"client_or_url must be a DataDispatcherClient or a server URL, "
                        f"got {type(client_or_url).__name__}")
    if client.Token is None:
        if owned:
            client.close()
        raise AuthenticationError(None, None, "not logged in: pass a logged-in client, token=..., "
                                              "user= and password=, or log in with `ddisp login` first")
    if client.Token.expired():
        if owned:
            client.close()
        raise AuthExpiredError(None, None, client.Token.expiration)
    return client, owned


def _worker_client_factory(main: DataDispatcherClient):
    encoded = main.Token.encoded  # type: ignore[union-attr]

    def make_client(worker_id: str, cpu_site: str) -> DataDispatcherClient:
        client = DataDispatcherClient(main.ServerURL, main.AuthURL, worker_id=worker_id, token=encoded,
                                      cpu_site=cpu_site, timeout=main.Timeout)
        client.session.verify = main.session.verify
        return client

    return make_client


def _project(client: DataDispatcherClient, project_id: int) -> dict[str, Any]:
    project = client.get_project(project_id, with_files=True, with_replicas=False)
    if project is None:
        raise NotFoundError(client.ServerURL, 404, f"project {project_id} not found")
    if project["state"] not in _RUNNING_STATES:
        raise ValueError(f"project {project_id} is {project['state']}: only an active or abandoned project "
                         "can be processed")
    return project


def _run(slots: Sequence[WorkerSlot], state: FleetState, config: SimConfig, bar: Any, initial: int) -> float:
    """Start the slots, refresh the bar from this thread, enforce ``max_seconds``; return the elapsed time."""
    threads = [threading.Thread(target=s.run, name=f"dd-sim-{s.slot:02d}", daemon=True) for s in slots]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    shown = initial
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(REFRESH_INTERVAL)
            if config.max_seconds is not None and time.monotonic() - start >= config.max_seconds:
                state.request_stop(StopReason.MAX_SECONDS)
            shown = _refresh(bar, state, initial, shown)
    except KeyboardInterrupt:
        state.request_stop(StopReason.INTERRUPTED)
        for thread in threads:
            thread.join()
    elapsed = time.monotonic() - start
    _refresh(bar, state, initial, shown)
    return elapsed


def _refresh(bar: Any, state: FleetState, initial: int, shown: int) -> int:
    finished, reservations, failures, crashes = state.snapshot()
    bar.set_postfix(reserved=reservations, failures=failures, crashes=crashes, refresh=False)
    bar.update(initial + finished - shown)
    return initial + finished


def _stop_reason(state: FleetState, slots: Sequence[WorkerSlot], project_state: str | None) -> str:
    if state.stop_reason is not None:
        return state.stop_reason
    if any(s.exit == ENDED for s in slots):
        # next_file also answers "ended" on any HTTP error (as upstream): tell the two apart
        return StopReason.REFUSED if project_state in _RUNNING_STATES else StopReason.PROJECT_ENDED
    return StopReason.IDLE


def simulate(
    client_or_url: DataDispatcherClient | str | None,
    project_id: int,
    config: SimConfig | None = None,
    *,
    progress: bool = True,
    token: str | None = None,
    auth_url: str | None = None,
    user: str | None = None,
    password: str | None = None,
    **options: Any,
) -> SimResult:
    """Process a project with a fleet of simulated workers, through the HTTP API, until it ends or a bound is hit.

    Each worker is a thread with its own client sharing the login token. It
    reserves a file with ``next_file`` (with its CPU site), reads from the
    closest available replica, sleeps for the processing time, then releases
    the file with ``file_done`` or ``file_failed`` (or crashes and never
    releases it). What happens to each reservation is drawn as described in
    :mod:`dd_notebook.sim`.

    Parameters
    ----------
    client_or_url
        A logged-in :class:`~dd_notebook.client.DataDispatcherClient` (used
        only from the calling thread), or the data-server URL (None: env
        ``DATA_DISPATCHER_URL``) together with ``token`` or ``user`` and
        ``password`` (or a token-library entry for the URL).
    project_id
        The project to process; it must be active or abandoned.
    config
        The fleet configuration; default ``SimConfig()``.
    progress
        Show a ``tqdm.auto`` bar of finished files out of the project's total
        (a widget in Jupyter, text in a terminal).
    token
        Encoded token, when ``client_or_url`` is a URL.
    auth_url
        Auth-server URL, when ``client_or_url`` is a URL (None: env
        ``DATA_DISPATCHER_AUTH_URL``).
    user, password
        Log in with these (``login_password``) when ``client_or_url`` is a URL.
    **options
        :class:`SimConfig` fields that override ``config``, e.g.
        ``simulate(client, pid, workers=8, crash=0.01)``.

    Returns
    -------
    SimResult
        Every reservation, counts, elapsed time and why the run stopped.

    Raises
    ------
    ValueError
        A bad option value, or the project is not active.
    TypeError
        An option that is not a :class:`SimConfig` field.
    NotFoundError
        The project does not exist.
    AuthenticationError
        No token is available.
    """
    config = config if config is not None else SimConfig()
    unknown = set(options) - {f.name for f in dataclasses.fields(SimConfig)}
    if unknown:
        raise TypeError(f"unknown simulate() option(s): {', '.join(sorted(unknown))} (not SimConfig fields)")
    config = dataclasses.replace(config, **options) if options else config
    client, owned = _connect(client_or_url, token, auth_url, user, password)
    try:
        return _simulate(client, int(project_id), config, progress)
    finally:
        if owned:
            client.close()


def _simulate(client: DataDispatcherClient, project_id: int, config: SimConfig, progress: bool) -> SimResult:
    from tqdm.auto import tqdm

    project = _project(client, project_id)
    handles = project.get("file_handles") or []
    initial = sum(1 for h in handles if h["state"] in _FINISHED_STATES)
    if config.crash > 0 and project.get("worker_timeout") is None:
        log.warning("project %s has no worker timeout: files of crashed workers stay reserved", project_id)
    state = FleetState(config.max_reservations)
    make_client = _worker_client_factory(client)
    slots = [WorkerSlot(i, config, project_id, make_client, state) for i in range(config.workers)]
    bar = tqdm(total=len(handles), initial=initial, unit="file", desc=f"project {project_id}",
               disable=not progress, dynamic_ncols=True)
    try:
        elapsed = _run(slots, state, config, bar, initial)
    finally:
        bar.close()
    if state.unexpected is not None:
        raise state.unexpected
    try:
        final = client.get_project(project_id, with_files=False, with_replicas=False)
    except DataDispatcherError as exc:  # e.g. the server went away: the run's records still count
        log.warning("could not read the state of project %s after the run: %s", project_id, exc)
        final = None
    project_state = final["state"] if final else None
    return SimResult(
        project_id=project_id, config=config, records=tuple(state.records), elapsed=elapsed,
        stop_reason=_stop_reason(state, slots, project_state), project_state=project_state,
        error=str(state.error) if state.error is not None else None,
    )
