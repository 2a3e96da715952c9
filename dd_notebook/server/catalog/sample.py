"""A small fixed catalog for examples and tests: every MQL corner case has a file that shows it.

Namespace ``s`` (owned by user ``alice``) holds files ``f01`` ... ``f12`` (fids
``s01`` ... ``s12``), created one day apart from 2023-11-14T22:13:20Z; namespace
``o`` (owned by role ``prod``) holds ``o1`` and ``o2``.

Datasets: ``s:all`` (every ``s`` file), ``s:even`` / ``s:odd`` (by number),
``s:empty``, ``s:top`` whose subset is ``s:mid`` whose subset is ``s:low``
(``s:mid`` holds f01, f02, ``s:low`` holds f03; ``s:top`` itself holds f12),
``o:misc`` (``o1``, ``o2``, ``f01``).

Provenance: f01 → f03, f04, f09; f02 → f04; f03 → f06 (f09 is retired).
"""

from __future__ import annotations

from typing import Any

from .api import Catalog

__all__ = ["SAMPLE_BASE_TIME", "SAMPLE_DAY", "load_sample_catalog"]

#: Creation time of f01 (2023-11-14T22:13:20Z); file ``fNN`` is created ``NN - 1`` days later.
SAMPLE_BASE_TIME = 1_700_000_000.0
SAMPLE_DAY = 86_400.0

_META: dict[str, dict[str, Any]] = {
    "f01": {"core.runs": [1], "core.data_tier": "raw", "x.n": 1, "x.s": "alpha", "x.b": True, "x.f": 1.5,
            "x.list": [1, 2, 3], "x.obj": {"a": 1, "b": "zed"}, "x.t": SAMPLE_BASE_TIME},
    "f02": {"core.runs": [2], "core.data_tier": "raw", "x.n": 2, "x.s": "beta", "x.b": False, "x.list": [],
            "x.t": SAMPLE_BASE_TIME + SAMPLE_DAY},
    "f03": {"core.runs": [3, 4], "core.data_tier": "reco", "x.n": 3, "x.s": "Gamma", "x.list": ["a", "b"],
            "x.obj": {"a": 2}},
    "f04": {"core.runs": [4], "core.data_tier": "reco", "x.n": 4.5, "x.s": "delta-1", "x.b": True},
    "f05": {"core.runs": 5, "core.data_tier": "raw", "x.n": "5", "x.s": "epsilon"},
    "f06": {"core.runs": [6, 7, 8], "core.data_tier": ["raw", "reco"], "x.n": -6, "x.s": "zeta.v2",
            "x.list": [10, "ten", [11]]},
    "f07": {"core.runs": [7]},
    "f08": {},
    "f09": {"core.runs": [9], "core.data_tier": "raw", "x.n": 9},
    "f10": {"core.runs": [10], "core.data_tier": "mc", "x.n": 10, "x.s": "alphabet", "x.nul": None},
    "f11": {"core.runs": [11, 12], "core.data_tier": "mc", "x.n": 11, "x.s": "ALPHA", "x.b": False},
    "f12": {"core.runs": [], "core.data_tier": "raw", "x.n": 12.0, "x.s": "", "x.list": [5]},
}
_SIZES = {"f08": 0}
_PARENTS = {"f03": ["f01"], "f04": ["f01", "f02"], "f06": ["f03"], "f09": ["f01"]}


def load_sample_catalog(catalog: Catalog) -> None:
    """Create the sample namespaces, datasets, files and links in ``catalog`` (which must be empty)."""
    catalog.create_namespace("s", owner_user="alice", creator="alice", description="sample files")
    catalog.create_namespace("o", owner_role="prod", creator="admin")
    for name in ("all", "even", "odd", "empty", "top", "mid", "low"):
        catalog.create_dataset("s", name, creator="alice", metadata={"ds.kind": name, "ds.rank": len(name)})
    catalog.create_dataset("o", "misc", creator="admin")
    catalog.add_child_dataset("s:top", "s:mid")
    catalog.add_child_dataset("s:mid", "s:low")
    files = []
    for index, (name, meta) in enumerate(_META.items()):
        number = index + 1
        entry: dict[str, Any] = {"name": name, "fid": f"s{number:02d}", "metadata": meta,
                                 "created_timestamp": SAMPLE_BASE_TIME + index * SAMPLE_DAY,
                                 "creator": "alice" if number % 3 else "bob",
                                 "checksums": {"adler32": f"{number:08x}"}}
        entry["size"] = _SIZES.get(name, number * 100)
        entry["parents"] = [{"did": f"s:{p}"} for p in _PARENTS.get(name, [])]
        files.append(entry)
    catalog.declare_files(files, namespace="s", dataset="s:all")
    catalog.add_files("s:even", [{"fid": f"s{i:02d}"} for i in range(2, 13, 2)])
    catalog.add_files("s:odd", [{"fid": f"s{i:02d}"} for i in range(1, 13, 2)])
    catalog.add_files("s:mid", [{"did": "s:f01"}, {"did": "s:f02"}])
    catalog.add_files("s:low", [{"did": "s:f03"}])
    catalog.add_files("s:top", [{"did": "s:f12"}])
    catalog.declare_files([{"name": "o1", "fid": "o01", "size": 1, "metadata": {"core.runs": [1], "x.n": 100},
                            "created_timestamp": SAMPLE_BASE_TIME + 0.5},
                           {"name": "o2", "fid": "o02", "size": 2, "metadata": {"x.s": "omega"},
                            "created_timestamp": SAMPLE_BASE_TIME + 100 * SAMPLE_DAY}],
                          namespace="o", dataset="o:misc", creator="admin")
    catalog.add_files("o:misc", [{"fid": "s01"}])
    catalog.retire_file("s09", by="alice")
