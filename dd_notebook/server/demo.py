"""Demo content of ``dd-notebook serve --demo``: users, RSEs, a proximity map and a DUNE-like catalog.

The demo users' passwords equal their names. They exist for local use only;
the server says so when it starts.
"""

from __future__ import annotations

import logging
import sqlite3

from .auth.users import UserStore
from .catalog.demo import load_demo_catalog
from .catalog.demo_process import load_in_child
from .catalog.errors import CatalogExists
from .core.transactions import transaction

log = logging.getLogger(__name__)

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


DEFAULT_CATALOG_FILES = 3000
#: Catalogs at least this big are loaded by a child process (:mod:`.catalog.demo_process`), so the
#: server does not keep the loader's memory.
CHILD_PROCESS_FILES = 100_000


def seed_demo(conn: sqlite3.Connection, catalog_files: int = DEFAULT_CATALOG_FILES) -> None:
    """Add the demo users, RSEs, proximity map and catalog (existing content is kept).

    Args:
        conn: Connection to the server's database.
        catalog_files: Files of the demo catalog (with replicas on the demo RSEs); 0 for none.
            Loaded only into a database that has no demo catalog yet; from
            :data:`CHILD_PROCESS_FILES` files on, in a child process.
    """
    users = UserStore(conn)
    for name, admin, roles in DEMO_USERS:
        if users.get(name) is None:
            users.add(name, name, admin=admin, roles=roles)
    with transaction(conn) as c:
        c.executemany(
            "INSERT OR IGNORE INTO rses(name, description, is_available, is_tape, is_enabled, preference, type) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", DEMO_RSES)
        c.executemany("INSERT OR IGNORE INTO proximity_map(cpu, rse, proximity) VALUES (?, ?, ?)", DEMO_PROXIMITY)
    if catalog_files >= CHILD_PROCESS_FILES:
        db_path = conn.execute("PRAGMA database_list").fetchone()["file"]
        if not load_in_child(db_path, catalog_files):
            log.info("demo catalog already loaded; keeping it")
    elif catalog_files:
        try:
            load_demo_catalog(conn, catalog_files)
        except CatalogExists:
            log.info("demo catalog already loaded; keeping it")
