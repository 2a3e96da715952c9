"""Worker ids: generation and the worker-id file.

Upstream writes ``<cwd>/.data_dispatcher_worker_id`` as soon as a client is
constructed. Here the file is read at construction when it exists, and written
only when a worker id is first needed (reserving or releasing a file, or
reading :attr:`DataDispatcherClient.WorkerID`).
"""

from __future__ import annotations

import logging
import os
import secrets

__all__ = ["DEFAULT_WORKER_ID_FILE", "WorkerIdFile", "generate_worker_id"]

log = logging.getLogger(__name__)

DEFAULT_WORKER_ID_FILE = ".data_dispatcher_worker_id"


def generate_worker_id(prefix: str = "") -> str:
    """Return ``prefix`` followed by 8 random lower-case hex digits."""
    return prefix + secrets.token_hex(4)


class WorkerIdFile:
    """The file that keeps a worker id between processes.

    Args:
        path: File path; default ``<cwd>/.data_dispatcher_worker_id`` (resolved now).
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = os.path.abspath(path or DEFAULT_WORKER_ID_FILE)

    def read(self) -> str | None:
        """Return the stored worker id (stripped), or ``None`` if the file is missing or empty."""
        try:
            with open(self.path, encoding="utf-8") as f:
                value = f.read().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read worker id file %s: %s", self.path, exc)
            return None
        return value or None

    def write(self, worker_id: str) -> None:
        """Store ``worker_id`` (no trailing newline, like upstream); failures are logged, not raised."""
        try:
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(worker_id)
        except OSError as exc:
            log.warning("cannot write worker id file %s: %s", self.path, exc)
