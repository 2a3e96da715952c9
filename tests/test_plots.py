"""dd_notebook.plots render headlessly (Agg) with the expected artists and labelled axes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.patches import Rectangle, StepPatch  # noqa: E402

from dd_notebook import plots  # noqa: E402
from dd_notebook.analysis import durations, failure_rates, state_timeline, throughput  # noqa: E402
from dd_notebook.frames import events_frame, proximity_frame, replicas_frame, rses_frame  # noqa: E402

T0 = 1_699_999_980.0


def rec(t, name, event, state, old=None, worker=None):
    data = {"event": event, "state": state}
    if old is not None:
        data["old_state"] = old
    if worker is not None:
        data["worker"] = worker
    return {"type": "state", "t": T0 + t, "data": data, "project_id": 1, "namespace": "mc", "name": name}


@pytest.fixture(autouse=True)
def no_show(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("plots must not call plt.show()")

    monkeypatch.setattr(plt, "show", refuse)
    yield
    plt.close("all")


@pytest.fixture()
def events():
    log = [rec(0, f"f{i}", "create", "initial") for i in range(30)]
    for i in range(30):
        start = 30 + 20 * i
        log.append(rec(start, f"f{i}", "reserve", "reserved", "initial", f"w{i % 3}"))
        if i % 7 == 3:
            log.append(rec(start + 40, f"f{i}", "worker_timeout", "initial", None, f"w{i % 3}"))
        elif i % 5 == 4:
            log.append(rec(start + 50, f"f{i}", "failed", "failed", "reserved", f"w{i % 3}"))
        else:
            log.append(rec(start + 30 + i, f"f{i}", "done", "done", "reserved", f"w{i % 3}"))
    return events_frame(log)


def render(ax: Axes) -> bytes:
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    return data


def test_throughput_plot(events):
    ax = plots.plot_throughput(events, "1min")
    assert isinstance(ax, Axes)
    assert sum(isinstance(p, StepPatch) for p in ax.patches) == 2
    assert len(ax.lines) == 2
    assert ax.get_ylabel() in ("files / s", "files / min", "files / h") and ax.get_xlabel() == "time (UTC)"
    render(ax)
    from_table = plots.plot_throughput(throughput(events, "2min"))
    assert "2 min" in from_table.get_title()


def test_failure_rates_plot(events):
    rates = failure_rates(events, "worker")
    ax = plots.plot_failure_rates(rates)
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == len(rates) == 3
    assert sorted(round(b.get_width(), 6) for b in bars) == sorted(round(v * 100, 6) for v in rates["failure_rate"])
    assert ax.get_xlabel() == "failure rate (%)" and ax.get_ylabel() == "worker"
    assert any(t.get_text().startswith("n=") for t in ax.texts)
    render(ax)


def test_state_timeline_plot_is_a_stacked_area(events):
    ax = plots.plot_state_timeline(events)
    areas = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(areas) == 4
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["initial", "reserved", "done", "failed"]
    assert ax.get_ylabel() == "handles (count)" and ax.get_xlabel() == "time (UTC)"
    render(ax)
    resampled = plots.plot_state_timeline(state_timeline(events), max_points=10)
    assert len([c for c in resampled.collections if isinstance(c, PolyCollection)]) == 4


def test_durations_histogram(events):
    ax = plots.plot_durations(events)
    assert len(ax.patches) > 0
    assert ax.get_xlabel() == "reserve → release duration (s)" and ax.get_ylabel() == "reservations (count)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["done", "failed", "worker_timeout"]
    render(ax)
    log_ax = plots.plot_durations(durations(events), log=True, bins=10)
    assert log_ax.get_xscale() == "log"


def test_rse_availability_plot():
    def rep(name, rse, available=True, up=True):
        return {"name": name, "namespace": "mc", "path": None, "rse": rse, "url": None, "preference": 0,
                "available": available, "rse_available": up}

    handles = [{"project_id": 1, "namespace": "mc", "name": "a", "replicas": {
        "DISK": rep("a", "DISK"), "TAPE": rep("a", "TAPE", available=False)}},
        {"project_id": 1, "namespace": "mc", "name": "b", "replicas": {
            "DISK": rep("b", "DISK", up=False), "OFF": rep("b", "OFF")}}]
    rses = rses_frame([{"name": n, "is_enabled": n != "OFF", "is_available": True} for n in
                       ("DISK", "TAPE", "OFF", "EMPTY")])
    ax = plots.plot_rse_availability(replicas_frame(handles), rses)
    assert ax.get_xlabel() == "replicas (count)" and ax.get_ylabel() == "RSE"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["DISK", "TAPE", "OFF", "EMPTY"]
    widths = {}
    for patch, status in zip(ax.patches, [s for s in plots.AVAILABILITY_COLORS for _ in range(4)]):
        widths.setdefault(status, []).append(patch.get_width())
    assert widths == {"usable": [1, 0, 0, 0], "not staged": [0, 1, 0, 0], "RSE down": [1, 0, 0, 0],
                      "RSE disabled": [0, 0, 1, 0]}
    render(ax)


def test_proximity_heatmap():
    prox = proximity_frame({"DEFAULT": {"DEFAULT": 100}, "FNAL": {"FNAL_DCACHE": 0, "DEFAULT": 50}})
    ax = plots.plot_proximity(prox, rses=["CERN_EOS"], effective=True)
    assert len(ax.images) == 1
    assert ax.images[0].get_array().shape == (2, 3)
    assert ax.get_xlabel() == "RSE" and ax.get_ylabel() == "CPU site"
    assert len(ax.figure.axes) == 2  # the colour bar
    assert "proximity" in ax.figure.axes[1].get_ylabel()
    assert sorted(t.get_text() for t in ax.texts) == sorted(["100", "100", "100", "50", "0", "50"])
    render(ax)


def test_given_axes_are_used_and_returned(events):
    fig, axes = plt.subplots(1, 3)
    before = plt.get_fignums()
    assert plots.plot_throughput(events, ax=axes[0]) is axes[0]
    assert plots.plot_state_timeline(events, ax=axes[1]) is axes[1]
    assert plots.plot_durations(events, ax=axes[2]) is axes[2]
    assert plt.get_fignums() == before
    render(axes[0])


def test_empty_inputs_draw_a_note():
    empty = events_frame([])
    for ax in (plots.plot_throughput(empty), plots.plot_state_timeline(empty), plots.plot_durations(empty),
               plots.plot_failure_rates(failure_rates(empty, "worker")),
               plots.plot_rse_availability(replicas_frame([])), plots.plot_proximity(proximity_frame([]))):
        assert any(t.get_text().startswith("no ") for t in ax.texts)
        assert ax.get_xlabel()
        render(ax)
