"""One colour palette for handle states, project states and outcomes, shared by plots, views and panels.

A handle state has the same colour in every plot, in the ``ProjectView`` card,
in every panel and in generated reports, so that a glance at any of them reads
the same way.
"""

from __future__ import annotations

#: Handle states, in lifecycle order.
STATE_COLORS: dict[str, str] = {
    "initial": "#9e9e9e",
    "reserved": "#1f77b4",
    "done": "#2ca02c",
    "failed": "#d62728",
}

#: Project states.
PROJECT_STATE_COLORS: dict[str, str] = {
    "active": "#1f77b4",
    "done": "#2ca02c",
    "failed": "#d62728",
    "cancelled": "#d62728",
    "held": "#7f7f7f",
    "abandoned": "#7f7f7f",
}

#: How a reservation ended.
OUTCOME_COLORS: dict[str, str] = {
    "done": STATE_COLORS["done"],
    "failed": STATE_COLORS["failed"],
    "worker_timeout": "#ff7f0e",
    "reset": "#9467bd",
}

#: Whether a worker can use a replica.
AVAILABILITY_COLORS: dict[str, str] = {
    "usable": STATE_COLORS["done"],
    "not staged": "#ff7f0e",
    "RSE down": STATE_COLORS["failed"],
    "RSE disabled": "#7f7f7f",
}

#: Colour of error text and error boxes.
ERROR_COLOR = STATE_COLORS["failed"]

__all__ = ["AVAILABILITY_COLORS", "ERROR_COLOR", "OUTCOME_COLORS", "PROJECT_STATE_COLORS", "STATE_COLORS"]
