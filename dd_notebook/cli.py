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
    from .server.demo import DEMO_USERS, seed_demo

    db_path = Path(args.db) if args.db else default_db_path()
    try:
        if args.demo:
            conn = connect(db_path)
            seed_demo(conn, args.demo_files)
            conn.close()
        app = ServerApp(db_path, SweepSettings(args.sweep_interval, max(args.sweep_interval, 10.0)))
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
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
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
    from .server.core.db import connect
    from .server.auth.users import UserStore

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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
