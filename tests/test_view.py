"""ProjectView: lazy cached fetches, refresh, summary, plots and an escaped HTML repr."""

from __future__ import annotations

import copy

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from dd_notebook.analysis import ProjectSummary  # noqa: E402
from dd_notebook.view import STYLE, ProjectView  # noqa: E402

T0 = 1_700_000_000.0
HOSTILE = "<script>alert('x')</script>"


def handle(name, state, worker=None, attempts=0, attributes=None):
    return {"project_id": 5, "namespace": "mc", "name": name, "state": state, "worker_id": worker,
            "attempts": attempts, "attributes": attributes or {}, "reserved_since": T0 if attempts else None,
            "replicas": {"DISK": {"name": name, "namespace": "mc", "path": None, "rse": "DISK", "url": None,
                                  "preference": 0, "available": True, "rse_available": True}}}


class FakeClient:
    """Scripted stand-in for DataDispatcherClient: counts calls, returns copies."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.project = {
            "project_id": 5, "owner": "<b>mallory</b>", "state": "active", "retry_count": None,
            "attributes": {"campaign": HOSTILE, HOSTILE: 1}, "created_timestamp": T0, "ended_timestamp": None,
            "active": True, "query": "files from x where a < 3", "worker_timeout": 600.0, "idle_timeout": None,
            "users": [], "roles": [],
            "file_handles": [handle("a", "done", attempts=1, attributes={"note": HOSTILE}),
                             handle("b", "reserved", "w<1>", 1), handle("c", "initial")],
        }
        self.log = [
            {"type": "state", "t": T0 + i, "data": d, "project_id": 5, "namespace": "mc", "name": n}
            for i, (n, d) in enumerate([
                ("a", {"event": "create", "state": "initial"}), ("b", {"event": "create", "state": "initial"}),
                ("c", {"event": "create", "state": "initial"}),
                ("a", {"event": "reserve", "old_state": "initial", "state": "reserved", "worker": "w1"}),
                ("b", {"event": "reserve", "old_state": "initial", "state": "reserved", "worker": "w<1>"}),
                ("a", {"event": "done", "old_state": "reserved", "state": "done", "worker": "w1"}),
            ])
        ]
        self.fail_with: Exception | None = None

    def get_project(self, project_id, with_files=True, with_replicas=False):
        self.calls.append(("get_project", project_id, with_files, with_replicas))
        if self.fail_with:
            raise self.fail_with
        project = copy.deepcopy(self.project)
        if not with_replicas:
            for h in project["file_handles"]:
                h.pop("replicas")
        return project

    def get_handles_log(self, project_id, gui_url=None):
        self.calls.append(("get_handles_log", project_id, gui_url))
        return copy.deepcopy(self.log)


@pytest.fixture()
def client():
    return FakeClient()


def test_lazy_cached_fetches_and_refresh(client):
    view = ProjectView(client, 5, gui_url="http://gui")
    assert client.calls == []
    assert view.handles["state"].tolist() == ["done", "reserved", "initial"]
    assert view.project["owner"] == "<b>mallory</b>"
    assert client.calls == [("get_project", 5, True, False)]
    assert len(view.events) == 6
    assert client.calls[-1] == ("get_handles_log", 5, "http://gui")
    assert view.replicas["rse"].tolist() == ["DISK"] * 3
    assert client.calls[-1] == ("get_project", 5, True, True)
    view.handles, view.events, view.replicas  # noqa: B018
    assert len(client.calls) == 3
    assert view.refresh() is view
    view.handles  # noqa: B018
    assert len(client.calls) == 4


def test_missing_project(client):
    client.get_project = lambda *a, **k: None
    with pytest.raises(LookupError, match="project 5 not found"):
        ProjectView(client, 5).project  # noqa: B018


def test_summary_and_plots(client):
    view = ProjectView(client, 5)
    summary = view.summary()
    assert isinstance(summary, ProjectSummary)
    assert summary.n_files == 3 and summary.owner == "<b>mallory</b>" and summary.reservations == 2
    assert view.summary(with_events=False).reservations is None
    for ax in (view.plot_timeline(), view.plot_throughput(), view.plot_durations(),
               view.plot_failure_rates("worker"), view.plot_failure_rates("rse"), view.plot_rse_availability()):
        assert isinstance(ax, Axes)
    plt.close("all")


def test_html_repr_escapes_hostile_values(client):
    html_text = ProjectView(client, 5)._repr_html_()
    assert "<script>" not in html_text and "<b>mallory" not in html_text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html_text
    assert "&lt;b&gt;mallory&lt;/b&gt;" in html_text
    assert "a &lt; 3" in html_text
    assert html_text.count("<style>") == 1 and html_text.startswith(STYLE)
    assert "done 1" in html_text and "initial 1" in html_text


def test_mimebundle_has_plain_text_fallback(client):
    view = ProjectView(client, 5)
    bundle = view._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == repr(view)
    assert "project_id=5" in repr(view) and "files=3" in repr(view) and "reserved 1" in repr(view)


def test_repr_shows_errors_instead_of_raising(client):
    client.fail_with = ConnectionError("server <down>")
    view = ProjectView(client, 5)
    assert "ConnectionError: server <down>" in repr(view)
    html_text = view._repr_html_()
    assert "server &lt;down&gt;" in html_text and "dd-error" in html_text
