"""Dispatch throughput: dd-notebook's client against the upstream ``DataDispatcherClient``.

Starts the embedded server (``LocalServer``, demo content), then, for each run,
creates a fresh virtual project and lets N threads (each with its own client)
run the same number of ``next_file(stagger=0)`` + ``file_done`` cycles. Runs
alternate between the two clients; the script prints the median cycles/s of
each and the ratio (goal: ours >= 2x upstream).

By default the server runs in a child process, as a real server never shares
the clients' interpreter (and its GIL); ``--in-process`` runs it in a thread of
the benchmark process instead, where server and clients compete for one GIL.

Usage::

    python benchmarks/client_dispatch.py [--threads 8] [--cycles 200] [--repeats 3] [--in-process]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from dd_notebook.client import DataDispatcherClient
from dd_notebook.server import LocalServer

ClientFactory = Callable[[str], Any]


def run_once(make_client: ClientFactory, admin: DataDispatcherClient, threads: int, cycles: int) -> float:
    """Drain ``threads * cycles`` files of a new virtual project; return cycles per second."""
    files = [f"bench:f{i:06d}" for i in range(threads * cycles)]
    project_id = admin.create_project(files, project_attributes={"virtual": True})["project_id"]
    clients = [make_client(f"bench-{i}") for i in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(client: Any, worker_id: str) -> None:
        barrier.wait()
        try:
            for _ in range(cycles):
                handle = client.next_file(project_id, worker_id=worker_id, stagger=0)
                if not isinstance(handle, dict):
                    raise RuntimeError(f"next_file returned {handle!r}")
                client.file_done(project_id, f"{handle['namespace']}:{handle['name']}", worker_id=worker_id)
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(c, f"bench-{i}")) for i, c in enumerate(clients)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} worker(s) failed: {errors[0]!r}")
    state = admin.get_project(project_id, with_files=False)["state"]
    if state != "done":
        raise RuntimeError(f"project {project_id} ended in state {state!r}, expected 'done'")
    return threads * cycles / elapsed


def _serve(pipe: Connection) -> None:
    """Child process: run a demo LocalServer until the parent closes the pipe."""
    with LocalServer(demo=True) as srv:
        pipe.send((srv.url, srv.auth_url, srv.issue_token("alice")))
        with contextlib.suppress(EOFError):
            pipe.recv()


@contextlib.contextmanager
def server(in_process: bool) -> Iterator[tuple[str, str, str]]:
    """Yield ``(data URL, auth URL, token of alice)`` of a running demo server."""
    if in_process:
        with LocalServer(demo=True) as srv:
            yield srv.url, srv.auth_url, srv.issue_token("alice")
        return
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child,), daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--cycles", type=int, default=200, help="next_file + file_done cycles per thread")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--in-process", action="store_true", help="run the server in a thread of this process")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from data_dispatcher.api import DataDispatcherClient as UpstreamClient

    with tempfile.TemporaryDirectory() as tmp, server(args.in_process) as (url, auth_url, token):
        library = str(Path(tmp) / "token_library")
        admin = DataDispatcherClient(url, auth_url, token=token, worker_id="admin", token_library=library)
        factories: dict[str, ClientFactory] = {
            "dd_notebook": lambda wid: DataDispatcherClient(
                url, auth_url, worker_id=wid, token=token, token_library=library),
            "upstream": lambda wid: UpstreamClient(url, auth_url, worker_id=wid, token=token, token_library=library),
        }
        rates: dict[str, list[float]] = {name: [] for name in factories}
        for repeat in range(args.repeats):
            order = list(factories) if repeat % 2 == 0 else list(reversed(factories))
            for name in order:
                rate = run_once(factories[name], admin, args.threads, args.cycles)
                rates[name].append(rate)
                print(f"run {repeat + 1} {name:12s} {rate:8.1f} cycles/s")
    ours, theirs = statistics.median(rates["dd_notebook"]), statistics.median(rates["upstream"])
    where = "in this process" if args.in_process else "in a child process"
    print(f"server {where}; {args.threads} threads x {args.cycles} cycles, {args.repeats} runs each")
    print(f"median dd_notebook {ours:8.1f} cycles/s")
    print(f"median upstream    {theirs:8.1f} cycles/s")
    print(f"ratio              {ours / theirs:8.2f}x  (goal >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
