"""The simulated worker fleet (``dd_notebook.sim``) against the embedded server, and ``dd-notebook simulate``."""

from __future__ import annotations

import itertools
import math
import random
import threading
from collections import Counter

import pytest

from dd_notebook import DataDispatcherClient
from dd_notebook.cli import main
from dd_notebook.client import AuthenticationError, NotFoundError
from dd_notebook.frames import events_frame
from dd_notebook.server import LocalServer
from dd_notebook.sim import Fixed, LogNormal, RetryPolicy, SimConfig, SimResult, Uniform, simulate
from dd_notebook.sim.decisions import is_bad_file, plan_attempt
from dd_notebook.sim.worker import first_replica_rse

_namespaces = itertools.count()


def within_4_sigma(hits: int, n: int, p: float) -> bool:
    """``hits`` out of ``n`` is within the 4-sigma band of a binomial(n, p)."""
    return abs(hits - n * p) <= 4 * math.sqrt(n * p * (1 - p)) + 1


@pytest.fixture(scope="module")
def admin(server):
    with DataDispatcherClient(server.url, server.auth_url, token=server.issue_token("admin")) as client:
        yield client


@pytest.fixture(scope="module")
def alice(server):
    with DataDispatcherClient(server.url, server.auth_url, token=server.issue_token("alice")) as client:
        yield client


def new_files(admin, n, rses_of, namespace=None):
    """``n`` new DIDs in a fresh namespace; ``rses_of(i)`` lists (rse, available) replicas of file ``i``."""
    namespace = namespace or f"sim{next(_namespaces)}"
    dids = [f"{namespace}:f{i:04d}.root" for i in range(n)]
    for i, did in enumerate(dids):
        _, name = did.split(":")
        for rse, available in rses_of(i):
            admin.replica_available(namespace, name, rse)
            if not available:
                admin.replica_unavailable(namespace, name, rse)
    return dids


def on_fnal(i):
    return [("FNAL_DCACHE", True)]


FAST = dict(processing_time=Fixed(0.005), restart_delay=0.2, idle_exit=6.0, poll_interval=0.1)


# ---- configuration and decisions (no server) --------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    ({"workers": 0}, "workers"),
    ({"crash": 1.5}, "crash"),
    ({"bad_files": -0.1}, "bad_files"),
    ({"rse_failure": {"CERN_EOS": 2}}, "rse_failure['CERN_EOS']"),
    ({"cpu_sites": ()}, "cpu_sites"),
    ({"cpu_sites": {"FNAL": 0}}, "cpu_sites"),
    ({"processing_time": "slow"}, "processing_time"),
    ({"processing_time": -1}, "Fixed.seconds"),
    ({"max_seconds": 0}, "max_seconds"),
    ({"max_reservations": 0}, "max_reservations"),
    ({"retry": RetryPolicy(max_attempts=None), "poll_interval": 0}, "poll_interval"),
])
def test_bad_configuration_names_the_field(kwargs, field):
    with pytest.raises(ValueError) as info:
        SimConfig(**kwargs)
    assert field in str(info.value)


def test_bad_distributions_and_retry_policy():
    with pytest.raises(ValueError, match="Uniform.high"):
        Uniform(2, 1)
    with pytest.raises(ValueError, match="LogNormal.median"):
        LogNormal(0)
    with pytest.raises(ValueError, match="RetryPolicy.max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="RetryPolicy.probability"):
        RetryPolicy(probability=2)


def test_workers_are_spread_over_sites_round_robin_or_by_weight():
    assert [SimConfig(cpu_sites=("FNAL", "CERN")).site_of_slot(i) for i in range(4)] == ["FNAL", "CERN"] * 2
    weighted = SimConfig(cpu_sites={"FNAL": 3, "CERN": 1})
    sites = [weighted.site_of_slot(i) for i in range(8)]
    assert Counter(sites) == {"FNAL": 6, "CERN": 2}
    assert sites[:4].count("CERN") == 1  # interleaved, not 6 FNAL then 2 CERN
    assert SimConfig(cpu_sites="BNL").site_of_slot(5) == "BNL"


def test_plans_depend_only_on_seed_file_and_attempt():
    config = SimConfig(processing_time=LogNormal(0.1, 0.5), rse_failure={"X": 0.5}, crash=0.2, seed=3)
    assert plan_attempt(config, "a:b", 2, "X") == plan_attempt(config, "a:b", 2, "X")
    plans = [plan_attempt(config, f"a:{i}", 1, "X") for i in range(200)]
    other_seed = SimConfig(processing_time=LogNormal(0.1, 0.5), rse_failure={"X": 0.5}, crash=0.2, seed=4)
    assert plans != [plan_attempt(other_seed, f"a:{i}", 1, "X") for i in range(200)]
    assert plans != [plan_attempt(config, f"a:{i}", 2, "X") for i in range(200)]


def test_distributions_and_bad_file_fraction_follow_the_configuration():
    rng = random.Random(1)
    n = 4000
    logs = sorted(math.log(LogNormal(0.2, 0.5).sample(rng)) for _ in range(n))
    assert abs(logs[n // 2] - math.log(0.2)) < 4 * 0.5 * math.sqrt(math.pi / (2 * n))
    uniform = [Uniform(0.1, 0.3).sample(rng) for _ in range(n)]
    assert min(uniform) >= 0.1 and max(uniform) <= 0.3
    assert Fixed(0.25).sample(rng) == 0.25
    config = SimConfig(bad_files=0.1, seed=9)
    bad = sum(is_bad_file(config, f"ns:file{i}") for i in range(n))
    assert within_4_sigma(bad, n, 0.1)
    assert not any(is_bad_file(SimConfig(seed=9), f"ns:file{i}") for i in range(100))


def test_the_closest_available_replica_is_read():
    replicas = {
        "BNL_DCACHE": {"rse": "BNL_DCACHE", "proximity": 40, "available": True, "rse_available": True},
        "FNAL_DCACHE": {"rse": "FNAL_DCACHE", "proximity": 0, "available": False, "rse_available": True},
        "CERN_EOS": {"rse": "CERN_EOS", "proximity": 20, "available": True, "rse_available": True},
        "NOWHERE": {"rse": "NOWHERE", "proximity": None, "available": True, "rse_available": True},
    }
    assert first_replica_rse(replicas) == "CERN_EOS"
    assert first_replica_rse({"NOWHERE": replicas["NOWHERE"]}) == "NOWHERE"
    assert first_replica_rse({}) is None and first_replica_rse(None) is None


# ---- the fleet against the embedded server ---------------------------------------------------

def test_fleet_drains_a_project_with_the_configured_failure_mix(server, admin, alice, capsys):
    def replicas(i):
        if i < 120:
            return [("FNAL_DCACHE", True)]
        if i < 240:
            return [("CERN_EOS", True), ("UK_RAL", True)]  # UK_RAL is down: never read
        if i < 280:
            return [("FNAL_DCACHE", True), ("CERN_EOS", True)]  # read from the worker's own site
        return [("FNAL_TAPE", False)]  # unstaged tape copy: handed out without replicas

    dids = new_files(admin, 300, replicas)
    pid = alice.create_project(dids, worker_timeout=1)["project_id"]
    failure = {"FNAL_DCACHE": 0.1, "CERN_EOS": 0.3, "no_replica": 0.5}
    config = SimConfig(workers=6, cpu_sites=("FNAL", "CERN"), rse_failure=failure, bad_files=0.05,
                       retry=RetryPolicy(max_attempts=3), crash=0.03, seed=1, **FAST)
    result = simulate(alice, pid, config, progress=True)

    assert result.stop_reason == "project ended" and result.project_state == "failed"
    assert "300/300" in capsys.readouterr().err  # the progress bar reached the project's total
    assert result.crashes > 0 and result.retried > 0 and result.failed > 0 and result.lost == 0

    events = events_frame(alice.get_handles_log(pid))
    counts = events["event"].value_counts()
    assert counts["reserve"] == result.reservations
    assert counts["done"] == result.done
    assert counts["failed"] == result.retried + result.failed
    assert counts["worker_timeout"] == result.crashes
    assert set(result.workers) <= set(events["worker"].dropna().astype(str))
    assert any(w.endswith(".2") for w in result.workers)  # crashed workers were replaced

    handles = {f"{h['namespace']}:{h['name']}": h for h in alice.project_files(pid)}
    histories = result.file_histories()
    assert set(histories) == set(dids)
    for did, history in histories.items():
        assert handles[did]["attempts"] == len(history)
        assert handles[did]["state"] == {"done": "done", "failed": "failed"}[history[-1]]
    timed_out = set(events.loc[events["event"] == "worker_timeout", "did"].astype(str))
    assert timed_out == {r.did for r in result.records if r.outcome == "crashed"}

    frame = result.to_frame()
    bad = set(frame.loc[frame["bad"], "did"].astype(str))
    assert within_4_sigma(len(bad), 300, 0.05)
    assert all(handles[did]["state"] == "failed" for did in bad)
    assert not (frame["bad"] & (frame["outcome"] == "done")).any()
    released = frame[~frame["bad"] & (frame["outcome"] != "crashed")]
    assert set(released["rse"].astype(str)) == {"FNAL_DCACHE", "CERN_EOS", "no_replica"}
    for rse, p in failure.items():
        reads = released[released["rse"] == rse]
        failures = int(reads["outcome"].isin(["retried", "failed"]).sum())
        assert within_4_sigma(failures, len(reads), p), (rse, failures, len(reads))
    assert within_4_sigma(result.crashes, result.reservations, 0.03)
    failed = frame[frame["outcome"].isin(["retried", "failed"])]
    assert ((failed["outcome"] == "failed") == (failed["attempt"] >= 3)).all()
    both = frame[frame["did"].astype(str).isin(dids[240:280])]
    site_rse = {"FNAL": "FNAL_DCACHE", "CERN": "CERN_EOS"}
    assert (both["rse"].astype(str) == both["cpu_site"].astype(str).map(site_rse)).all()

    assert result.by_rse.loc["CERN_EOS", "reservations"] == (frame["rse"] == "CERN_EOS").sum()
    assert result.by_worker["reservations"].sum() == result.reservations
    assert f"done {result.done}, retried {result.retried}" in repr(result)


def _event_sequences(client, pid):
    events = events_frame(client.get_handles_log(pid))
    events = events[events["event"] != "create"]
    return {did: tuple(group["event"].astype(str)) for did, group in events.groupby("did", observed=True)}


def test_same_seed_gives_the_same_per_file_outcomes(admin, alice):
    dids = new_files(admin, 120, on_fnal)
    config = SimConfig(workers=5, rse_failure={"FNAL_DCACHE": 0.25}, bad_files=0.05, crash=0.04, seed=7,
                       processing_time=Uniform(0.002, 0.008), restart_delay=0.2, idle_exit=6.0, poll_interval=0.1)
    runs = []
    for seed in (7, 7, 8):
        pid = alice.create_project(dids, worker_timeout=1)["project_id"]
        result = simulate(alice, pid, config, progress=False, seed=seed)
        assert result.stop_reason == "project ended"
        runs.append((result, _event_sequences(alice, pid)))
    (first, first_events), (second, second_events), (other, other_events) = runs
    assert first.file_histories() == second.file_histories()
    assert first_events == second_events
    times = {(r.did, r.attempt): r.seconds for r in first.records}
    assert times == {(r.did, r.attempt): r.seconds for r in second.records}
    assert first.file_histories() != other.file_histories()
    assert first_events != other_events


def virtual_project(client, n, **kw):
    namespace = f"virtual{next(_namespaces)}"
    files = [f"{namespace}:f{i}" for i in range(n)]
    return client.create_project(files, project_attributes={"virtual": True}, **kw)["project_id"]


def test_max_reservations_stops_the_run_exactly(alice):
    pid = virtual_project(alice, 100, worker_timeout=5)
    result = simulate(alice, pid, workers=4, max_reservations=25, progress=False, **FAST)
    assert result.stop_reason == "max_reservations" and result.reservations == 25
    assert result.project_state == "active"
    assert (events_frame(alice.get_handles_log(pid))["event"] == "reserve").sum() == 25
    assert len(alice.project_files(pid, state="done")) == 25


def test_max_seconds_stops_the_run(alice):
    pid = virtual_project(alice, 400, worker_timeout=5)
    result = simulate(alice, pid, SimConfig(workers=2, processing_time=Fixed(0.05), max_seconds=0.4),
                      progress=False)
    assert result.stop_reason == "max_seconds" and result.project_state == "active"
    assert 0 < result.done < 400
    assert not alice.project_files(pid, state="reserved")  # files in hand were finished


def test_workers_exit_when_nothing_can_be_reserved(admin, alice):
    pid = alice.create_project(new_files(admin, 5, lambda i: [("UK_RAL", True)]))["project_id"]
    result = simulate(alice, pid, workers=2, idle_exit=0.3, poll_interval=0.05, progress=False)
    assert result.stop_reason == "idle" and result.reservations == 0 and result.project_state == "active"


def test_virtual_project_reads_no_replica(alice):
    pid = virtual_project(alice, 20)
    result = simulate(alice, pid, workers=3, rse_failure={"no_replica": 1.0}, retry=RetryPolicy(max_attempts=1),
                      progress=False, **FAST)
    assert result.project_state == "failed" and result.failed == 20 == result.reservations
    assert set(result.by_rse.index) == {"no_replica"}


def test_a_server_that_goes_away_stops_the_fleet_with_an_error(tmp_path):
    srv = LocalServer(db=tmp_path / "gone.sqlite", demo=True, demo_files=0).start()
    try:
        client = DataDispatcherClient(srv.url, srv.auth_url, token=srv.issue_token("alice"))
        pid = virtual_project(client, 500)
        threading.Timer(0.5, srv.stop).start()
        result = simulate(client, pid, workers=2, processing_time=0.02, progress=False)
    finally:
        srv.stop()
    assert result.stop_reason == "error" and result.project_state is None
    assert "Connection refused" in result.error or "connect" in result.error.lower()
    assert 0 < result.done < 500 and "stopped: error" in result.summary()


def test_simulate_logs_in_from_a_url(server, admin, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    pid = DataDispatcherClient(server.url, token=server.issue_token("bob")).create_project(
        new_files(admin, 10, on_fnal))["project_id"]
    result = simulate(server.url, pid, auth_url=server.auth_url, user="bob", password="bob", workers=2,
                      progress=False, **FAST)
    assert result.done == 10 and result.project_state == "done"
    pid = DataDispatcherClient(server.url, token=server.issue_token("bob")).create_project(
        new_files(admin, 4, on_fnal))["project_id"]
    assert simulate(server.url, pid, token=server.issue_token("bob"), progress=False, **FAST).done == 4


def test_bad_calls_raise_clear_errors(server, alice, tmp_path, monkeypatch):
    with pytest.raises(NotFoundError, match="project 999999 not found"):
        simulate(alice, 999999, progress=False)
    pid = virtual_project(alice, 1)
    simulate(alice, pid, progress=False, **FAST)
    with pytest.raises(ValueError, match=f"project {pid} is done"):
        simulate(alice, pid, progress=False)
    with pytest.raises(TypeError, match="wrokers"):
        simulate(alice, pid, wrokers=3)
    with pytest.raises(ValueError, match="crash"):
        simulate(alice, pid, crash=3)
    with pytest.raises(ValueError, match="without a password"):
        simulate(server.url, pid, user="alice")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AuthenticationError, match="not logged in"):
        simulate(server.url + "/", pid, progress=False)


def test_result_frame_has_typed_columns(alice):
    pid = virtual_project(alice, 8)
    result = simulate(alice, pid, workers=2, progress=False, **FAST)
    assert isinstance(result, SimResult)
    frame = result.to_frame()
    assert len(frame) == 8 and set(frame["outcome"].astype(str)) == {"done"}
    assert str(frame["reserved_at"].dtype) == "datetime64[ns, UTC]"
    assert (frame["released_at"] >= frame["reserved_at"]).all()
    assert list(frame["outcome"].cat.categories) == ["done", "retried", "failed", "crashed", "lost"]
    with pytest.raises(ValueError, match="unknown outcome"):
        result.count("exploded")


# ---- the command line ------------------------------------------------------------------------

def test_cli_simulate_end_to_end(server, admin, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    owner = DataDispatcherClient(server.url, token=server.issue_token("alice"))
    pid = owner.create_project(new_files(admin, 40, on_fnal), worker_timeout=1)["project_id"]
    code = main(["simulate", str(pid), "--workers", "3", "--url", server.url, "--auth-url", server.auth_url,
                 "--user", "alice", "--password", "alice", "--cpu-site", "FNAL=2", "--cpu-site", "CERN",
                 "--time", "0.005", "--sigma", "0", "--fail-rse", "FNAL_DCACHE=0.2", "--fail-files", "0.05",
                 "--crash", "0.05", "--restart-delay", "0.2", "--seed", "3", "--idle-exit", "6",
                 "--max-seconds", "60", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"project {pid}:" in out and "stopped: project ended" in out and "FNAL_DCACHE" in out
    assert owner.get_project(pid)["state"] in ("done", "failed")

    # URLs from the environment (a throwaway server's login is not saved in the token library,
    # so the token is given on the command line)
    monkeypatch.setenv("DATA_DISPATCHER_URL", server.url)
    monkeypatch.setenv("DATA_DISPATCHER_AUTH_URL", server.auth_url)
    pid = owner.create_project(new_files(admin, 5, on_fnal))["project_id"]
    token = server.issue_token("alice")
    assert main(["simulate", str(pid), "--time", "0.005", "--no-progress", "--token", token]) == 0
    assert "done 5," in capsys.readouterr().out


def test_cli_rejects_bad_arguments(server, capsys, monkeypatch):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "1", "--fail-rse", "CERN_EOS"])
    assert info.value.code == 2
    assert "expected RSE=PROBABILITY" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "1", "--crash", "2"])
    assert "not a probability" in capsys.readouterr().err
    assert main(["simulate", "1", "--workers", "0", "--url", server.url]) == 2
    assert "workers must be a positive integer" in capsys.readouterr().err
    token = server.issue_token("alice")
    assert main(["simulate", "999999", "--url", server.url, "--token", token, "--no-progress"]) == 1
    assert "error: project 999999 not found" in capsys.readouterr().err
