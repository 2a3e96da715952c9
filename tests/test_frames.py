"""dd_notebook.frames on crafted data: dtypes, values, empty inputs, columnar == dict form, events."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from dd_notebook import frames
from dd_notebook.frames import (
    EVENT_COLUMNS,
    HANDLE_COLUMNS,
    HANDLE_STATES,
    PROJECT_COLUMNS,
    PROXIMITY_COLUMNS,
    REPLICA_COLUMNS,
    RSE_COLUMNS,
    events_frame,
    handles_frame,
    projects_frame,
    proximity_frame,
    proximity_matrix,
    replicas_frame,
    rses_frame,
)

T0 = 1_700_000_000.25


def replica(ns: str, name: str, rse: str, *, available: bool = True, up: bool = True, pref: int | None = 0) -> dict:
    return {"name": name, "namespace": ns, "path": f"/data/{name}" if rse != "TAPE" else None, "rse": rse,
            "url": f"root://{rse.lower()}/{name}", "urls": [f"root://{rse.lower()}/{name}"], "preference": pref,
            "available": available, "rse_available": up}


def crafted_project(with_replicas: bool = True) -> dict:
    handles = [
        {"project_id": 7, "namespace": "mc", "name": "a.root", "state": "done", "worker_id": None, "attempts": 1,
         "attributes": {"size": 10, "tag": "x", "ok": True}, "reserved_since": T0 + 1},
        {"project_id": 7, "namespace": "mc", "name": "b:colon.root", "state": "reserved", "worker_id": "w<1>",
         "attempts": 2, "attributes": {"size": 20, "timeouts": 1, "weight": 0.5}, "reserved_since": T0 + 2},
        {"project_id": 7, "namespace": "raw", "name": "c.root", "state": "initial", "worker_id": None, "attempts": 0,
         "attributes": {"nested": {"a": [1, 2]}, "weight": 2}, "reserved_since": None},
        {"project_id": 7, "namespace": "raw", "name": "d.root", "state": "failed", "worker_id": None, "attempts": 3,
         "attributes": {}, "reserved_since": T0 + 4},
    ]
    if with_replicas:
        handles[0]["replicas"] = {"DISK": replica("mc", "a.root", "DISK", pref=5)}
        handles[1]["replicas"] = {"DISK": replica("mc", "b:colon.root", "DISK", up=False),
                                  "TAPE": replica("mc", "b:colon.root", "TAPE", available=False, pref=None)}
        handles[2]["replicas"] = {}
        handles[3]["replicas"] = {"TAPE": replica("raw", "d.root", "TAPE")}
    return {"project_id": 7, "owner": "alice", "state": "active", "retry_count": None,
            "attributes": {"campaign": "c1", "virtual": False}, "created_timestamp": T0, "ended_timestamp": None,
            "active": True, "query": "files from mc:all", "worker_timeout": 3600.0, "idle_timeout": None,
            "users": ["bob"], "roles": [], "file_handles": handles}


def columnar(project: dict) -> dict:
    """The columnar form of a dict-form project, as the embedded server would send it."""
    handles = project["file_handles"]
    fields = ("namespace", "name", "state", "worker_id", "attempts", "reserved_since", "attributes")
    table = {f: [h[f] for h in handles] for f in fields}
    reps = [r for h in handles for r in (h.get("replicas") or {}).values()]
    rfields = ("namespace", "name", "rse", "path", "url", "preference", "available", "rse_available")
    body = {k: v for k, v in project.items() if k != "file_handles"}
    return {"project": body, "handles": table, "replicas": {f: [r[f] for r in reps] for f in rfields}}


def assert_schema(frame: pd.DataFrame, schema: dict) -> None:
    assert list(frame.columns)[: len(schema)] == list(schema)
    for column, dtype in schema.items():
        if isinstance(dtype, pd.CategoricalDtype) and dtype.categories is None:
            assert isinstance(frame[column].dtype, pd.CategoricalDtype), column
        else:
            assert frame[column].dtype == dtype, (column, frame[column].dtype, dtype)


def test_handles_frame_values_and_dtypes():
    df = handles_frame(crafted_project())
    assert_schema(df, HANDLE_COLUMNS)
    assert list(df["state"].cat.categories) == list(HANDLE_STATES)
    assert df["did"].tolist() == ["mc:a.root", "mc:b:colon.root", "raw:c.root", "raw:d.root"]
    assert df["state"].tolist() == ["done", "reserved", "initial", "failed"]
    assert df["attempts"].tolist() == [1, 2, 0, 3]
    assert df["timeouts"].tolist() == [0, 1, 0, 0]
    assert df["worker_id"].isna().tolist() == [True, False, True, True]
    assert df.loc[1, "worker_id"] == "w<1>"
    assert df["reserved_since"].dtype == pd.DatetimeTZDtype("ns", "UTC")
    assert df.loc[0, "reserved_since"] == pd.Timestamp(T0 + 1, unit="s", tz="UTC")
    assert pd.isna(df.loc[2, "reserved_since"])
    assert df.loc[2, "attributes"] == {"nested": {"a": [1, 2]}, "weight": 2}


def test_handles_from_list_equals_project_form():
    project = crafted_project()
    pd.testing.assert_frame_equal(handles_frame(project["file_handles"]), handles_frame(project))


def test_expand_attributes_all_keys_typed():
    df = handles_frame(crafted_project(), expand_attributes=True)
    attr = [c for c in df.columns if c.startswith("attr.")]
    assert attr == ["attr.size", "attr.tag", "attr.ok", "attr.timeouts", "attr.weight", "attr.nested"]
    assert df["attr.size"].dtype == "Int64" and df["attr.size"].tolist()[:2] == [10, 20]
    assert df["attr.size"].isna().tolist() == [False, False, True, True]
    assert df["attr.tag"].dtype == "str"
    assert df["attr.ok"].dtype == "boolean"
    assert df["attr.weight"].dtype == np.float64
    assert df["attr.nested"].dtype == object and df.loc[2, "attr.nested"] == {"a": [1, 2]}


def test_expand_attributes_selected_keys_and_prefix():
    df = handles_frame(crafted_project(), expand_attributes=["tag", "missing"], attr_prefix="a_")
    assert list(df.columns)[-2:] == ["a_tag", "a_missing"]
    assert df["a_missing"].isna().all()


@pytest.mark.parametrize("expand", [False, True, ["size", "tag"]])
def test_columnar_form_gives_identical_frames(expand):
    project = crafted_project()
    col = columnar(project)
    pd.testing.assert_frame_equal(handles_frame(col, expand_attributes=expand),
                                  handles_frame(project, expand_attributes=expand))
    pd.testing.assert_frame_equal(replicas_frame(col), replicas_frame(project))


def test_columnar_form_on_a_large_synthetic_project():
    n = 5000
    rng = np.random.default_rng(3)
    handles = [
        {"project_id": 9, "namespace": f"ns{i % 3}", "name": f"f{i}", "state": HANDLE_STATES[i % 4],
         "worker_id": f"w{i % 7}" if i % 4 == 1 else None, "attempts": int(rng.integers(0, 4)),
         "attributes": {"run": i % 11} if i % 2 else {}, "reserved_since": None if i % 5 == 0 else T0 + i / 3,
         "replicas": {"R1": replica(f"ns{i % 3}", f"f{i}", "R1", pref=i % 3)}}
        for i in range(n)
    ]
    project = {"project_id": 9, "owner": "o", "state": "active", "file_handles": handles}
    col = columnar(project)
    pd.testing.assert_frame_equal(handles_frame(col, expand_attributes=True),
                                  handles_frame(project, expand_attributes=True))
    pd.testing.assert_frame_equal(replicas_frame(col), replicas_frame(project))


def test_columnar_without_replicas_and_bad_lengths(caplog):
    col = columnar(crafted_project())
    del col["replicas"]
    with caplog.at_level(logging.WARNING):
        assert_schema(replicas_frame(col), REPLICA_COLUMNS)
    assert "replicas" in caplog.text
    col["handles"]["name"] = col["handles"]["name"][:-1]
    with pytest.raises(ValueError, match="differ in length"):
        handles_frame(col)


def test_replicas_frame_values():
    df = replicas_frame(crafted_project())
    assert_schema(df, REPLICA_COLUMNS)
    assert df["did"].tolist() == ["mc:a.root", "mc:b:colon.root", "mc:b:colon.root", "raw:d.root"]
    assert df["rse"].tolist() == ["DISK", "DISK", "TAPE", "TAPE"]
    assert df["preference"].isna().tolist() == [False, False, True, False]
    assert df["available"].tolist() == [True, True, False, True]
    assert df["rse_available"].tolist() == [True, False, True, True]
    assert df["project_id"].tolist() == [7, 7, 7, 7]


def test_replicas_frame_warns_without_replicas(caplog):
    with caplog.at_level(logging.WARNING):
        df = replicas_frame(crafted_project(with_replicas=False))
    assert df.empty and "with_replicas=True" in caplog.text


def test_project_without_file_handles_is_an_error():
    project = crafted_project()
    del project["file_handles"]
    with pytest.raises(ValueError, match="with_files=True"):
        handles_frame(project)


@pytest.mark.parametrize(
    ("build", "schema"),
    [
        (lambda: handles_frame({"project_id": 1, "file_handles": []}), HANDLE_COLUMNS),
        (lambda: handles_frame([]), HANDLE_COLUMNS),
        (lambda: handles_frame({"project": {"project_id": 1}, "handles": {"namespace": [], "name": []}}),
         HANDLE_COLUMNS),
        (lambda: replicas_frame([]), REPLICA_COLUMNS),
        (lambda: projects_frame([]), PROJECT_COLUMNS),
        (lambda: rses_frame([]), RSE_COLUMNS),
        (lambda: events_frame([]), EVENT_COLUMNS),
        (lambda: proximity_frame([]), PROXIMITY_COLUMNS),
    ],
)
def test_empty_inputs_give_typed_empty_frames(build, schema):
    df = build()
    assert len(df) == 0
    assert_schema(df, schema)


def test_empty_handles_keep_requested_attribute_columns():
    df = handles_frame([], expand_attributes=["tag"])
    assert "attr.tag" in df.columns and len(df) == 0


def test_unknown_state_becomes_missing_with_warning(caplog):
    project = crafted_project()
    project["file_handles"][0]["state"] = "exploded"
    with caplog.at_level(logging.WARNING):
        df = handles_frame(project)
    assert pd.isna(df.loc[0, "state"]) and "exploded" in caplog.text


def test_projects_frame_dict_list_and_columnar():
    project = crafted_project()
    bare = {k: v for k, v in project.items() if k != "file_handles"}
    df = projects_frame([project, bare, columnar(project)], expand_attributes=True)
    assert_schema(df, PROJECT_COLUMNS)
    assert df["n_handles"].tolist()[0] == 4 and pd.isna(df["n_handles"][1]) and df["n_handles"][2] == 4
    assert df.loc[0, ["n_initial", "n_reserved", "n_done", "n_failed"]].tolist() == [1, 1, 1, 1]
    assert df["worker_timeout_s"].tolist() == [3600.0] * 3
    assert df["idle_timeout_s"].isna().all()
    assert df["attr.campaign"].tolist() == ["c1"] * 3
    assert df["attr.virtual"].dtype == "boolean"
    assert df.loc[0, "users"] == ["bob"]
    assert projects_frame(project)["project_id"].tolist() == [7]


def test_rses_frame_nullable_flags():
    rses = [
        {"name": "DISK", "description": "d", "is_available": True, "is_tape": False, "preference": 3,
         "is_enabled": True, "type": None},
        {"name": "MIN", "description": None, "is_available": None, "is_tape": None, "preference": None,
         "is_enabled": None, "type": "wlcg"},
    ]
    df = rses_frame(rses)
    assert_schema(df, RSE_COLUMNS)
    assert df["is_available"].isna().tolist() == [False, True]
    assert df["preference"].tolist()[0] == 3 and pd.isna(df["preference"][1])
    assert pd.isna(df.loc[0, "pin_url"])


def test_proximity_frame_both_shapes_and_matrix():
    rows = [{"cpu": "DEFAULT", "rse": "DEFAULT", "proximity": 100}, {"cpu": "FNAL", "rse": "FNAL_DCACHE",
            "proximity": 0}, {"cpu": "FNAL", "rse": "DEFAULT", "proximity": 50}]
    long = proximity_frame(rows)
    config = proximity_frame({"DEFAULT": {"DEFAULT": 100}, "FNAL": {"FNAL_DCACHE": 0, "DEFAULT": 50}})
    pd.testing.assert_frame_equal(long, config)
    matrix = proximity_matrix(long, rses=["CERN_EOS"])
    assert matrix.loc["FNAL", "FNAL_DCACHE"] == 0 and pd.isna(matrix.loc["FNAL", "CERN_EOS"])
    effective = proximity_matrix(long, rses=["CERN_EOS"], effective=True)
    # protocol §7.4 example: FNAL/other -> 50 (the site's DEFAULT), DEFAULT/anything -> 100
    assert effective.loc["FNAL", "CERN_EOS"] == 50
    assert effective.loc["FNAL", "FNAL_DCACHE"] == 0
    assert effective.loc["DEFAULT", "FNAL_DCACHE"] == 100
    assert str(effective.dtypes.iloc[0]) == "Int64"


def log_record(t, name, event, state, old=None, worker=None, ns="n", pid=1, **extra):
    data = {"event": event, "state": state, **extra}
    if old is not None:
        data["old_state"] = old
    if worker is not None:
        data["worker"] = worker
    return {"type": "state", "t": t, "data": data, "project_id": pid, "namespace": ns, "name": name}


def test_events_frame_columns_order_and_derived_values():
    records = [
        log_record(5.0, "a", "reserve", "reserved", "initial", "w1"),
        log_record(1.0, "a", "create", "initial"),
        log_record(1.0, "x:y", "create", "initial"),
        log_record(9.0, "a", "worker_timeout", "initial", worker="w1"),
        log_record(9.0, "a", "reserve", "reserved", "initial", "w2"),
        log_record(12.0, "a", "done", "done", "reserved", "w2"),
    ]
    df = events_frame(records)
    assert_schema(df, EVENT_COLUMNS)
    assert df["t"].is_monotonic_increasing
    assert df["event"].tolist() == ["create", "create", "reserve", "worker_timeout", "reserve", "done"]
    assert df["did"].tolist() == ["n:a", "n:x:y", "n:a", "n:a", "n:a", "n:a"]
    assert df["name"].tolist()[1] == "x:y" and df["namespace"].tolist() == ["n"] * 6
    assert df["old_state"].tolist()[3] == "reserved"  # filled for worker_timeout
    assert pd.isna(df["old_state"][0])  # create has none
    assert df["attempt"].tolist() == [0, 0, 1, 1, 2, 2]
    assert df["worker"].tolist()[2:] == ["w1", "w1", "w2", "w2"]
    for column in ("namespace", "name", "did", "worker"):
        assert isinstance(df[column].dtype, pd.CategoricalDtype)


def test_events_frame_attempts_per_project_and_recorded_override():
    records = [
        log_record(1.0, "a", "reserve", "reserved", "initial", "w", pid=1),
        log_record(2.0, "a", "reserve", "reserved", "initial", "w", pid=2),
        log_record(3.0, "a", "failed", "initial", "reserved", "w", pid=1),
        log_record(4.0, "a", "reserve", "reserved", "initial", "w", pid=1),
        log_record(5.0, "b", "reserve", "reserved", "initial", "w", pid=1, attempts=7),
    ]
    df = events_frame(records)
    assert df["attempt"].tolist() == [1, 1, 1, 2, 7]


def test_masked_timestamps_become_nat_with_warning(caplog):
    records = [log_record("<float>", "a", "create", "initial"), log_record(3.0, "b", "create", "initial")]
    with caplog.at_level(logging.WARNING):
        df = events_frame(records)
    assert df["t"].isna().sum() == 1 and "not numbers" in caplog.text


def test_public_names():
    assert set(frames.__all__) == {n for n in dir(frames) if not n.startswith("_")} - {
        "events", "handles", "projects"}


def test_handles_frame_on_large_inputs():
    """Correctness at 200,000 handles; the speed goal is measured by ``benchmarks/frames.py``."""
    n = 200_000
    handles = [{"project_id": 1, "namespace": "ns", "name": f"f{i:07d}", "state": HANDLE_STATES[i % 4],
                "worker_id": None if i % 4 != 1 else f"w{i % 50}", "attempts": i % 3, "attributes": {},
                "reserved_since": None if i % 4 == 0 else T0 + i} for i in range(n)]
    df = handles_frame({"project_id": 1, "file_handles": handles})
    assert len(df) == n
    assert df["state"].value_counts().to_dict() == {state: n // 4 for state in HANDLE_STATES}
    assert df["worker_id"].notna().sum() == n // 4
    assert (df["did"].iloc[[0, -1]] == ["ns:f0000000", f"ns:f{n - 1:07d}"]).all()
    assert int(df["attempts"].sum()) == sum(i % 3 for i in range(n))
