"""Configuration of a simulated worker fleet: processing-time distributions, retry policy, :class:`SimConfig`.

Everything here is plain standard-library Python, so that ``import dd_notebook.sim``
stays light.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import cast

__all__ = ["NO_REPLICA", "Distribution", "Fixed", "LogNormal", "RetryPolicy", "SimConfig", "Uniform"]

#: Key of :attr:`SimConfig.rse_failure` used when ``next_file`` hands out a file without any replica.
NO_REPLICA = "no_replica"


def _check_probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")
    return float(value)


def _check_seconds(name: str, value: float, *, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Fixed:
    """Every reservation takes the same processing time.

    Parameters
    ----------
    seconds
        Processing time in (real, wall-clock) seconds.
    """

    seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", _check_seconds("Fixed.seconds", self.seconds))

    def sample(self, rng: random.Random) -> float:
        """Return the processing time (``rng`` is not used)."""
        return self.seconds

    @property
    def median(self) -> float:
        """The median processing time, seconds."""
        return self.seconds


@dataclass(frozen=True)
class Uniform:
    """Processing times drawn uniformly from ``[low, high]`` seconds.

    Parameters
    ----------
    low, high
        Bounds in seconds, ``0 <= low <= high``.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        low = _check_seconds("Uniform.low", self.low)
        high = _check_seconds("Uniform.high", self.high)
        if high < low:
            raise ValueError(f"Uniform.high ({high}) must not be below Uniform.low ({low})")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: random.Random) -> float:
        """Draw one processing time from ``rng``."""
        return rng.uniform(self.low, self.high)

    @property
    def median(self) -> float:
        """The median processing time, seconds."""
        return (self.low + self.high) / 2


@dataclass(frozen=True)
class LogNormal:
    """Log-normally distributed processing times, given by their median and the sigma of the log.

    Parameters
    ----------
    median
        Median processing time, seconds (``exp(mu)``).
    sigma
        Standard deviation of ``log(seconds)``; 0 gives the median every time.
    """

    median: float
    sigma: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "median", _check_seconds("LogNormal.median", self.median, allow_zero=False))
        object.__setattr__(self, "sigma", _check_seconds("LogNormal.sigma", self.sigma))

    def sample(self, rng: random.Random) -> float:
        """Draw one processing time from ``rng``."""
        return rng.lognormvariate(math.log(self.median), self.sigma)


Distribution = Fixed | Uniform | LogNormal


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed file is released: back to the queue (``retry=True``) or failed for good.

    Parameters
    ----------
    probability
        Probability that a failure is released with ``retry=True``.
    max_attempts
        A failure of the file's ``max_attempts``-th reservation (the server's
        ``attempts`` counter, which also counts crashed and timed-out
        reservations) is released with ``retry=False``; ``None`` for no limit.
    """

    probability: float = 1.0
    max_attempts: int | None = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "probability", _check_probability("RetryPolicy.probability", self.probability))
        attempts = self.max_attempts
        if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1):
            raise ValueError(f"RetryPolicy.max_attempts must be a positive integer or None, got {attempts!r}")


def _site_weights(cpu_sites: Sequence[str] | Mapping[str, float] | str) -> tuple[tuple[str, float], ...]:
    if isinstance(cpu_sites, str):
        cpu_sites = (cpu_sites,)
    if isinstance(cpu_sites, Mapping):
        pairs = list(cpu_sites.items())
    else:  # site names, or the (site, weight) pairs of an already validated config
        pairs = [tuple(site) if isinstance(site, tuple) and len(site) == 2 else (site, 1.0) for site in cpu_sites]
    if not pairs:
        raise ValueError("cpu_sites must name at least one CPU site")
    for site, weight in pairs:
        if not isinstance(site, str) or not site.strip():
            raise ValueError(f"cpu_sites: site names must be non-empty strings, got {site!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0 \
                or not math.isfinite(weight):
            raise ValueError(f"cpu_sites: the weight of {site!r} must be a positive number, got {weight!r}")
    if len({site for site, _ in pairs}) != len(pairs):
        raise ValueError("cpu_sites: each site may be listed once")
    return tuple((site, float(weight)) for site, weight in pairs)


def _failure_map(rse_failure: Mapping[str, float]) -> Mapping[str, float]:
    if not isinstance(rse_failure, Mapping):
        raise ValueError(f"rse_failure must map RSE names to probabilities, got {type(rse_failure).__name__}")
    checked = {}
    for rse, p in rse_failure.items():
        if not isinstance(rse, str) or not rse:
            raise ValueError(f"rse_failure: RSE names must be non-empty strings, got {rse!r}")
        checked[rse] = _check_probability(f"rse_failure[{rse!r}]", p)
    return MappingProxyType(checked)


def _check_positive_int(name: str, value: int | None, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if optional else ''}, got {value!r}")


@dataclass(frozen=True)
class SimConfig:
    """What a simulated worker fleet does; validated on construction (``ValueError`` names the bad field).

    Parameters
    ----------
    workers
        Number of concurrent workers (threads).
    cpu_sites
        CPU sites sent with ``next_file``: a site name, a sequence of names
        (workers are spread over them round-robin) or a mapping site → weight
        (workers are spread in proportion, interleaved). Stored as
        ``(site, weight)`` pairs.
    processing_time
        How long a worker holds a file before releasing it: :class:`Fixed`,
        :class:`Uniform` or :class:`LogNormal`, real wall-clock seconds. A plain
        number means ``Fixed(number)``. Keep it below the project's worker
        timeout, or the server takes files away from working workers.
    rse_failure
        Failure probability of a reservation by the RSE of the replica the
        worker reads: the first available replica after sorting by proximity
        (smaller is closer, unknown last). The key :data:`NO_REPLICA`
        (``"no_replica"``) applies when the handle comes with no replica
        (virtual projects, unstaged tape copies). Stored read-only.
    default_failure
        Failure probability for RSEs (and ``no_replica``) not in ``rse_failure``.
    bad_files
        Probability that a file is "bad": it fails on every attempt. The set of
        bad files is a deterministic function of ``seed`` and the file's DID.
    retry
        The :class:`RetryPolicy` applied to failures.
    crash
        Probability that a worker crashes during a reservation: it never
        releases the file (the server's worker-timeout sweep must) and is
        replaced by a new worker with a new worker id after ``restart_delay``.
    restart_delay
        Seconds before a crashed worker's replacement starts.
    seed
        Seed of every random decision (see :mod:`dd_notebook.sim` on reproducibility).
    max_reservations
        Stop after this many reservations in total (None: no limit).
    max_seconds
        Stop reserving after this many seconds of wall time (None: no limit);
        files in hand are still finished.
    idle_exit
        A worker stops after ``next_file`` has answered "retry later" for this
        many seconds in a row (it always stops when the project has ended).
    poll_interval
        Seconds between two ``next_file`` polls while nothing can be reserved.
    worker_prefix
        Worker ids are ``<prefix><slot>.<incarnation>``, e.g. ``sim03.2`` for
        the second worker of slot 3 (the first one crashed).
    """

    workers: int = 4
    cpu_sites: Sequence[str] | Mapping[str, float] | str = ("DEFAULT",)
    processing_time: Distribution | float = LogNormal(0.2, 0.5)
    rse_failure: Mapping[str, float] = field(default_factory=dict)
    default_failure: float = 0.0
    bad_files: float = 0.0
    retry: RetryPolicy = RetryPolicy()
    crash: float = 0.0
    restart_delay: float = 1.0
    seed: int = 0
    max_reservations: int | None = None
    max_seconds: float | None = None
    idle_exit: float = 60.0
    poll_interval: float = 0.5
    worker_prefix: str = "sim"

    def __post_init__(self) -> None:
        _check_positive_int("workers", self.workers, optional=False)
        set_ = object.__setattr__
        set_(self, "cpu_sites", _site_weights(self.cpu_sites))
        timing = self.processing_time
        if isinstance(timing, (int, float)) and not isinstance(timing, bool):
            set_(self, "processing_time", Fixed(timing))
        elif not isinstance(timing, (Fixed, Uniform, LogNormal)):
            raise ValueError(f"processing_time must be Fixed, Uniform, LogNormal or seconds, got {timing!r}")
        set_(self, "rse_failure", _failure_map(self.rse_failure))
        set_(self, "default_failure", _check_probability("default_failure", self.default_failure))
        set_(self, "bad_files", _check_probability("bad_files", self.bad_files))
        if not isinstance(self.retry, RetryPolicy):
            raise ValueError(f"retry must be a RetryPolicy, got {self.retry!r}")
        set_(self, "crash", _check_probability("crash", self.crash))
        set_(self, "restart_delay", _check_seconds("restart_delay", self.restart_delay))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        _check_positive_int("max_reservations", self.max_reservations, optional=True)
        if self.max_seconds is not None:
            set_(self, "max_seconds", _check_seconds("max_seconds", self.max_seconds, allow_zero=False))
        set_(self, "idle_exit", _check_seconds("idle_exit", self.idle_exit))
        set_(self, "poll_interval", _check_seconds("poll_interval", self.poll_interval, allow_zero=False))
        if not isinstance(self.worker_prefix, str) or len(self.worker_prefix) > 64:
            raise ValueError(f"worker_prefix must be a string of at most 64 characters, got {self.worker_prefix!r}")

    def failure_probability(self, rse: str | None) -> float:
        """Failure probability of a reservation that reads from ``rse`` (``None``: no replica)."""
        return self.rse_failure.get(rse or NO_REPLICA, self.default_failure)

    def site_of_slot(self, slot: int) -> str:
        """The CPU site of worker slot ``slot`` (0-based).

        Smooth weighted round-robin: any prefix of the slots follows the
        weights as closely as possible, and equal weights give plain round-robin.
        """
        sites = cast(tuple[tuple[str, float], ...], self.cpu_sites)  # normalised by __post_init__
        totals = dict.fromkeys((site for site, _ in sites), 0.0)
        weight_sum = sum(weight for _, weight in sites)
        chosen = sites[0][0]
        for _ in range(slot + 1):
            for site, weight in sites:
                totals[site] += weight
            chosen = max(totals, key=lambda s: totals[s])
            totals[chosen] -= weight_sum
        return chosen
