"""Command line: ``dd-notebook demo | serve | simulate | report | user add``."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path

import platformdirs

from .demo_cli import register as register_demo
from .report.cli import register as register_report
from .sim.cli import register as register_simulate

DEFAULT_PORT = 8080


def default_db_path() -> Path:
    """The server database in the user's data directory (not the current folder)."""
    return Path(platformdirs.user_data_dir("dd-notebook")) / "dd.sqlite"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .server.app import ServerApp, SweepSettings
    from .server.core.db import InsecureDatabaseError, connect
    from .server.core.guard import GuardPolicy
    from .server.demo import DEMO_USERS, seed_demo
    from .server.serving import ConnectionLimits, uvicorn_config

    try:
        limits = ConnectionLimits(args.header_timeout, args.body_timeout, args.keep_alive_timeout,
                                  args.max_connections, args.max_connections_per_client)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    db_path = Path(args.db) if args.db else default_db_path()
    try:
        if args.demo:
            conn = connect(db_path)
            seed_demo(conn, args.demo_files)
            conn.close()
        app = ServerApp(db_path, SweepSettings(args.sweep_interval, max(args.sweep_interval, 10.0)),
                        GuardPolicy(args.host, tuple(args.allowed_host or ())))
    except InsecureDatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base = f"http://{args.host}:{args.port}"
    print(f"dd-notebook server on {base}, database {db_path}")
    print(f"export DATA_DISPATCHER_URL={base}/dd/data")
    print(f"export DATA_DISPATCHER_AUTH_URL={base}/auth")
    print(f"export METACAT_SERVER_URL={base}/metacat/app")
    print(f"export METACAT_AUTH_SERVER_URL={base}/auth")
    if args.demo:
        names = ", ".join(name for name, _, _ in DEMO_USERS)
        print(f"Demo users {names}: the password is the user name. For local use only.")
        if args.host not in ("127.0.0.1", "::1", "localhost"):
            print(f"warning: demo users are served on {args.host}, not a loopback address: anyone who can "
                  "reach it can log in as admin/admin", file=sys.stderr)
    sys.stdout.flush()
    uvicorn.Server(uvicorn_config(app, limits, host=args.host, port=args.port, log_level=args.log_level,
                                  access_log=False)).run()
    return 0


def _read_password(args: argparse.Namespace) -> str | None:
    """The new password: ``--password`` (visible in ``ps``), else a prompt on a terminal, else stdin's first line."""
    if args.password is not None:
        print("warning: --password is visible to other users (ps, shell history); "
              "omit it to be prompted, or pipe the password on stdin", file=sys.stderr)
        return args.password
    if sys.stdin.isatty():
        first = getpass.getpass(f"Password for {args.name}: ")
        if first != getpass.getpass("Repeat the password: "):
            print("error: the passwords differ", file=sys.stderr)
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _user_add(args: argparse.Namespace) -> int:
    from .server.auth.users import UserStore
    from .server.core.db import connect

    password = _read_password(args)
    if not password:
        print("error: no password given (type it at the prompt or pipe it on stdin)", file=sys.stderr)
        return 2
    conn = connect(Path(args.db) if args.db else default_db_path())
    try:
        user = UserStore(conn).add(args.name, password, admin=args.admin, roles=tuple(args.role or ()))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        conn.close()
    roles = ", ".join(sorted(user.roles)) or "-"
    print(f"user {user.username}: admin={'yes' if user.is_admin else 'no'} roles={roles}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dd-notebook``."""
    parser = argparse.ArgumentParser(prog="dd-notebook", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the library does (INFO)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the embedded DD + auth + catalog server")
    serve.add_argument("--db", help=f"SQLite file (default {default_db_path()})")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--demo", action="store_true",
                       help="seed demo users, RSEs, proximity map and a DUNE-like catalog")
    serve.add_argument("--demo-files", type=int, default=3000,
                       help="files in the demo catalog (default 3000, up to 1000000; 0 for none)")
    serve.add_argument("--sweep-interval", type=float, default=2.0,
                       help="seconds between worker-timeout sweeps (default 2)")
    serve.add_argument("--log-level", default="warning")
    serve.add_argument("--allowed-host", action="append", metavar="NAME",
                       help="a host name clients use to reach the server besides loopback and --host "
                            "(repeatable; other Host headers are refused against DNS rebinding)")
    serve.add_argument("--header-timeout", type=float, default=10.0,
                       help="seconds a connection has to send a request's headers (default 10)")
    serve.add_argument("--body-timeout", type=float, default=60.0,
                       help="seconds a request has to send its body (default 60)")
    serve.add_argument("--keep-alive-timeout", type=int, default=5,
                       help="seconds an idle keep-alive connection stays open (default 5)")
    serve.add_argument("--max-connections", type=int, default=1000,
                       help="open connections in total; idle ones are closed first (default 1000)")
    serve.add_argument("--max-connections-per-client", type=int, default=200,
                       help="open connections per client address; idle ones are closed first (default 200)")
    serve.set_defaults(func=_serve)

    user = commands.add_parser("user", help="manage users of the embedded server")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="create or update a user")
    add.add_argument("name")
    add.add_argument("--password", help="the password (visible in ps: leave it out to be prompted or to "
                                         "pipe it on stdin)")
    add.add_argument("--admin", action="store_true")
    add.add_argument("--role", action="append", help="role membership (repeatable)")
    add.add_argument("--db", help=f"SQLite file (default {default_db_path()})")
    add.set_defaults(func=_user_add)
    register_demo(commands)
    register_simulate(commands)
    register_report(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
