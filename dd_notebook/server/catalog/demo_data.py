"""Deterministic DUNE-like file records for the demo catalog (metacat-and-auth §5).

Generators yield :class:`DemoFile` objects: the catalog row values and the
replicas. Everything derives from one ``random.Random`` and the file's
position, so the same seed always gives the same catalog. Names grow within a
namespace and each file's replicas come sorted by RSE, so that bulk inserts
append to the B-trees instead of splitting pages in the middle.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .replicas import RSE, Replica

__all__ = ["DEMO_RSES", "DemoFile", "RawFile", "mc_files", "raw_files", "reco_files", "user_files"]

#: Start of the demo's data taking: 2024-05-01T00:00:00Z.
EPOCH = 1714521600.0
FIRST_RUN = 27000

DEMO_RSES = (
    RSE("FNAL_DCACHE", "Fermilab dCache disk", preference=10, remove_prefix="root://fndca1.fnal.gov:1094",
        add_prefix=""),
    RSE("FNAL_TAPE", "Fermilab Enstore tape (files must be staged)", is_tape=True, preference=50, type="native",
        pin_url="https://fndcadoor.fnal.gov:3880/api/v1/bulk-requests",
        poll_url="https://fndcadoor.fnal.gov:3880/api/v1/bulk-requests",
        remove_prefix="https://fndcadoor.fnal.gov:2880", add_prefix="/pnfs/fnal.gov/usr"),
    RSE("CERN_EOS", "CERN EOS disk", preference=20, remove_prefix="root://eospublic.cern.ch:1094/", add_prefix=""),
    RSE("BNL_DCACHE", "Brookhaven dCache disk", preference=30),
    RSE("UK_RAL", "RAL Echo (down for maintenance)", is_available=False, preference=40),
)

_CONFIGS = ("FELIX:APA1:APA2:APA3:APA4", "FELIX:APA1:APA2", "WIB:APA3:APA4", "FELIX:APA2:TPC-ONLY")


@dataclass(slots=True)
class DemoFile:
    """One generated file: catalog row values, hot metadata values and replicas."""

    fid: str
    namespace: str
    name: str
    creator: str
    size: int
    checksums: str
    metadata: dict[str, Any]
    created: float
    replicas: list[Replica] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RawFile:
    """What a reco file inherits from its raw parent."""

    index: int
    run: int
    seq: int
    stream: str
    events: int
    start: float
    end: float
    created: float


def _adler(rng: random.Random) -> str:
    return f'{{"adler32":"{rng.getrandbits(32):08x}"}}'


def _uniform_int(rng: random.Random) -> Callable[[int, int], int]:
    """A faster ``randint`` drawing from ``rng.random()`` (deterministic for a seed)."""
    draw = rng.random
    return lambda low, high: low + int(draw() * (high - low + 1))


_DAYS: dict[int, str] = {}


def _stamp(t: float) -> str:
    """``YYYYmmddTHHMMSS`` of epoch ``t`` in UTC (day strings cached: one strftime per day)."""
    day, second = divmod(int(t), 86400)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = time.strftime("%Y%m%d", time.gmtime(day * 86400))
    hours, rest = divmod(second, 3600)
    return f"{date}T{hours:02d}{rest // 60:02d}{rest % 60:02d}"


_DISK_URLS = {
    "FNAL_DCACHE": ("root://fndca1.fnal.gov:1094/pnfs/fnal.gov/usr/dune/persistent/",),
    "CERN_EOS": ("root://eospublic.cern.ch:1094//eos/experiment/neutplatform/protodune/",),
    "BNL_DCACHE": ("root://dcdoor.usatlas.bnl.gov:1094/pnfs/usatlas.bnl.gov/dune/",),
    "UK_RAL": ("root://xrootd.echo.stfc.ac.uk:1094/dune:/",),
}


def _disk(rse: str, namespace: str, name: str, directory: str) -> Replica:
    """A disk replica: available, URLs preferred first, no path (as DD 2.0's replica sync)."""
    return namespace, name, rse, None, [f"{prefix}{directory}/{name}" for prefix in _DISK_URLS[rse]], 0, True


def _tape(namespace: str, name: str, directory: str) -> Replica:
    """A tape replica: not staged (``available=0``), with its dCache path for staging."""
    path = f"/dune/tape_backed/{directory}/{name}"
    return namespace, name, "FNAL_TAPE", "/pnfs/fnal.gov/usr" + path, ["https://fndcadoor.fnal.gov:2880" + path], 0, False


def raw_files(rng: random.Random, count: int, namespace: str, fids: Iterator[str],
              parents_out: list[RawFile]) -> Iterator[DemoFile]:
    """Yield ``count`` raw detector files, grouped in runs of 20-120 files; record each in ``parents_out``."""
    randint = _uniform_int(rng)
    t = EPOCH
    run, seq, files_in_run = FIRST_RUN - 1, 0, 0
    stream, config, good = "physics", _CONFIGS[0], 1
    for index in range(count):
        if seq == files_in_run:
            run, seq, files_in_run = run + 1, 0, randint(20, 120)
            stream = "physics" if rng.random() < 0.8 else "cosmics"
            config, good = rng.choice(_CONFIGS), int(rng.random() < 0.9)
            t += randint(600, 3600)
        seq += 1
        events = randint(40, 160)
        start, end = round(t, 3), round(t + 60.0, 3)
        t = end + 5.0
        created = round(end + 120.0, 3)
        name = f"np04hd_raw_run{run:06d}_{seq:04d}_dataflow0_datawriter_0_{_stamp(start)}.hdf5"
        first = (seq - 1) * 200 + 1
        meta = {
            "core.run_type": "hd-protodune", "core.file_type": "detector", "core.data_tier": "raw",
            "core.data_stream": stream, "core.runs": [run], "core.runs_subruns": [run * 100000 + seq],
            "core.event_count": events, "core.first_event_number": first, "core.last_event_number": first + events - 1,
            "core.start_time": start, "core.end_time": end, "core.file_format": "hdf5",
            "retention.class": "rawdata", "retention.status": "active",
            "DUNE_data.detector_config": config, "data_quality.online_good_run_list": good,
        }
        directory = f"hd-protodune/raw/{run:06d}"
        replicas = [_disk("CERN_EOS", namespace, name, directory)] if rng.random() < 0.3 else []
        if index % 10 == 0:
            replicas.append(_disk("FNAL_DCACHE", namespace, name, directory))
        replicas.append(_tape(namespace, name, directory))
        parents_out.append(RawFile(index, run, seq, stream, events, start, end, created))
        yield DemoFile(next(fids), namespace, name, "dunepro", randint(3_900_000_000, 4_300_000_000),
                       _adler(rng), meta, created, replicas)


def reco_files(rng: random.Random, parents: list[RawFile], namespace: str, fids: Iterator[str]) -> Iterator[DemoFile]:
    """Yield one full-reconstructed file per raw file in ``parents``."""
    randint = _uniform_int(rng)
    for raw in parents:
        created = round(raw.created + 86400.0 + randint(0, 7200), 3)
        name = (f"np04hd_raw_run{raw.run:06d}_{raw.seq:04d}_dataflow0_datawriter_0_{_stamp(raw.start)}"
                f"_reco_stage1_{_stamp(created)}_keepup.root")
        meta = {
            "core.run_type": "hd-protodune", "core.file_type": "detector", "core.data_tier": "full-reconstructed",
            "core.data_stream": raw.stream, "core.runs": [raw.run], "core.runs_subruns": [raw.run * 100000 + raw.seq],
            "core.event_count": raw.events, "core.start_time": raw.start, "core.end_time": raw.end,
            "core.file_format": "artroot", "core.application.family": "art", "core.application.name": "reco",
            "core.application.version": "v09_91_02d00", "DUNE.campaign": "PDHD_keepup_2024",
            "retention.class": "physics", "retention.status": "active",
        }
        directory = f"hd-protodune-det-reco/reco/{raw.run:06d}"
        replicas = [_disk("BNL_DCACHE", namespace, name, directory)] if rng.random() < 0.25 else []
        replicas.append(_disk("FNAL_DCACHE", namespace, name, directory))
        if rng.random() < 0.15:
            replicas.append(_disk("UK_RAL", namespace, name, directory))
        yield DemoFile(next(fids), namespace, name, "dunepro", randint(900_000_000, 1_500_000_000),
                       _adler(rng), meta, created, replicas)


def mc_files(rng: random.Random, count: int, namespace: str, fids: Iterator[str]) -> Iterator[DemoFile]:
    """Yield ``count`` far-detector simulation files (``core.file_type=mc``)."""
    randint = _uniform_int(rng)
    t = EPOCH + 3600.0
    for index in range(count):
        run = 20000001 + index // 100
        t += randint(30, 300)
        created = round(t, 3)
        name = f"fdvd_prod2_gen_{index:07d}_g4_detsim.root"
        meta = {
            "core.run_type": "fardet-vd", "core.file_type": "mc", "core.data_tier": "detector-simulated",
            "core.data_stream": "physics", "core.runs": [run], "core.event_count": 100,
            "core.file_format": "artroot", "core.application.family": "art", "core.application.name": "detsim",
            "core.application.version": "v09_81_00d02", "DUNE.campaign": "FDVDProd2",
            "retention.class": "simulation", "retention.status": "active",
            "detector.hv_value": round(36.0 + 2.5 * rng.random(), 4),
        }
        directory = f"fardet-vd/FDVDProd2/{index // 1000:05d}"
        replicas = []
        if rng.random() < 0.6:
            replicas.append(_disk("CERN_EOS", namespace, name, directory))
        if rng.random() < 0.3 or not replicas:
            replicas.append(_disk("UK_RAL" if replicas else "FNAL_DCACHE", namespace, name, directory))
        yield DemoFile(next(fids), namespace, name, "dunepro", randint(200_000_000, 600_000_000),
                       _adler(rng), meta, created, replicas)


def user_files(rng: random.Random, namespace: str, fids: Iterator[str]) -> Iterator[DemoFile]:
    """Yield ``a.fcl`` and ``b.fcl``, the files of the upstream DD test query ``files from mengel:gen_cfg``."""
    for index, name in enumerate(("a.fcl", "b.fcl")):
        meta = {"core.file_format": "fcl", "core.file_type": "mc", "core.data_tier": "generator-config",
                "core.application.name": "gen_cfg"}
        replicas = [_disk("FNAL_DCACHE", namespace, name, "users/mengel/gen_cfg")]
        yield DemoFile(next(fids), namespace, name, "bob", 1_000 + int(8_000 * rng.random()), _adler(rng), meta,
                       EPOCH + 60.0 * index, replicas)
