"""``dd-notebook simulate PROJECT_ID``: run a simulated worker fleet against a DD server from the shell."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import SimConfig

__all__ = ["register"]


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a probability between 0 and 1")
    return value


def _rse_probability(text: str) -> tuple[str, float]:
    rse, sep, value = text.partition("=")
    if not sep or not rse.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected RSE=PROBABILITY, e.g. CERN_EOS=0.2")
    return rse.strip(), _probability(value)


def _site_weight(text: str) -> tuple[str, float]:
    site, sep, value = text.partition("=")
    if not site.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected SITE or SITE=WEIGHT")
    try:
        weight = float(value) if sep else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the weight is not a number") from None
    return site.strip(), weight


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` sub-command to the ``dd-notebook`` sub-parsers ``commands``."""
    sim = commands.add_parser(
        "simulate", help="process a project with simulated workers",
        description="Process a project with simulated workers through the HTTP API. The server URLs default "
                    "to DATA_DISPATCHER_URL and DATA_DISPATCHER_AUTH_URL; without --user or --token the token "
                    "library entry of the server (from `ddisp login`) is used.")
    sim.add_argument("project_id", type=int, metavar="PROJECT_ID")
    sim.add_argument("--workers", type=int, default=4, help="concurrent workers (default 4)")
    sim.add_argument("--url", help="data-server URL (default $DATA_DISPATCHER_URL)")
    sim.add_argument("--auth-url", help="auth-server URL (default $DATA_DISPATCHER_AUTH_URL)")
    sim.add_argument("--user", help="log in as this user (password login)")
    sim.add_argument("--password", help="password of --user (asked for when omitted)")
    sim.add_argument("--token", help="encoded token to use instead of a login")
    sim.add_argument("--cpu-site", action="append", type=_site_weight, metavar="SITE[=WEIGHT]",
                     help="CPU site of the workers (repeatable; workers are spread by weight; default DEFAULT)")
    sim.add_argument("--time", type=float, default=0.2, metavar="MEDIAN",
                     help="median processing time, seconds (default 0.2)")
    sim.add_argument("--sigma", type=float, default=0.5,
                     help="sigma of log(processing time); 0 for a fixed time (default 0.5)")
    sim.add_argument("--fail-rse", action="append", type=_rse_probability, metavar="RSE=P",
                     help="failure probability of reads from RSE (repeatable; RSE 'no_replica' for none)")
    sim.add_argument("--fail-default", type=_probability, default=0.0, metavar="P",
                     help="failure probability of other RSEs (default 0)")
    sim.add_argument("--fail-files", type=_probability, default=0.0, metavar="P",
                     help="fraction of bad files that fail on every attempt (default 0)")
    sim.add_argument("--crash", type=_probability, default=0.0, metavar="P",
                     help="probability that a worker crashes during a reservation (default 0)")
    sim.add_argument("--restart-delay", type=float, default=1.0, metavar="S",
                     help="seconds before a crashed worker is replaced (default 1)")
    sim.add_argument("--max-attempts", type=int, default=3, metavar="N",
                     help="the N-th failure of a file is final; 0 for no limit (default 3)")
    sim.add_argument("--retry-probability", type=_probability, default=1.0, metavar="P",
                     help="probability that a failure is retried (default 1)")
    sim.add_argument("--seed", type=int, default=0, help="seed of every random decision (default 0)")
    sim.add_argument("--max-seconds", type=float, metavar="T", help="stop reserving after T seconds")
    sim.add_argument("--max-reservations", type=int, metavar="N", help="stop after N reservations")
    sim.add_argument("--idle-exit", type=float, default=60.0, metavar="S",
                     help="a worker stops after S seconds without a reservable file (default 60)")
    sim.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    sim.set_defaults(func=_simulate_command)


def _config(args: argparse.Namespace) -> SimConfig:
    from .config import Fixed, LogNormal, RetryPolicy, SimConfig

    return SimConfig(
        workers=args.workers,
        cpu_sites=dict(args.cpu_site) if args.cpu_site else ("DEFAULT",),
        processing_time=LogNormal(args.time, args.sigma) if args.sigma else Fixed(args.time),
        rse_failure=dict(args.fail_rse or ()),
        default_failure=args.fail_default,
        bad_files=args.fail_files,
        retry=RetryPolicy(args.retry_probability, args.max_attempts or None),
        crash=args.crash,
        restart_delay=args.restart_delay,
        seed=args.seed,
        max_reservations=args.max_reservations,
        max_seconds=args.max_seconds,
        idle_exit=args.idle_exit,
    )


def _simulate_command(args: argparse.Namespace) -> int:
    from ..client import DataDispatcherError
    from .fleet import simulate

    try:
        config = _config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    password = args.password
    if args.user and password is None:
        password = getpass.getpass(f"password of {args.user}: ")
    try:
        result = simulate(args.url, args.project_id, config, progress=not args.no_progress, token=args.token,
                          auth_url=args.auth_url, user=args.user, password=password)
    except (DataDispatcherError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 1 if result.stop_reason == "error" else 0
