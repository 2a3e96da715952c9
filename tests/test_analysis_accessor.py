"""The opt-in ``df.dd`` accessor (``import dd_notebook.pandas``)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

import dd_notebook.pandas  # noqa: E402,F401  (registers the accessor)
from dd_notebook import analysis  # noqa: E402
from dd_notebook.frames import events_frame, handles_frame  # noqa: E402


def rec(t, name, event, state, old=None, worker=None):
    data = {"event": event, "state": state}
    if old is not None:
        data["old_state"] = old
    if worker is not None:
        data["worker"] = worker
    return {"type": "state", "t": 1_700_000_000.0 + t, "data": data, "project_id": 3, "namespace": "n", "name": name}


@pytest.fixture()
def events():
    return events_frame([
        rec(0, "a", "create", "initial"), rec(0, "b", "create", "initial"),
        rec(5, "a", "reserve", "reserved", "initial", "w1"), rec(6, "b", "reserve", "reserved", "initial", "w2"),
        rec(65, "a", "done", "done", "reserved", "w1"), rec(70, "b", "failed", "failed", "reserved", "w2"),
    ])


@pytest.fixture()
def handles():
    return handles_frame([
        {"project_id": 3, "namespace": "n", "name": "a", "state": "done", "worker_id": None, "attempts": 1,
         "attributes": {}, "reserved_since": None},
        {"project_id": 3, "namespace": "n", "name": "b", "state": "failed", "worker_id": None, "attempts": 1,
         "attributes": {}, "reserved_since": None},
    ])


def test_events_accessor_delegates(events):
    assert events.dd.kind == "events"
    pd.testing.assert_frame_equal(events.dd.throughput("1min"), analysis.throughput(events, "1min"))
    pd.testing.assert_frame_equal(events.dd.timeline(), analysis.state_timeline(events))
    pd.testing.assert_frame_equal(events.dd.failure_rates("worker"), analysis.failure_rates(events, "worker"))
    pd.testing.assert_frame_equal(events.dd.durations(), analysis.durations(events))
    pd.testing.assert_frame_equal(events.dd.retry_counts(), analysis.retry_counts(events))
    assert events.dd.state_counts().to_dict() == {"initial": 0, "reserved": 0, "done": 1, "failed": 1}
    assert events.dd.permanent_failures()["did"].tolist() == ["n:b"]
    assert events.dd.eta().remaining == 0
    assert events.dd.summary().n_files == 2
    assert events.dd.worker_timeouts().empty


def test_events_accessor_plots(events):
    for ax in (events.dd.plot_timeline(), events.dd.plot_throughput("1min"), events.dd.plot_durations(),
               events.dd.plot_failure_rates("worker")):
        assert isinstance(ax, Axes)
    fig, ax = plt.subplots()
    assert events.dd.plot_timeline(ax=ax) is ax
    plt.close("all")


def test_handles_accessor(handles):
    assert handles.dd.kind == "handles"
    assert handles.dd.state_counts().to_dict() == {"initial": 0, "reserved": 0, "done": 1, "failed": 1}
    assert handles.dd.permanent_failures()["did"].tolist() == ["n:b"]
    assert handles.dd.summary().fraction_done == 0.5
    with pytest.raises(AttributeError, match="missing columns: t, event, old_state"):
        handles.dd.throughput()


def test_wrong_columns_raise_attribute_error_naming_them():
    frame = pd.DataFrame({"did": ["n:a"], "x": [1]})
    with pytest.raises(AttributeError) as raised:
        frame.dd  # noqa: B018
    message = str(raised.value)
    assert "t, event, old_state, state" in message and "state, attempts" in message
    assert not hasattr(pd.DataFrame({"a": [1]}), "dd")
