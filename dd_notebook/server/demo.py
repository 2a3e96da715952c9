"""Demo content of ``dd-notebook serve --demo``: users, RSEs and a proximity map.

The demo users' passwords equal their names. They exist for local use only;
the server says so when it starts.
"""

from __future__ import annotations

import sqlite3

from .db import transaction
from .users import UserStore

DEMO_USERS = (("admin", True, ("prod",)), ("alice", False, ("prod",)), ("bob", False, ()))

DEMO_RSES = (
    # name, description, available, tape, enabled, preference, type
    ("FNAL_DCACHE", "Fermilab dCache disk", 1, 0, 1, 10, None),
    ("FNAL_TAPE", "Fermilab Enstore tape (files must be staged)", 1, 1, 1, 50, "native"),
    ("CERN_EOS", "CERN EOS disk", 1, 0, 1, 20, None),
    ("BNL_DCACHE", "Brookhaven dCache disk", 1, 0, 1, 30, None),
    ("UK_RAL", "RAL Echo (down for maintenance)", 0, 0, 1, 40, None),
)

DEMO_PROXIMITY = (
    ("DEFAULT", "DEFAULT", 100),
    ("FNAL", "FNAL_DCACHE", 0), ("FNAL", "FNAL_TAPE", 10), ("FNAL", "BNL_DCACHE", 40), ("FNAL", "DEFAULT", 50),
    ("CERN", "CERN_EOS", 0), ("CERN", "UK_RAL", 20), ("CERN", "DEFAULT", 60),
    ("BNL", "BNL_DCACHE", 0), ("BNL", "FNAL_DCACHE", 30), ("BNL", "DEFAULT", 60),
    ("RAL", "UK_RAL", 0), ("RAL", "CERN_EOS", 20), ("RAL", "DEFAULT", 60),
)


def seed_demo(conn: sqlite3.Connection) -> None:
    """Add the demo users, RSEs and proximity map (existing rows are kept)."""
    users = UserStore(conn)
    for name, admin, roles in DEMO_USERS:
        if users.get(name) is None:
            users.add(name, name, admin=admin, roles=roles)
    with transaction(conn) as c:
        c.executemany(
            "INSERT OR IGNORE INTO rses(name, description, is_available, is_tape, is_enabled, preference, type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", DEMO_RSES)
        c.executemany("INSERT OR IGNORE INTO proximity_map(cpu, rse, proximity) VALUES (?, ?, ?)", DEMO_PROXIMITY)
