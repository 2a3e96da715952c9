"""Integers from requests: parsed strictly and bounded to what SQLite stores."""

from __future__ import annotations

import re
from typing import Any

from .errors import bad_request

__all__ = ["MAX_INT_DIGITS", "MAX_SQLITE_INT", "parse_int", "stored_int"]

#: Longest decimal integer (digits) accepted as an id, cursor or limit: below SQLite's 2**63.
MAX_INT_DIGITS = 18
#: Largest magnitude of an integer SQLite can store.
MAX_SQLITE_INT = 2**63 - 1
_ASCII_INT = re.compile(r"[+-]?[0-9]+")


def parse_int(value: Any, name: str) -> int:
    """Parse an integer id from text or JSON; 400 naming ``name`` otherwise.

    Text must be ASCII digits (``"²"`` or Arabic-Indic digits are refused) with
    at most :data:`MAX_INT_DIGITS` digits, so every value fits SQLite's integers.
    """
    if isinstance(value, bool):
        raise bad_request(f"Invalid {name}: {value!r} (expected an integer)")
    if isinstance(value, int):
        if abs(value) < 10**MAX_INT_DIGITS:
            return value
        raise bad_request(f"Invalid {name}: {value!r} (expected an integer of at most {MAX_INT_DIGITS} digits)")
    if isinstance(value, str):
        text = value.strip()
        if _ASCII_INT.fullmatch(text):
            if len(text.lstrip("+-")) <= MAX_INT_DIGITS:
                return int(text)
            raise bad_request(f"Invalid {name}: {short_repr(value)} (expected an integer of at most "
                              f"{MAX_INT_DIGITS} digits)")
    raise bad_request(f"Invalid {name}: {short_repr(value)} (expected an integer)")


def stored_int(value: Any, name: str) -> int:
    """Return a JSON integer that SQLite can store (``|value| <= 2**63 - 1``); 400 naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be an integer")
    if abs(value) > MAX_SQLITE_INT:
        raise bad_request(f"{name} {value} is out of range (limit {MAX_SQLITE_INT} in magnitude)")
    return value


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
