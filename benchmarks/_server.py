"""Start ``dd-notebook serve`` in a subprocess on a free port for benchmarks."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(db: Path | None = None, demo_files: int | None = None,
           process: list[subprocess.Popen[bytes]] | None = None) -> Iterator[tuple[str, Path]]:
    """Yield ``(base_url, db_path)`` of a demo server running in its own process.

    ``demo_files`` sizes the demo catalog (the server's default otherwise); the
    server's process is appended to ``process`` when given.
    """
    with tempfile.TemporaryDirectory() as tmp:
        db_path = db or Path(tmp) / "bench.sqlite"
        port = free_port()
        size = ["--demo-files", str(demo_files)] if demo_files is not None else []
        proc = subprocess.Popen([sys.executable, "-m", "dd_notebook", "serve", "--demo", "--db", str(db_path),
                                 "--port", str(port), *size], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        base = f"http://127.0.0.1:{port}"
        if process is not None:
            process.append(proc)
        try:
            for _ in range(36_000 if demo_files else 300):
                with contextlib.suppress(requests.ConnectionError):
                    if requests.get(base + "/dd/data/version", timeout=1).ok:
                        break
                time.sleep(0.05)
            yield base, db_path
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def token_for(db_path: Path, username: str) -> str:
    """Mint a token with the server's own secret (the same as a login would return)."""
    from dd_notebook.server.auth.tokens import TokenSigner, get_secret
    from dd_notebook.server.core.db import connect

    conn = connect(db_path)
    try:
        return TokenSigner(get_secret(conn)).issue(username)
    finally:
        conn.close()
