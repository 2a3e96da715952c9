"""The catalog's clock: timestamps are float epoch seconds."""

from __future__ import annotations

import time

__all__ = ["now"]


def now() -> float:
    """Current time as float epoch seconds (the catalog's timestamp unit)."""
    return time.time()
