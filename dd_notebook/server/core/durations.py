"""The one parser of durations (project timeouts, search-language intervals)."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 604800),
}
_PART = re.compile(
    r"\s*(?:(?P<sign>[+-]?)(?P<hours>\d+):(?P<minutes>\d{2})(?::(?P<seconds>\d{2}(?:\.\d*)?))?"
    r"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))\s*(?P<unit>[A-Za-z]+)?)"
)


def parse_duration(text: str) -> float:
    """Convert a duration text to seconds.

    Examples: ``3600``, ``10m``, ``2 hours``, ``1.5d``, ``01:00:00``, ``1 day 02:30:00``, ``1h30m``.
    A number without a unit is seconds.

    Args:
        text: The duration text.

    Returns:
        The length in seconds (negative when a part is signed so).

    Raises:
        ValueError: The text is not a duration.
    """
    text = text.strip()
    if not text:
        raise ValueError(text)
    total, pos = 0.0, 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(text)
        if match["number"] is not None:
            unit = (match["unit"] or "s").lower()
            if unit not in _UNITS:
                raise ValueError(text)
            total += float(match["number"]) * _UNITS[unit]
        else:
            sign = -1 if match["sign"] == "-" else 1
            total += sign * (int(match["hours"]) * 3600 + int(match["minutes"]) * 60 + float(match["seconds"] or 0))
        pos = match.end()
    return total
