"""The random decisions of the simulation, each drawn from a generator keyed by what it is about.

A decision never depends on a shared random stream: the fate of the *n*-th
reservation of a file comes from ``random.Random`` seeded with a hash of
``(seed, did, n)``, and whether a file is bad from ``(seed, did)``. Whichever
thread reserves the file, and whenever, it draws the same numbers.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import cast

from .config import Distribution, SimConfig

__all__ = ["AttemptPlan", "is_bad_file", "keyed_random", "plan_attempt"]

#: Outcomes of a reservation, as recorded in :class:`dd_notebook.sim.SimResult`.
DONE, RETRIED, FAILED, CRASHED, LOST = "done", "retried", "failed", "crashed", "lost"
OUTCOMES = (DONE, RETRIED, FAILED, CRASHED, LOST)


def keyed_random(seed: int, *key: object) -> random.Random:
    """A generator whose stream depends only on ``seed`` and ``key`` (stable across processes and versions)."""
    text = "\x1f".join([str(seed), *map(str, key)]).encode("utf-8")
    return random.Random(int.from_bytes(hashlib.blake2b(text, digest_size=16).digest(), "big"))


def is_bad_file(config: SimConfig, did: str) -> bool:
    """Whether ``did`` is one of the files that fail on every attempt under ``config``."""
    return config.bad_files > 0 and keyed_random(config.seed, "bad", did).random() < config.bad_files


@dataclass(frozen=True)
class AttemptPlan:
    """What happens to one reservation.

    Attributes
    ----------
    seconds
        Processing time; for a crash, the time until the crash.
    crash
        The worker crashes and never releases the file.
    bad
        The file is bad (it fails on every attempt).
    fails
        Processing fails (irrelevant when ``crash``).
    retry
        A failure is released with ``retry=True``.
    """

    seconds: float
    crash: bool
    bad: bool
    fails: bool
    retry: bool

    @property
    def outcome(self) -> str:
        """``crashed``, ``done``, ``retried`` or ``failed``."""
        if self.crash:
            return CRASHED
        if not self.fails:
            return DONE
        return RETRIED if self.retry else FAILED


def plan_attempt(config: SimConfig, did: str, attempt: int, rse: str | None) -> AttemptPlan:
    """Decide the fate of reservation number ``attempt`` of ``did``, read from ``rse`` (None: no replica).

    The uniform numbers are drawn in a fixed order (crash, failure, retry, then
    the processing time), so a plan depends only on ``(seed, did, attempt)``,
    the configured probabilities and the RSE's failure probability.
    """
    rng = keyed_random(config.seed, "attempt", did, attempt)
    u_crash, u_fail, u_retry = rng.random(), rng.random(), rng.random()
    seconds = cast(Distribution, config.processing_time).sample(rng)  # a float was made Fixed by __post_init__
    crash = u_crash < config.crash
    if crash:
        seconds *= u_crash / config.crash  # the crash strikes part-way through processing
    bad = is_bad_file(config, did)
    policy = config.retry
    return AttemptPlan(
        seconds=seconds,
        crash=crash,
        bad=bad,
        fails=bad or u_fail < config.failure_probability(rse),
        retry=u_retry < policy.probability and (policy.max_attempts is None or attempt < policy.max_attempts),
    )
