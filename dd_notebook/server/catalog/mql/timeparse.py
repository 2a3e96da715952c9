"""Time constants of MQL: ``datetime(...)`` and ``date(...)`` as epoch seconds (UTC by default)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

__all__ = ["parse_date", "parse_datetime"]

_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_DAY = 86400.0


def parse_datetime(text: str) -> float:
    """Return the epoch seconds of an ISO-8601 date or date-time (no offset means UTC).

    Raises:
        ValueError: ``text`` is not an ISO-8601 date or date-time.
    """
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def parse_date(text: str, offset: str | None = None) -> tuple[float, float]:
    """Return ``[midnight, next midnight)`` of day ``text`` (``YYYY-MM-DD``) in epoch seconds.

    Args:
        text: The day.
        offset: Optional ``±hh:mm`` time-zone offset of the day (default UTC).

    Raises:
        ValueError: malformed day or offset.
    """
    day = date.fromisoformat(text.strip())
    zone = timezone.utc
    if offset is not None:
        match = _OFFSET.fullmatch(offset.strip())
        if not match:
            raise ValueError(f"offset {offset!r} must look like +hh:mm or -hh:mm")
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta >= timedelta(hours=24):
            raise ValueError(f"offset {offset!r} is out of range")
        zone = timezone(delta if sign == "+" else -delta)
    start = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
    return start, start + _DAY

