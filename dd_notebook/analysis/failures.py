"""Failures: rates per group with their uncertainty, retries and timeouts per file, files that failed for good."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from ..frames import HANDLE_EVENTS, HANDLE_STATE_DTYPE, HANDLE_STATES
from ._arrays import EVENT_CODE, NO_REPLICA, STATE_CODE, codes, count_by, files_of, groups_of, require

__all__ = ["NO_REPLICA", "failure_rates", "permanent_failures", "retry_counts", "wilson_interval",
           "worker_timeout_counts"]

FAILURE_RATE_COLUMNS = ("done", "failed", "worker_timeout", "releases", "failure_rate", "ci_low", "ci_high")

#: Default confidence level of the failure-rate intervals.
CONFIDENCE = 0.95


def wilson_interval(
    failures: np.ndarray | int, trials: np.ndarray | int, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``failures / trials``.

    Unlike the normal approximation it stays inside [0, 1] and does not
    collapse to zero width at 0 % or 100 %, which matters for the small groups
    (a worker with 3 releases) that failure-rate tables are full of.

    Parameters
    ----------
    failures, trials
        Counts (arrays broadcast together); ``trials`` must be positive.
    confidence
        Two-sided confidence level, between 0 and 1 (default 0.95).

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper bounds, as fractions.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    k = np.asarray(failures, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if (n <= 0).any():
        raise ValueError("wilson_interval needs at least one trial per group")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = k / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * np.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    # the interval always holds p itself: at 0 % and 100 % rounding could otherwise put it a hair outside
    return np.clip(np.minimum(centre - half, p), 0.0, 1.0), np.clip(np.maximum(centre + half, p), 0.0, 1.0)


def failure_rates(
    events: pd.DataFrame,
    by: str = "worker",
    *,
    handles: pd.DataFrame | None = None,
    replicas: pd.DataFrame | None = None,
    attr_prefix: str = "attr.",
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """How often reservations end badly, per group, with a binomial confidence interval.

    Every reservation ends in ``done``, ``failed`` (a failed release, retried
    or not) or ``worker_timeout``; the failure rate of a group is
    ``(failed + worker_timeout) / (done + failed + worker_timeout)``.

    Parameters
    ----------
    events
        An events frame.
    by
        What to group by:

        * any events column, e.g. ``"worker"`` or ``"attempt"`` (the attempt
          number a release ends);
        * ``"rse"``: the RSE of each file's preferred replica (usable first,
          then lowest ``preference``, then name) -- needs ``replicas``; DD does
          not record which replica a worker actually read. Files without any
          replica (all files of a virtual project) form the group
          ``"no replica"``;
        * any handles column or file attribute (``"tag"`` finds ``tag``,
          ``attr.tag`` or ``attributes["tag"]``) -- needs ``handles``.
    handles, replicas
        Frames from :func:`~dd_notebook.frames.handles_frame` /
        :func:`~dd_notebook.frames.replicas_frame` of the same project(s).
    attr_prefix
        Prefix of expanded attribute columns in ``handles``.
    confidence
        Level of the ``ci_low`` / ``ci_high`` interval (default 0.95).

    Returns
    -------
    pandas.DataFrame
        Indexed by group (named ``by``), sorted by group label (``"no replica"``
        last), with int64 ``done``, ``failed``, ``worker_timeout``,
        ``releases``, float ``failure_rate`` and its Wilson score interval
        ``ci_low``, ``ci_high`` (fractions; see :func:`wilson_interval`);
        groups without any release are left out.
    """
    require(events, ["event"], "failure_rates")
    groups = groups_of(events, by, handles=handles, replicas=replicas, attr_prefix=attr_prefix)
    event = codes(events["event"], HANDLE_EVENTS)
    size = len(groups.labels)
    counts = {
        name: count_by(groups.codes, event == EVENT_CODE[name], size) for name in ("done", "failed", "worker_timeout")
    }
    frame = pd.DataFrame(counts, index=groups.labels)
    frame["releases"] = frame["done"] + frame["failed"] + frame["worker_timeout"]
    frame = frame[frame["releases"] > 0].copy()
    bad = frame["failed"] + frame["worker_timeout"]
    frame["failure_rate"] = bad / frame["releases"]
    if len(frame):
        frame["ci_low"], frame["ci_high"] = wilson_interval(bad.to_numpy(), frame["releases"].to_numpy(), confidence)
    else:
        frame["ci_low"] = frame["ci_high"] = np.array([], dtype=np.float64)
    frame = frame[list(FAILURE_RATE_COLUMNS)]
    frame.attrs["confidence"] = confidence
    return frame


def worker_timeout_counts(
    events: pd.DataFrame,
    by: str = "worker",
    *,
    handles: pd.DataFrame | None = None,
    replicas: pd.DataFrame | None = None,
    attr_prefix: str = "attr.",
) -> pd.Series:
    """Number of ``worker_timeout`` events per group (same ``by`` choices as :func:`failure_rates`).

    Returns an int64 Series named ``worker_timeout``, sorted by count
    (largest first), groups without timeouts left out.
    """
    require(events, ["event"], "worker_timeout_counts")
    groups = groups_of(events, by, handles=handles, replicas=replicas, attr_prefix=attr_prefix)
    event = codes(events["event"], HANDLE_EVENTS)
    counts = pd.Series(
        count_by(groups.codes, event == EVENT_CODE["worker_timeout"], len(groups.labels)),
        index=groups.labels,
        name="worker_timeout",
    )
    return counts[counts > 0].sort_values(ascending=False, kind="stable")


def retry_counts(events: pd.DataFrame) -> pd.DataFrame:
    """Per file: how many times it was reserved, failed, timed out and reset, and where it ended.

    Returns
    -------
    pandas.DataFrame
        One row per file seen in the events: ``project_id``, ``did``, int64
        ``reservations``, ``failed``, ``worker_timeout``, ``reset``, ``retries``
        (``reservations - 1``, at least 0) and the last known ``state``.
    """
    require(events, ["did", "event", "state"], "retry_counts")
    files = files_of(events)
    event = codes(events["event"], HANDLE_EVENTS)
    size = files.count
    data: dict[str, object] = {
        "project_id": pd.array(files.project_id, dtype="Int64"),
        "did": files.did,
    }
    counted = {column: count_by(files.keys, event == EVENT_CODE[name], size)
               for column, name in (("reservations", "reserve"), ("failed", "failed"),
                                    ("worker_timeout", "worker_timeout"), ("reset", "reset"))}
    data.update(counted)
    data["retries"] = np.maximum(counted["reservations"] - 1, 0)
    last = pd.Series(files.keys).drop_duplicates(keep="last")
    last_state = np.full(size, -1, dtype=np.int8)
    last_state[last.to_numpy()] = codes(events["state"], HANDLE_STATES)[last.index.to_numpy()]
    data["state"] = pd.Categorical.from_codes(last_state, dtype=HANDLE_STATE_DTYPE)
    frame = pd.DataFrame(data)
    seen = np.bincount(files.keys, minlength=size)[:size] > 0
    return frame[seen].reset_index(drop=True)


def permanent_failures(frame: pd.DataFrame) -> pd.DataFrame:
    """Files whose current state is ``failed``.

    Parameters
    ----------
    frame
        A handles frame (rows with ``state == "failed"`` are returned as they
        are) or an events frame (the last event of each file decides; the row of
        that event is returned, so ``t`` is when the file failed for good).
    """
    require(frame, ["state"], "permanent_failures")
    if "event" not in frame.columns:
        return frame[frame["state"] == "failed"].reset_index(drop=True)
    rows = pd.Series(files_of(frame).keys).drop_duplicates(keep="last").index.to_numpy()
    last = frame.iloc[rows]
    return last[codes(last["state"], HANDLE_STATES) == STATE_CODE["failed"]].reset_index(drop=True)
