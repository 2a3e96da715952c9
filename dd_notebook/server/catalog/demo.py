"""A deterministic DUNE-like demo catalog (metacat-and-auth §5.3), loaded in one bulk transaction.

Layout for ``n_files`` files (two of them are the user files):

=============================================  =====  =================================================
dataset                                        share  content
=============================================  =====  =================================================
``hd-protodune:raw-2024``                      50 %   raw HDF5 files in runs of 20-120 files
``hd-protodune-det-reco:full-reco-2024``       30 %   full-reconstructed files, each with a raw parent
``fardet-vd:fdvd-prod2-sim``                   20 %   ``core.file_type=mc`` simulation
``mengel:gen_cfg``                             2      ``a.fcl``, ``b.fcl`` (the upstream DD test query)
``dune:all``                                   all    every file; the four datasets are also its subsets
=============================================  =====  =================================================

Replicas go into the DD server's ``replicas`` table: raw files on FNAL_TAPE (not
staged, ``available=0``) and often CERN_EOS, reco files on FNAL_DCACHE and
sometimes BNL_DCACHE / UK_RAL, simulation on CERN_EOS / UK_RAL / FNAL_DCACHE.
"""

from __future__ import annotations

import gc
import itertools
import logging
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import orjson

from ..core.transactions import transaction
from .datasets import add_child_dataset, add_to_dataset
from .demo_data import DEMO_RSES, EPOCH, DemoFile, RawFile, mc_files, raw_files, reco_files, user_files
from .errors import CatalogExists
from .file_rows import FileRow, insert_file_rows
from .replicas import add_rses, ensure_dd_tables, insert_replica_rows, replica_rows
from .schema import DEFAULT_HOT_KEYS, ensure_schema, hot_key_ids, hot_values

__all__ = ["DEMO_DATASETS", "load_demo_catalog"]

log = logging.getLogger(__name__)

RAW = ("hd-protodune", "raw-2024")
RECO = ("hd-protodune-det-reco", "full-reco-2024")
MC = ("fardet-vd", "fdvd-prod2-sim")
USER = ("mengel", "gen_cfg")
ALL = ("dune", "all")
#: The demo's datasets as ``namespace:name``.
DEMO_DATASETS = tuple(f"{ns}:{name}" for ns, name in (RAW, RECO, MC, USER, ALL))

_NAMESPACES = (
    (RAW[0], None, "prod", "ProtoDUNE-HD raw detector data"),
    (RECO[0], None, "prod", "ProtoDUNE-HD keep-up reconstruction"),
    (MC[0], None, "prod", "Far detector (vertical drift) simulation"),
    (USER[0], "bob", None, "user namespace (name kept from the upstream DD tests)"),
    (ALL[0], None, "prod", "DUNE-wide datasets"),
)
_CHUNK = 20_000
_FID_BASE = 10_000_000


@dataclass
class _Chunk:
    """SQL parameter rows of up to ``_CHUNK`` generated files, ready for ``executemany``."""

    ids: range
    rows: list[FileRow]
    hot: list[tuple[int, int, Any, int]]
    links: list[tuple[int, int]]
    replicas: list[tuple[object, ...]]
    datasets: tuple[int, ...]


def _chunks(generated: Iterable[DemoFile], next_id: int, datasets: tuple[int, ...], hot: dict[str, int],
            with_replicas: bool, parent_ids: Iterator[int] | None = None) -> Iterator[_Chunk]:
    """Group generated files into chunks of table rows, numbering them from ``next_id``."""
    generated = iter(generated)
    while chunk := list(itertools.islice(generated, _CHUNK)):
        ids = range(next_id, next_id + len(chunk))
        yield _Chunk(
            ids=ids,
            rows=[(i, f.fid, f.namespace, f.name, f.creator, f.size, f.checksums, _json(f.metadata), f.created)
                  for i, f in zip(ids, chunk)],
            hot=[v for i, f in zip(ids, chunk) for v in hot_values(f.metadata, i, hot)],
            links=[(next(parent_ids), i) for i in ids] if parent_ids is not None else [],
            replicas=replica_rows(r for f in chunk for r in f.replicas) if with_replicas else [],
            datasets=datasets)
        next_id = ids.stop


def _plan(rng: random.Random, n_files: int, first_id: int, datasets: dict[tuple[str, str], int],
          hot: dict[str, int], with_replicas: bool, runs: list[int]) -> Iterator[_Chunk]:
    """Every chunk of the demo in insertion order: namespaces sorted, names growing within each."""
    rest = n_files - 2
    n_raw, n_reco = rest // 2, rest * 3 // 10
    fids = (str(_FID_BASE + i) for i in itertools.count())
    next_id = first_id
    everything = datasets[ALL]
    for chunk in _chunks(mc_files(rng, rest - n_raw - n_reco, MC[0], fids), next_id, (datasets[MC], everything),
                         hot, with_replicas):
        next_id = chunk.ids.stop
        yield chunk
    first_raw = next_id
    raws: list[RawFile] = []
    for chunk in _chunks(raw_files(rng, n_raw, RAW[0], fids, raws), next_id, (datasets[RAW], everything), hot,
                         with_replicas):
        next_id = chunk.ids.stop
        yield chunk
    runs.extend((raws[0].run, raws[-1].run))
    parents = [raw for raw in raws if raw.index % 5 < 3][:n_reco]
    for chunk in _chunks(reco_files(rng, parents, RECO[0], fids), next_id, (datasets[RECO], everything), hot,
                         with_replicas, iter([first_raw + raw.index for raw in parents])):
        next_id = chunk.ids.stop
        yield chunk
    yield from _chunks(user_files(rng, USER[0], fids), next_id, (datasets[USER], everything), hot, with_replicas)


def _store(conn: sqlite3.Connection, chunk: _Chunk, with_replicas: bool) -> None:
    insert_file_rows(conn, chunk.rows, chunk.links, hot=chunk.hot)
    for dataset in chunk.datasets:
        add_to_dataset(conn, dataset, chunk.ids)
    if with_replicas:
        insert_replica_rows(conn, chunk.replicas)


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


def _create_layout(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    conn.executemany("INSERT INTO mc_namespaces(name, owner_user, owner_role, creator, description, "
                     "created_timestamp) VALUES (?, ?, ?, 'admin', ?, ?)",
                     [(name, user, role, text, EPOCH) for name, user, role, text in _NAMESPACES])
    ids: dict[tuple[str, str], int] = {}
    for namespace, name in (RAW, RECO, MC, USER, ALL):
        cursor = conn.execute(
            "INSERT INTO mc_datasets(namespace, name, creator, description, created_timestamp) "
            "VALUES (?, ?, 'admin', ?, ?)", (namespace, name, f"demo dataset {namespace}:{name}", EPOCH))
        ids[(namespace, name)] = cast(int, cursor.lastrowid)  # always set after a successful INSERT
    return ids


def load_demo_catalog(conn: sqlite3.Connection, n_files: int = 3000, seed: int = 20240612, *,
                      with_replicas: bool = True) -> dict[str, Any]:
    """Load the demo catalog into an empty catalog (one transaction).

    Args:
        conn: Connection to the shared database file.
        n_files: Total number of files (at least 10); 1,000,000 loads in well under a minute.
        seed: Seed of the generator: the same seed gives the same catalog.
        with_replicas: Also fill the DD server's ``rses`` and ``replicas`` tables.

    Returns:
        ``{"files": n, "datasets": [...], "runs": (first, last), "seconds": t}``.

    Raises:
        CatalogExists: the demo namespaces already exist.
        ValueError: ``n_files`` is below 10.
    """
    if n_files < 10:
        raise ValueError("the demo catalog needs at least 10 files")
    started = time.perf_counter()
    ensure_schema(conn, DEFAULT_HOT_KEYS)
    ensure_dd_tables(conn)
    if conn.execute("SELECT 1 FROM mc_namespaces WHERE name = ?", (RAW[0],)).fetchone():
        raise CatalogExists("the demo catalog is already loaded")
    hot = hot_key_ids(conn)
    runs: list[int] = []
    cache = conn.execute("PRAGMA cache_size").fetchone()[0]
    synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    # A page cache as large as the new data keeps dirty B-tree pages out of the WAL until the commit, and
    # without fsync the commit leaves the writing to the OS (a crash mid-load loses only the demo).
    conn.execute(f"PRAGMA cache_size={-max(65536, 2 * n_files)}")
    conn.execute("PRAGMA synchronous=OFF")
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived tuples and dicts: cyclic GC passes would triple the run time
    try:
        with transaction(conn):
            datasets = _create_layout(conn)
            first_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM mc_files").fetchone()[0]
            for chunk in _plan(random.Random(seed), n_files, first_id, datasets, hot, with_replicas, runs):
                _store(conn, chunk, with_replicas)
            if with_replicas:
                add_rses(conn, DEMO_RSES)
    finally:
        if collecting:
            gc.enable()
        conn.execute(f"PRAGMA cache_size={int(cache)}")
        conn.execute(f"PRAGMA synchronous={int(synchronous)}")
    for sub in (RAW, RECO, MC, USER):
        add_child_dataset(conn, ALL, sub)
    seconds = time.perf_counter() - started
    log.info("demo catalog: %d files in %.1f s", n_files, seconds)
    return {"files": n_files, "datasets": list(DEMO_DATASETS), "runs": tuple(runs), "seconds": seconds}
