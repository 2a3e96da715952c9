"""What a simulated campaign did: one :class:`Reservation` per reserved file, summed up in :class:`SimResult`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from .config import NO_REPLICA, SimConfig
from .decisions import CRASHED, DONE, FAILED, LOST, OUTCOMES, RETRIED

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Reservation", "SimResult", "StopReason"]


class StopReason:
    """Why a simulation stopped (the values of :attr:`SimResult.stop_reason`)."""

    PROJECT_ENDED = "project ended"
    IDLE = "idle"
    MAX_RESERVATIONS = "max_reservations"
    MAX_SECONDS = "max_seconds"
    INTERRUPTED = "interrupted"
    ERROR = "error"
    REFUSED = "next_file refused"


@dataclass(frozen=True)
class Reservation:
    """One reservation made by a simulated worker.

    Attributes
    ----------
    worker
        Worker id.
    cpu_site
        The worker's CPU site.
    did
        ``namespace:name`` of the file.
    attempt
        The handle's ``attempts`` after the reservation (1 for the first).
    rse
        RSE of the replica read, or ``"no_replica"``.
    outcome
        ``done``, ``retried`` (failed, released with ``retry=True``),
        ``failed`` (released with ``retry=False``), ``crashed`` (never
        released) or ``lost`` (the release was refused, e.g. because the
        worker timeout had already taken the file away, or it failed).
    bad
        The file is one of the bad files.
    seconds
        Planned processing time (time to the crash for crashes).
    reserved_at, released_at
        Epoch seconds when ``next_file`` answered and when the release (or crash) happened.
    """

    worker: str
    cpu_site: str
    did: str
    attempt: int
    rse: str
    outcome: str
    bad: bool
    seconds: float
    reserved_at: float
    released_at: float


def _counts_table(records: Iterable[Reservation], key: str) -> pd.DataFrame:
    import pandas as pd

    counts: dict[str, Counter[str]] = {}
    for record in records:
        counts.setdefault(getattr(record, key), Counter())[record.outcome] += 1
    frame = pd.DataFrame.from_dict({k: dict(v) for k, v in counts.items()}, orient="index")
    frame = frame.reindex(columns=list(OUTCOMES), fill_value=0).fillna(0).astype("int64")
    frame.insert(0, "reservations", frame.sum(axis=1))
    frame.index.name = key
    return frame.sort_index()


@dataclass(frozen=True)
class SimResult:
    """The outcome of :func:`dd_notebook.sim.simulate`.

    Attributes
    ----------
    project_id
        The project the fleet worked on.
    config
        The configuration used.
    records
        Every reservation, in the order they ended.
    elapsed
        Wall time of the run, seconds.
    stop_reason
        One of the :class:`StopReason` values.
    project_state
        The project's state on the server when the run ended (None if unknown).
    error
        The message of the error that stopped the run (``stop_reason == "error"``).
    """

    project_id: int
    config: SimConfig
    records: tuple[Reservation, ...]
    elapsed: float
    stop_reason: str
    project_state: str | None = None
    error: str | None = None

    def count(self, outcome: str) -> int:
        """Number of reservations that ended with ``outcome`` (``done``, ``retried``, ...)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}")
        return sum(1 for r in self.records if r.outcome == outcome)

    @property
    def reservations(self) -> int:
        """Number of reservations made."""
        return len(self.records)

    @property
    def done(self) -> int:
        """Reservations released as done."""
        return self.count(DONE)

    @property
    def retried(self) -> int:
        """Failures released with ``retry=True``."""
        return self.count(RETRIED)

    @property
    def failed(self) -> int:
        """Failures released with ``retry=False`` (the file is failed for good)."""
        return self.count(FAILED)

    @property
    def crashes(self) -> int:
        """Reservations whose worker crashed."""
        return self.count(CRASHED)

    @property
    def lost(self) -> int:
        """Releases the server refused (the reservation had been taken away)."""
        return self.count(LOST)

    @property
    def workers(self) -> tuple[str, ...]:
        """Ids of the workers that reserved at least one file, sorted."""
        return tuple(sorted({r.worker for r in self.records}))

    @property
    def by_rse(self) -> pd.DataFrame:
        """Reservations and outcome counts per RSE read (``no_replica`` for none)."""
        return _counts_table(self.records, "rse")

    @property
    def by_worker(self) -> pd.DataFrame:
        """Reservations and outcome counts per worker id."""
        return _counts_table(self.records, "worker")

    def file_histories(self) -> dict[str, tuple[str, ...]]:
        """For each file, the outcomes of its reservations by attempt number.

        This is what a seed makes reproducible: two runs with the same seed
        and configuration on identical projects give identical histories
        (see :mod:`dd_notebook.sim`).
        """
        by_file: dict[str, list[Reservation]] = {}
        for record in self.records:
            by_file.setdefault(record.did, []).append(record)
        return {did: tuple(r.outcome for r in sorted(rs, key=lambda r: r.attempt))
                for did, rs in sorted(by_file.items())}

    def to_frame(self) -> pd.DataFrame:
        """One row per reservation: the :class:`Reservation` fields, times as UTC datetimes."""
        import pandas as pd

        columns = [f.name for f in fields(Reservation)]
        frame = pd.DataFrame([[getattr(r, c) for c in columns] for r in self.records], columns=columns)
        for column in ("worker", "cpu_site", "did", "rse"):
            frame[column] = frame[column].astype("category")
        frame["outcome"] = pd.Categorical(frame["outcome"], categories=list(OUTCOMES))
        frame["attempt"] = frame["attempt"].astype("int64")
        frame["bad"] = frame["bad"].astype(bool)
        for column in ("reserved_at", "released_at"):
            frame[column] = pd.to_datetime(frame[column].astype("float64"), unit="s", utc=True)
        return frame

    def summary(self) -> str:
        """A few lines: counts, the stop reason and the project state."""
        lines = [
            f"project {self.project_id}: {self.reservations} reservations by {len(self.workers)} workers "
            f"in {self.elapsed:.1f} s; stopped: {self.stop_reason}"
            + (f" ({self.error})" if self.error else "")
            + (f"; project {self.project_state}" if self.project_state else ""),
            f"  done {self.done}, retried {self.retried}, failed {self.failed}, crashes {self.crashes}"
            + (f", lost {self.lost}" if self.lost else ""),
        ]
        per_rse = Counter(r.rse for r in self.records)
        failures = Counter(r.rse for r in self.records if r.outcome in (RETRIED, FAILED))
        if per_rse:
            parts = [f"{rse} {failures[rse]}/{n}" for rse, n in sorted(per_rse.items(), key=_rse_order)]
            lines.append("  failures by RSE: " + ", ".join(parts))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<SimResult {self.summary()}>"


def _rse_order(item: tuple[str, int]) -> tuple[bool, str]:
    return item[0] == NO_REPLICA, item[0]
