"""Analysis numbers a person can trust: each test holds the numbers the old code got wrong.

* ETA: the rate was divided by the whole window even for a project younger than it.
* throughput: partial edge bins were divided by the full bin width; the rolling mean lagged.
* failure rates by RSE crashed on a project without replicas; rates had no uncertainty.
* summary / ETA display: escaped HTML and readable text.
* project_summary: one pass, same numbers as the individual functions.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from test_analysis import T0, random_log, rec  # noqa: E402

from dd_notebook import plots  # noqa: E402
from dd_notebook.analysis import (  # noqa: E402
    NO_REPLICA,
    durations,
    eta,
    failure_rates,
    permanent_failures,
    project_summary,
    retry_counts,
    state_timeline,
    throughput,
    wilson_interval,
)
from dd_notebook.client import DataDispatcherClient  # noqa: E402
from dd_notebook.frames import events_frame, handles_frame, replicas_frame  # noqa: E402
from dd_notebook.palette import PROJECT_STATE_COLORS, STATE_COLORS  # noqa: E402

HOSTILE = "<script>alert('x')</script>"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def created(n: int, at: float = 0.0) -> list[dict]:
    return [rec(at, f"f{i}", "create", "initial") for i in range(n)]


def finish(i: int, at: float, worker: str = "w1", how: str = "done") -> list[dict]:
    state = "failed" if how == "failed" else "done"
    return [rec(at - 0.5, f"f{i}", "reserve", "reserved", "initial", worker),
            rec(at, f"f{i}", how, state, "reserved", worker)]


# -- 1. ETA over the time the log really covers -------------------------------------------------


def young_project() -> pd.DataFrame:
    """300 files created at 0 s; one finishes every second from 1 s to 60 s (a true rate of 1 file/s)."""
    log = created(300)
    for i in range(60):
        log += finish(i, 1.0 + i)
    return events_frame(log)


def test_eta_of_a_project_younger_than_the_window_uses_its_age():
    estimate = eta(young_project(), window="15min")
    # before: 60 files / 900 s = 0.066 files/s and 240 / 0.066 = 3600 s (60 min) left
    assert estimate.covered_s == pytest.approx(60.0)
    assert estimate.finished_in_window == 60
    assert estimate.rate_per_s == pytest.approx(1.0)
    assert estimate.remaining == 240
    assert estimate.seconds_left == pytest.approx(240.0)
    assert estimate.eta == estimate.as_of + pd.Timedelta(seconds=240)
    assert estimate.window_s == 900.0
    assert estimate.basis == "60 files finished in the last 60 s (window 15 min, clipped to the age of the log)"


def test_eta_of_an_older_project_uses_the_whole_window():
    log = created(100)
    for i in range(40):  # one file every 30 s for 20 minutes
        log += finish(i, 30.0 * (i + 1))
    estimate = eta(events_frame(log), window="10min")
    assert estimate.covered_s == 600.0
    assert estimate.finished_in_window == 20  # finishes at 630 s ... 1200 s
    assert estimate.rate_per_s == pytest.approx(20 / 600)
    assert estimate.seconds_left == pytest.approx(60 / (20 / 600))
    assert "clipped" not in estimate.basis and estimate.basis.startswith("20 files finished in the last 10 min")


def test_eta_of_a_finished_drain_uses_its_active_span():
    log = created(288)
    for i in range(288):  # drained in 32 s
        log += finish(i, 0.5 + 31.5 * (i + 1) / 288)
    estimate = eta(events_frame(log))
    # before: 288 / 900 s = 0.32 files/s
    assert estimate.remaining == 0 and estimate.seconds_left == 0.0
    assert estimate.covered_s == pytest.approx(32.0)
    assert estimate.rate_per_s == pytest.approx(9.0)
    assert estimate.finished_in_window == 288
    assert "active span of 32 s" in estimate.basis


def test_eta_with_a_single_event_has_no_rate_and_says_why():
    estimate = eta(events_frame(created(1)))
    assert math.isnan(estimate.rate_per_s)
    assert estimate.seconds_left is None and estimate.eta is None
    assert estimate.covered_s == 0.0 and estimate.remaining == 1
    assert estimate.basis.startswith("no rate yet: the log covers only 0 s")
    empty = eta(events_frame([]))
    assert math.isnan(empty.rate_per_s) and empty.basis == "no events in the log: no rate"


def test_eta_of_a_stalled_project_has_a_zero_rate_and_no_eta():
    now = pd.Timestamp(T0 + 3600, unit="s", tz="UTC")
    estimate = eta(young_project(), window="15min", now=now)
    assert estimate.rate_per_s == 0.0 and estimate.seconds_left is None
    assert estimate.covered_s == 900.0 and estimate.finished_in_window == 0
    assert "no ETA while nothing finishes" in estimate.basis


def test_eta_ignores_a_recorders_baseline_of_files_finished_before_it_started():
    # a recorder attached late sees 100 files already done at its first poll (baseline "create" records)
    log = [rec(0, f"old{i}", "create", "done") for i in range(100)] + created(10)
    for i in range(5):
        log += finish(i, 10.0 * (i + 1))
    estimate = eta(events_frame(log))
    # before: the 100 baseline files counted as finished in the window: 105 / 900 s
    assert estimate.finished_in_window == 5
    assert estimate.covered_s == pytest.approx(50.0)
    assert estimate.rate_per_s == pytest.approx(0.1)
    assert estimate.remaining == 5 and estimate.seconds_left == pytest.approx(50.0)


def test_eta_start_extends_the_covered_time_back_to_the_projects_creation():
    log = []
    for i in range(30):  # a log without create records, first finish at 61 s
        log += finish(i, 61.0 + i)
    events = events_frame(log)
    assert eta(events).covered_s == pytest.approx(29.5)
    from_creation = eta(events, start=T0)
    assert from_creation.covered_s == pytest.approx(90.0)
    assert from_creation.rate_per_s == pytest.approx(30 / 90)


# -- 2. throughput over the time each bin covers ------------------------------------------------


def steady_two_per_second() -> pd.DataFrame:
    """A file done every 0.5 s from 20 s to 170 s (T0 is a whole minute): bins cover 40, 60 and 50 s."""
    log = created(301)
    for k in range(301):
        log += finish(k, 20.5 + 0.5 * k)  # reserve 0.5 s before, so the first event is at 20 s
    return events_frame(log[301:])


def test_throughput_divides_edge_bins_by_the_time_they_cover():
    table = throughput(steady_two_per_second(), "1min", window=5)
    assert table["done"].tolist() == [79, 120, 102]
    assert table["covered_s"].tolist() == [40.0, 60.0, 50.5]
    per_bin = table["done"] / table["covered_s"]
    # before: 79/60 = 1.32 and 102/60 = 1.70 files/s at the edges -- an apparent slowdown
    assert per_bin.tolist() == pytest.approx([79 / 40, 2.0, 102 / 50.5])
    # centred rolling rate = all three bins: 301 files / 150.5 s (before: trailing mean 100.3/60 = 1.67 at the end)
    assert table["done_per_s"].tolist() == pytest.approx([301 / 150.5] * 3)


def test_throughput_until_extends_the_span_of_a_live_project():
    table = throughput(steady_two_per_second(), "1min", window=1, until=T0 + 300)
    assert table["covered_s"].tolist() == [40.0, 60.0, 60.0, 60.0, 60.0]
    assert table["done_per_s"].tolist() == pytest.approx([79 / 40, 2.0, 102 / 60, 0.0, 0.0])


def test_throughput_counts_an_event_on_the_last_bin_edge_in_the_last_bin():
    events = events_frame(finish(0, 60.0) + finish(1, 120.0))
    table = throughput(events, "1min", window=1)
    # the log runs from 59.5 s to 120 s: two bins, the done at 120 s counts in the last one (no empty third bin)
    assert table["done"].tolist() == [0, 2] and table["covered_s"].tolist() == [0.5, 60.0]
    one_instant = throughput(events_frame(finish(0, 30.0)[1:]), "1min")
    assert one_instant["covered_s"].tolist() == [0.0] and one_instant["done_per_s"].isna().all()


def test_throughput_plot_draws_rates_over_covered_time():
    events = steady_two_per_second()
    ax = plots.plot_throughput(events, "1min", window=5)
    done_steps = ax.patches[0]
    heights = done_steps.get_data().values
    assert ax.get_ylabel() == "files / s"  # 2 files/s: not 120 per minute
    assert heights.tolist() == pytest.approx([79 / 40, 2.0, 102 / 50.5])
    first_edge = mdates.num2date(done_steps.get_data().edges[0])
    assert abs(first_edge - pd.Timestamp(T0 + 20, unit="s", tz="UTC")) < pd.Timedelta(milliseconds=1)
    line = ax.lines[0].get_ydata()
    assert np.asarray(line, dtype=float).tolist() == pytest.approx([301 / 150.5] * 3)
    assert "centred" in ax.lines[0].get_label()


@pytest.mark.parametrize(("every_s", "unit", "per_unit"), [
    (0.5, "files / s", 2.0), (10.0, "files / min", 6.0), (600.0, "files / h", 6.0)])
def test_throughput_plot_picks_the_rate_unit_that_reads_best(every_s, unit, per_unit):
    log = created(121)
    for k in range(121):
        log += finish(k, 20.5 + every_s * k)
    ax = plots.plot_throughput(events_frame(log[121:]), pd.Timedelta(seconds=every_s * 10), window=1)
    assert ax.get_ylabel() == unit
    assert np.median(ax.patches[0].get_data().values) == pytest.approx(per_unit)


def test_throughput_plot_merges_a_sliver_edge_bin():
    events = events_frame(created(1) + [e for i in range(40) for e in finish(i, 1.0 + 1.5 * i)])  # ends at 59.5 s
    table = throughput(events, "30s", window=1)
    assert table["covered_s"].tolist() == [30.0, 29.5]
    late = events_frame(created(1) + [e for i in range(41) for e in finish(i, 1.0 + 1.5 * i)])  # last at 61 s
    assert throughput(late, "30s")["covered_s"].tolist() == [30.0, 30.0, 1.0]
    heights = plots.plot_throughput(late, "30s").patches[0].get_data().values
    assert len(heights) == 2  # the 1 s sliver is drawn together with its neighbour


# -- 3. failure rates: projects without replicas, Wilson intervals ------------------------------


def failing_log() -> pd.DataFrame:
    log = created(12)
    for i in range(12):
        log += finish(i, 10.0 + i, worker=f"w{i % 2}", how="failed" if i % 4 == 0 else "done")
    return events_frame(log)


def test_failure_rates_by_rse_without_replicas_groups_as_no_replica():
    events = failing_log()
    for replicas in (replicas_frame([]), pd.DataFrame()):
        rates = failure_rates(events, "rse", replicas=replicas)  # before: IndexError
        assert rates.index.tolist() == [NO_REPLICA] and rates.index.name == "rse"
        assert rates.loc[NO_REPLICA, ["done", "failed", "releases"]].tolist() == [9, 3, 12]
    ax = plots.plot_failure_rates(failure_rates(events, "rse", replicas=replicas_frame([])))
    assert [t.get_text() for t in ax.get_yticklabels()] == [NO_REPLICA]
    assert "no replicas" in ax.get_title()


def test_wilson_interval_solves_the_score_equation():
    k, n = np.array([0, 1, 3, 5, 12]), np.array([3, 1, 12, 10, 12])
    low, high = wilson_interval(k, n)
    assert low[3] == pytest.approx(0.2366, abs=1e-4) and high[3] == pytest.approx(0.7634, abs=1e-4)
    assert low[0] == 0.0 and high[0] == pytest.approx(0.5615, abs=1e-4)
    z = 1.959964
    p = k / n
    for bound in (low, high):  # the Wilson bounds are the p where |p_hat - p| = z sqrt(p (1 - p) / n)
        assert ((p - bound) ** 2).tolist() == pytest.approx((z * z * bound * (1 - bound) / n).tolist(), abs=1e-6)
    narrow_low, narrow_high = wilson_interval(k, n, confidence=0.68)
    assert (narrow_high - narrow_low < high - low).all()
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(k, n, confidence=1.5)


def test_failure_rates_have_wilson_intervals_by_worker_and_attempt():
    events = failing_log()
    by_worker = failure_rates(events, "worker")
    assert by_worker.loc["w0", ["failed", "releases"]].tolist() == [3, 6]
    low, high = wilson_interval(3, 6)
    assert by_worker.loc["w0", "ci_low"] == pytest.approx(float(low))
    assert by_worker.loc["w0", "ci_high"] == pytest.approx(float(high))
    assert (by_worker["ci_low"] <= by_worker["failure_rate"]).all()
    assert (by_worker["failure_rate"] <= by_worker["ci_high"]).all()
    by_attempt = failure_rates(events, "attempt", confidence=0.68)
    assert by_attempt.index.tolist() == [1] and by_attempt.attrs["confidence"] == 0.68


def test_failure_rates_plot_has_error_bars_and_a_data_driven_rate_axis():
    rates = failure_rates(failing_log(), "worker")
    ax = plots.plot_failure_rates(rates)
    containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(containers) == 1
    segments = containers[0].lines[2][0].get_segments()
    spans = sorted((round(s[0][0], 6), round(s[1][0], 6)) for s in segments)
    expected = sorted((round(lo * 100, 6), round(hi * 100, 6)) for lo, hi in zip(rates["ci_low"], rates["ci_high"]))
    assert spans == expected
    # before: a fixed 0-115 % axis
    assert ax.get_xlim() == pytest.approx((0.0, min(100.0, rates["ci_high"].max() * 115)))
    assert sorted(t.get_text() for t in ax.texts) == ["n=6", "n=6"]
    assert "95% Wilson interval" in ax.get_title()
    all_failed = failure_rates(events_frame(created(3) + finish(0, 5, how="failed") + finish(1, 6, how="failed")),
                               "worker")
    assert plots.plot_failure_rates(all_failed).get_xlim()[1] == 100.0


# -- 4. display of Eta and ProjectSummary -------------------------------------------------------


def test_eta_text_and_html_say_what_the_estimate_is_based_on():
    estimate = eta(young_project())
    text = repr(estimate)
    assert text == str(estimate)
    assert text.startswith("<Eta: 240 files left at 1 files/s, done in 4 min (at ")
    assert "based on 60 files finished in the last 60 s" in text
    html = estimate._repr_html_()
    assert "based on 60 files finished in the last 60 s" in html and "ETA" in html
    assert estimate.to_dict()["basis"] == estimate.basis


def test_summary_repr_html_is_escaped_and_coloured():
    project = {"project_id": 9, "owner": HOSTILE, "state": "active"}
    summary = project_summary(events=young_project(), project=project)
    html = summary._repr_html_()
    assert HOSTILE not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    for state in ("initial", "reserved", "done"):
        assert STATE_COLORS[state] in html or summary.state_counts[state] == 0
    assert PROJECT_STATE_COLORS["active"] in html
    assert "based on 60 files finished in the last 60 s" in html
    text = repr(summary)
    assert text.splitlines()[0] == f"ProjectSummary project 9 (active, owner {HOSTILE})"
    assert "initial 240 · reserved 0 · done 60 · failed 0" in text
    assert "ETA: 240 files left at 1 files/s, done in 4 min" in text
    flat = summary.to_dict()
    assert flat["n_done"] == 60 and flat["rate_per_s"] == pytest.approx(1.0)
    assert flat["eta_covered_s"] == pytest.approx(60.0) and flat["eta_finished_in_window"] == 60
    assert flat["eta_basis"] == summary.eta.basis


# -- 5. project_summary in one pass gives the same numbers -------------------------------------


@pytest.mark.parametrize(("seed", "ties"), [(0, True), (2, False), (5, True)])
def test_project_summary_matches_the_individual_functions(seed, ties):
    _, in_order = random_log(seed, ties=ties, n_files=30, steps=900)
    events = events_frame(in_order)
    summary = project_summary(events=events)
    last = state_timeline(events).iloc[-1]
    assert summary.state_counts == {s: int(last[s]) for s in last.index}
    assert summary.permanently_failed == len(permanent_failures(events))
    assert summary.files_retried == int((retry_counts(events)["reservations"] > 1).sum())
    table = durations(events)
    done = table.loc[table["outcome"] == "done", "duration_s"]
    assert (retry_counts(events)["reset"] > 0).any()  # resets of finished files: the sorted pairing runs
    assert summary.median_duration_s == pytest.approx(float(np.median(done)))
    counts = events["event"].value_counts()
    assert (summary.reservations, summary.failed_releases, summary.worker_timeouts, summary.resets) == (
        counts["reserve"], counts["failed"], counts["worker_timeout"], counts["reset"])
    assert summary.n_workers == events["worker"].nunique()
    assert (summary.first_event, summary.last_event) == (events["t"].min(), events["t"].max())
    reference = eta(events)
    assert (summary.eta.remaining, summary.eta.finished_in_window, summary.eta.basis) == (
        reference.remaining, reference.finished_in_window, reference.basis)


# -- on the embedded server: a virtual project (no replicas) ------------------------------------


def test_virtual_project_on_the_server_failure_rates_by_rse_and_summary(server):
    client = DataDispatcherClient(server.url, server.auth_url, token=server.issue_token("alice"),
                                  worker_id="wv", token_library=str(server.db_path) + ".fixes.tokens")
    project = client.create_project([f"virt:f{i}" for i in range(8)], project_attributes={"virtual": True})
    pid = project["project_id"]
    for n in range(8):
        handle = client.next_file(pid, stagger=0, timeout=0)
        did = f"{handle['namespace']}:{handle['name']}"
        if n % 4 == 0:
            client.file_failed(pid, did, retry=False)
        else:
            client.file_done(pid, did)
    full = client.get_project(pid, with_files=True, with_replicas=True)
    events, handles, replicas = events_frame(client.get_handles_log(pid)), handles_frame(full), replicas_frame(full)
    assert replicas.empty
    rates = failure_rates(events, "rse", handles=handles, replicas=replicas)
    assert rates.index.tolist() == [NO_REPLICA]
    assert rates.loc[NO_REPLICA, ["done", "failed", "releases"]].tolist() == [6, 2, 8]
    ax = plots.plot_failure_rates(rates)
    assert "no replicas" in ax.get_title()
    summary = project_summary(handles, events, project=full)
    assert summary.state_counts == {"initial": 0, "reserved": 0, "done": 6, "failed": 2}
    assert summary.eta.remaining == 0 and summary.eta.seconds_left == 0.0
    assert "active span" in summary.eta.basis
    assert f"Project {pid}" in summary._repr_html_()


def test_wilson_interval_always_holds_the_rate_at_0_and_100_percent() -> None:
    from dd_notebook.analysis.failures import wilson_interval

    trials = np.arange(1, 5001)
    low, high = wilson_interval(np.zeros_like(trials), trials)
    assert (low == 0.0).all() and (high > 0.0).all()
    low, high = wilson_interval(trials, trials)
    assert (high == 1.0).all() and (low < 1.0).all()
    rates = pd.DataFrame({"releases": trials[:40], "failed": trials[:40], "worker_timeout": 0, "done": 0,
                          "failure_rate": 1.0, "ci_low": low[:40], "ci_high": high[:40]},
                         index=pd.Index([f"w{i}" for i in range(40)], name="worker"))
    ax = plots.plot_failure_rates(rates)
    assert ax.get_xlim()[1] <= 100.0
