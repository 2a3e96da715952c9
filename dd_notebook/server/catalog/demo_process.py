"""Loading a big demo catalog in a child process, so that the server does not keep the loader's memory.

Generating 10^6 demo files makes millions of short-lived Python objects and a
page cache of gigabytes; after the load the allocator keeps most of that
memory mapped (1.98 GB resident for the rest of the server's life at 10^6
files). A child process returns all of it to the system when it exits.

Run as ``python -m dd_notebook.server.catalog.demo_process DB N_FILES``; the
exit status says what happened (:data:`LOADED`, :data:`ALREADY_LOADED`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..core.db import connect
from .demo import load_demo_catalog
from .errors import CatalogExists

__all__ = ["ALREADY_LOADED", "LOADED", "load_in_child"]

LOADED = 0
ALREADY_LOADED = 3


def load_in_child(db_path: str | Path, n_files: int) -> bool:
    """Load the demo catalog of ``n_files`` files into ``db_path`` from a child process.

    Returns:
        True when loaded, False when the database already had a demo catalog.

    Raises:
        RuntimeError: the child failed (its error output is in the message).
    """
    done = subprocess.run([sys.executable, "-m", __name__, str(db_path), str(n_files)], capture_output=True,
                          text=True, check=False)
    if done.returncode == ALREADY_LOADED:
        return False
    if done.returncode != LOADED:
        raise RuntimeError(f"loading the demo catalog failed: {done.stderr.strip()[-2000:]}")
    return True


def _main(argv: list[str]) -> int:
    db_path, n_files = argv[0], int(argv[1])
    conn = connect(db_path)  # the server's own opening: the files stay private
    try:
        load_demo_catalog(conn, n_files)
    except CatalogExists:
        return ALREADY_LOADED
    finally:
        conn.close()
    return LOADED


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
