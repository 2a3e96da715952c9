"""dd_notebook.analysis: exact timeline, hand-computed failure rates, throughput, durations, ETA, summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dd_notebook import analysis
from dd_notebook.analysis import (
    durations,
    eta,
    failure_rates,
    permanent_failures,
    project_summary,
    resample_timeline,
    retry_counts,
    state_timeline,
    throughput,
    worker_timeout_counts,
)
from dd_notebook.frames import (
    EVENT_DTYPE,
    HANDLE_STATE_DTYPE,
    HANDLE_STATES,
    events_frame,
    handles_frame,
    replicas_frame,
)

T0 = 1_699_999_980.0  # a whole minute


def rec(t, name, event, state, old=None, worker=None, ns="mc", pid=1):
    data = {"event": event, "state": state}
    if old is not None:
        data["old_state"] = old
    if worker is not None:
        data["worker"] = worker
    return {"type": "state", "t": T0 + t, "data": data, "project_id": pid, "namespace": ns, "name": name}


def random_log(seed: int, *, ties: bool, n_files: int = 40, steps: int = 600) -> tuple[list[dict], list[dict]]:
    """A valid handle log of a simulated project (restarts, retries, timeouts), and a shuffled copy.

    With ``ties`` some events share a timestamp; the shuffled copy then keeps
    the log order among them (a server log is ordered), otherwise it is fully
    shuffled and the converter must sort it back.
    """
    rng = np.random.default_rng(seed)
    state: dict[str, str | None] = {f"f{i}": None for i in range(n_files)}
    records, t = [], 0.0
    for _ in range(steps):
        t += float(rng.choice([0.0, 0.5, 2.0] if ties else [0.25, 0.5, 2.0]))
        name = f"f{rng.integers(n_files)}"
        current, worker = state[name], f"w{rng.integers(5)}"
        if current is None:
            records.append(rec(t, name, "create", "initial"))
            new = "initial"
        elif current == "initial":
            records.append(rec(t, name, "reserve", "reserved", "initial", worker))
            new = "reserved"
        elif current == "reserved":
            choice = rng.integers(6)
            new = ["done", "initial", "failed", "initial", "failed", "initial"][choice]
            event = ["done", "failed", "failed", "worker_timeout", "worker_timeout", "reset"][choice]
            old = None if event == "worker_timeout" else "reserved"
            records.append(rec(t, name, event, new, old, worker))
        elif rng.random() < 0.3:
            records.append(rec(t, name, "reset", "initial", current))
            new = "initial"
        else:
            continue
        state[name] = new
    if ties:
        return list(records), records
    return [records[i] for i in rng.permutation(len(records))], records


@pytest.mark.parametrize(("seed", "ties"), [(0, True), (1, True), (2, False), (3, False)])
def test_state_timeline_equals_brute_force_recount_at_every_event(seed, ties):
    shuffled, in_order = random_log(seed, ties=ties)
    events = events_frame(shuffled)
    timeline = state_timeline(events)
    assert list(timeline.columns) == list(HANDLE_STATES)
    assert len(timeline) == len(events)
    assert timeline.index.equals(pd.DatetimeIndex(events["t"]))
    # brute force: replay the log in time order (ties in log order) and count all handles at each step
    replay = sorted(range(len(in_order)), key=lambda i: in_order[i]["t"])
    current: dict[str, str] = {}
    for row, i in enumerate(replay):
        data = in_order[i]["data"]
        current[in_order[i]["name"]] = data["state"]
        expected = [sum(1 for s in current.values() if s == state) for state in HANDLE_STATES]
        assert timeline.iloc[row].tolist() == expected, f"row {row}"


def test_state_timeline_with_initial_counts_and_empty_input():
    events = events_frame([rec(1, "a", "reserve", "reserved", "initial", "w")])
    timeline = state_timeline(events, initial_counts={"initial": 3})
    assert timeline.iloc[0].tolist() == [2, 1, 0, 0]
    with pytest.raises(ValueError):
        state_timeline(events, initial_counts={"bogus": 1})
    empty = state_timeline(events_frame([]))
    assert empty.empty and list(empty.columns) == list(HANDLE_STATES)
    assert isinstance(empty.index, pd.DatetimeIndex) and str(empty.index.tz) == "UTC"


def test_resample_timeline_carries_counts_forward():
    events = events_frame([rec(0, "a", "create", "initial"), rec(125, "a", "reserve", "reserved", "initial", "w")])
    resampled = resample_timeline(state_timeline(events), "1min")
    assert resampled["initial"].tolist() == [1, 1, 0]
    assert resampled["reserved"].tolist() == [0, 0, 1]


@pytest.fixture()
def crafted():
    """A project log whose failure rates are easy to count by hand (see the tests)."""
    log = [rec(0, n, "create", "initial") for n in "abcde"]
    log += [
        rec(10, "a", "reserve", "reserved", "initial", "w1"),
        rec(11, "b", "reserve", "reserved", "initial", "w1"),
        rec(12, "c", "reserve", "reserved", "initial", "w1"),
        rec(13, "d", "reserve", "reserved", "initial", "w2"),
        rec(14, "e", "reserve", "reserved", "initial", "w3"),
        rec(70, "a", "done", "done", "reserved", "w1"),
        rec(75, "b", "failed", "initial", "reserved", "w1"),
        rec(80, "c", "worker_timeout", "initial", None, "w1"),
        rec(130, "d", "done", "done", "reserved", "w2"),
        rec(135, "e", "failed", "failed", "reserved", "w3"),
        rec(140, "b", "reserve", "reserved", "initial", "w2"),
        rec(200, "b", "done", "done", "reserved", "w2"),
    ]
    handles = [
        {"project_id": 1, "namespace": "mc", "name": n, "state": s, "worker_id": None, "attempts": a,
         "attributes": attrs, "reserved_since": T0}
        for n, s, a, attrs in [("a", "done", 1, {"tag": "x"}), ("b", "done", 2, {"tag": "x"}),
                               ("c", "initial", 1, {"tag": "y", "timeouts": 1}), ("d", "done", 1, {"tag": "y"}),
                               ("e", "failed", 1, {})]
    ]

    def rep(name, rse, available=True, up=True, pref=0):
        return {"name": name, "namespace": "mc", "path": None, "rse": rse, "url": None, "preference": pref,
                "available": available, "rse_available": up}

    replicas = {"a": [rep("a", "DISK")], "b": [rep("b", "DISK", pref=5), rep("b", "TAPE", available=False)],
                "c": [rep("c", "TAPE")], "d": [rep("d", "DISK", up=False), rep("d", "TAPE", pref=9)], "e": []}
    for h in handles:
        h["replicas"] = {r["rse"]: r for r in replicas[h["name"]]}
    project = {"project_id": 1, "owner": "alice", "state": "active", "file_handles": handles}
    return events_frame(log), handles_frame(project), replicas_frame(project)


def rates_of(frame: pd.DataFrame) -> dict:
    return {k: (r["done"], r["failed"], r["worker_timeout"], round(r["failure_rate"], 6)) for k, r in frame.iterrows()}


def test_failure_rates_by_worker(crafted):
    events, _, _ = crafted
    rates = failure_rates(events, "worker")
    assert rates.index.name == "worker"
    assert list(rates.columns) == ["done", "failed", "worker_timeout", "releases", "failure_rate", "ci_low",
                                   "ci_high"]
    assert rates_of(rates) == {"w1": (1, 1, 1, round(2 / 3, 6)), "w2": (2, 0, 0, 0.0), "w3": (0, 1, 0, 1.0)}


def test_failure_rates_by_attempt(crafted):
    events, _, _ = crafted
    assert rates_of(failure_rates(events, "attempt")) == {1: (2, 2, 1, 0.6), 2: (1, 0, 0, 0.0)}


def test_failure_rates_by_file_attribute(crafted):
    events, handles, _ = crafted
    assert rates_of(failure_rates(events, "tag", handles=handles)) == {"x": (2, 1, 0, round(1 / 3, 6)),
                                                                        "y": (1, 0, 1, 0.5)}
    expanded = handles.drop(columns="attributes").assign(**{"attr.tag": ["x", "x", "y", "y", None]})
    pd.testing.assert_frame_equal(failure_rates(events, "tag", handles=expanded),
                                  failure_rates(events, "attr.tag", handles=expanded).rename_axis("tag"))
    with pytest.raises(KeyError, match="handles"):
        failure_rates(events, "tag")


def test_failure_rates_by_rse_uses_the_preferred_usable_replica(crafted):
    events, _, replicas = crafted
    # a, b -> DISK (b's TAPE copy is not staged); c -> TAPE; d -> TAPE (DISK is down); e has no replica
    assert rates_of(failure_rates(events, "rse", replicas=replicas)) == {"DISK": (2, 1, 0, round(1 / 3, 6)),
                                                                          "TAPE": (1, 0, 1, 0.5),
                                                                          "no replica": (0, 1, 0, 1.0)}
    with pytest.raises(KeyError, match="replicas"):
        failure_rates(events, "rse")


def test_worker_timeouts_and_retry_counts(crafted):
    events, _, _ = crafted
    assert worker_timeout_counts(events).to_dict() == {"w1": 1}
    retries = retry_counts(events).set_index("did")
    assert retries.loc["mc:b", ["reservations", "failed", "retries"]].tolist() == [2, 1, 1]
    assert retries.loc["mc:c", ["reservations", "worker_timeout", "retries"]].tolist() == [1, 1, 0]
    assert retries["state"].astype(object).to_dict() == {"mc:a": "done", "mc:b": "done", "mc:c": "initial",
                                                         "mc:d": "done", "mc:e": "failed"}
    assert retries["state"].dtype == HANDLE_STATE_DTYPE


def test_permanent_failures_from_events_and_handles(crafted):
    events, handles, _ = crafted
    from_events = permanent_failures(events)
    assert from_events["did"].tolist() == ["mc:e"]
    assert from_events["t"].iloc[0] == pd.Timestamp(T0 + 135, unit="s", tz="UTC")
    assert permanent_failures(handles)["did"].tolist() == ["mc:e"]


def test_throughput_bins_and_rolling_rate(crafted):
    events, _, _ = crafted
    table = throughput(events, "1min", window=2)
    assert table.index[0] == pd.Timestamp(T0, unit="s", tz="UTC").floor("1min")
    assert table.index.freq is None and (np.diff(table.index.asi8) == 60 * 10**9).all()
    by_minute = {int((ts.value / 1e9 - T0) // 60): row for ts, row in table.iterrows()}
    # T0 is a whole minute: a@70 done, b@75 failed, c@80 timeout in minute 1; d@130 done, e@135 failed in 2
    assert [by_minute[1]["done"], by_minute[1]["failed"], by_minute[1]["worker_timeout"]] == [1, 1, 1]
    assert [by_minute[2]["done"], by_minute[2]["failed"]] == [1, 1]
    assert by_minute[3]["done"] == 1
    # the log runs from 0 s to 200 s: minute 3 covers only 20 s of its 60
    assert table["covered_s"].tolist() == [60.0, 60.0, 60.0, 20.0]
    centred = throughput(events, "1min", window=3)
    assert centred["done_per_s"].tolist() == pytest.approx([1 / 120, 2 / 180, 3 / 140, 2 / 80])
    assert centred["failed_per_s"].tolist() == pytest.approx([2 / 120, 3 / 180, 3 / 140, 1 / 80])
    assert throughput(events_frame([]), "1min").empty


def test_durations_pair_reservations(crafted):
    events, _, _ = crafted
    table = durations(events, include_open=False)
    assert list(table.columns) == ["project_id", "did", "worker", "attempt", "reserved_at", "released_at",
                                   "outcome", "state", "duration_s"]
    got = {(d, int(a)): (o, s, x) for d, a, o, s, x in
           zip(table["did"], table["attempt"], table["outcome"], table["state"], table["duration_s"])}
    assert got == {("mc:a", 1): ("done", "done", 60.0), ("mc:b", 1): ("failed", "initial", 64.0),
                   ("mc:c", 1): ("worker_timeout", "initial", 68.0), ("mc:d", 1): ("done", "done", 117.0),
                   ("mc:e", 1): ("failed", "failed", 121.0), ("mc:b", 2): ("done", "done", 60.0)}
    assert table["reserved_at"].is_monotonic_increasing


def test_durations_open_reservations():
    events = events_frame([rec(0, "a", "reserve", "reserved", "initial", "w"),
                           rec(5, "b", "reserve", "reserved", "initial", "w"),
                           rec(9, "b", "reset", "initial", "reserved", "w")])
    closed = durations(events)
    assert closed["outcome"].tolist() == ["reset"] and closed["duration_s"].tolist() == [4.0]
    both = durations(events, include_open=True)
    assert both["did"].tolist() == ["mc:a", "mc:b"]
    assert pd.isna(both["released_at"][0]) and np.isnan(both["duration_s"][0]) and pd.isna(both["outcome"][0])


def test_eta_from_recent_rate():
    log = [rec(0, f"f{i}", "create", "initial") for i in range(10)]
    for i in range(4):  # four files finish in the last 10 minutes, one per 150 s
        log += [rec(100 + 150 * i, f"f{i}", "reserve", "reserved", "initial", "w"),
                rec(150 + 150 * i, f"f{i}", "done", "done", "reserved", "w")]
    events = events_frame(log)
    estimate = eta(events, window="10min")
    assert estimate.remaining == 6
    assert estimate.rate_per_s == pytest.approx(4 / 600)
    assert estimate.seconds_left == pytest.approx(6 / (4 / 600))
    assert estimate.eta == estimate.as_of + pd.Timedelta(seconds=estimate.seconds_left)
    stalled = eta(events, window="10min", now=pd.Timestamp(T0 + 5000, unit="s", tz="UTC"))
    assert stalled.rate_per_s == 0 and stalled.eta is None and stalled.seconds_left is None


def test_project_summary(crafted):
    events, handles, _ = crafted
    summary = project_summary(handles, events, project={"project_id": 1, "owner": "alice", "state": "active"})
    assert summary.n_files == 5
    assert summary.state_counts == {"initial": 1, "reserved": 0, "done": 3, "failed": 1}
    assert summary.fraction_done == pytest.approx(0.6)
    assert summary.fraction_finished == pytest.approx(0.8)
    assert (summary.reservations, summary.failed_releases, summary.worker_timeouts) == (6, 2, 1)
    assert summary.files_retried == 1 and summary.permanently_failed == 1 and summary.n_workers == 3
    assert summary.median_duration_s == pytest.approx(60.0)
    assert summary.eta is not None and summary.eta.remaining == 1
    flat = summary.to_series()
    assert flat["n_done"] == 3 and flat["owner"] == "alice"
    assert project_summary().n_files is None


def test_events_from_several_projects_are_kept_apart():
    log = [rec(1, "a", "reserve", "reserved", "initial", "w", pid=1),
           rec(2, "a", "reserve", "reserved", "initial", "w", pid=2),
           rec(3, "a", "done", "done", "reserved", "w", pid=1),
           rec(4, "a", "failed", "failed", "reserved", "w", pid=2)]
    events = events_frame(log)
    table = durations(events)
    assert table["project_id"].tolist() == [1, 2] and table["outcome"].tolist() == ["done", "failed"]
    assert retry_counts(events)["state"].astype(object).tolist() == ["done", "failed"]


def test_public_names():
    assert set(analysis.__all__) <= set(dir(analysis))


def test_vectorised_functions_agree_on_a_large_random_frame():
    """Counts from throughput, failure rates and the timeline add up on 200,000 events (timings: benchmarks/)."""
    n, files = 200_000, 50_000
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 86_400 * 10**9, n)) + 1_700_000_000 * 10**9
    events = pd.DataFrame({
        "t": pd.DatetimeIndex(t.view("M8[ns]")).tz_localize("UTC"),
        "project_id": pd.array(np.ones(n, dtype=np.int64), dtype="Int64"),
        "did": pd.Categorical.from_codes(rng.integers(0, files, n), categories=[f"d:{i}" for i in range(files)]),
        "event": pd.Categorical.from_codes(rng.integers(1, 6, n).astype(np.int8), dtype=EVENT_DTYPE),
        "old_state": pd.Categorical.from_codes(rng.integers(0, 4, n).astype(np.int8), dtype=HANDLE_STATE_DTYPE),
        "state": pd.Categorical.from_codes(rng.integers(0, 4, n).astype(np.int8), dtype=HANDLE_STATE_DTYPE),
        "worker": pd.Categorical.from_codes(rng.integers(0, 100, n), categories=[f"w{i}" for i in range(100)]),
        "attempt": pd.array(rng.integers(1, 4, n), dtype="Int64"),
    })
    counts = events["event"].value_counts()
    table = throughput(events, "1min")
    assert table["covered_s"].sum() == pytest.approx((t[-1] - t[0]) / 1e9)
    for name in ("done", "failed", "worker_timeout"):
        assert table[name].sum() == counts[name]
        assert failure_rates(events, "worker")[name].sum() == counts[name]
        assert failure_rates(events, "attempt")[name].sum() == counts[name]
    assert (state_timeline(events).sum(axis=1) == 0).all()  # every event moves one handle between states
