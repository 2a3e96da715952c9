"""Named SQL parameters collected while compiling a query (no value is ever spliced into SQL)."""

from __future__ import annotations

from typing import Any

__all__ = ["Params"]


class Params:
    """A growing set of named parameters ``:p0, :p1, ...``; equal values share one name."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._names: dict[tuple[type, Any], str] = {}

    def add(self, value: Any) -> str:
        """Return the placeholder (``:pN``) bound to ``value``."""
        key = (type(value), value)
        name = self._names.get(key)
        if name is None:
            name = f"p{len(self.values)}"
            self.values[name] = value
            self._names[key] = name
        return ":" + name
