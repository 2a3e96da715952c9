"""Failures: rates per group, retries and timeouts per file, files that failed for good."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..frames import HANDLE_EVENTS, HANDLE_STATE_DTYPE, HANDLE_STATES
from ._arrays import EVENT_CODE, STATE_CODE, codes, count_by, files_of, groups_of, require

FAILURE_RATE_COLUMNS = ("done", "failed", "worker_timeout", "releases", "failure_rate")


def failure_rates(
    events: pd.DataFrame,
    by: str = "worker",
    *,
    handles: pd.DataFrame | None = None,
    replicas: pd.DataFrame | None = None,
    attr_prefix: str = "attr.",
) -> pd.DataFrame:
    """How often reservations end badly, per group.

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
          not record which replica a worker actually read;
        * any handles column or file attribute (``"tag"`` finds ``tag``,
          ``attr.tag`` or ``attributes["tag"]``) -- needs ``handles``.
    handles, replicas
        Frames from :func:`~dd_notebook.frames.handles_frame` /
        :func:`~dd_notebook.frames.replicas_frame` of the same project(s).
    attr_prefix
        Prefix of expanded attribute columns in ``handles``.

    Returns
    -------
    pandas.DataFrame
        Indexed by group (named ``by``), sorted by group label, with int64
        ``done``, ``failed``, ``worker_timeout``, ``releases`` and float
        ``failure_rate``; groups without any release are left out.
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
    frame["failure_rate"] = (frame["failed"] + frame["worker_timeout"]) / frame["releases"]
    return frame[list(FAILURE_RATE_COLUMNS)]


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
    for column, name in (("reservations", "reserve"), ("failed", "failed"), ("worker_timeout", "worker_timeout"),
                         ("reset", "reset")):
        data[column] = count_by(files.keys, event == EVENT_CODE[name], size)
    data["retries"] = np.maximum(data["reservations"] - 1, 0)
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
