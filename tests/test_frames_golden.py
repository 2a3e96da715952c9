"""dd_notebook.frames on JSON recorded from the real upstream DD server (``tests/data``).

The transcript masks absolute timestamps as ``"<float>"``; the loader replaces
each with a distinct increasing epoch so the converters see upstream-shaped
values.
"""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dd_notebook.frames import (
    HANDLE_COLUMNS,
    PROJECT_COLUMNS,
    REPLICA_COLUMNS,
    RSE_COLUMNS,
    handles_frame,
    projects_frame,
    proximity_frame,
    proximity_matrix,
    replicas_frame,
    rses_frame,
)

GOLDEN = Path(__file__).resolve().parent / "data" / "upstream-dd-transcript.json"
EPOCH = 1_750_000_000.0


@pytest.fixture(scope="module")
def recorded():
    entries = {e["seq"]: e for e in json.loads(GOLDEN.read_text())["entries"]}
    clock = count()

    def unmask(value: Any) -> Any:
        if value == "<float>":
            return EPOCH + next(clock) * 1.5
        if isinstance(value, dict):
            return {k: unmask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [unmask(v) for v in value]
        return value

    def response(seq: int) -> Any:
        entry = entries[seq]
        assert entry["status"] == 200, entry["step"]
        return unmask(entry["response"])

    return response


def check_dtypes(frame: pd.DataFrame, schema: dict) -> None:
    for column, dtype in schema.items():
        assert frame[column].dtype == dtype, column


def test_project_with_files_after_release(recorded):
    project = recorded(151)  # P1 after its last release: 4 done, 1 failed
    df = handles_frame(project, expand_attributes=True)
    check_dtypes(df, HANDLE_COLUMNS)
    assert df["did"].tolist() == [f"test:f{i}" for i in range(1, 6)]
    assert df["state"].tolist() == ["done", "done", "failed", "done", "done"]
    assert df["attempts"].tolist() == [1, 3, 1, 1, 1]
    assert df["worker_id"].isna().all()
    assert df["reserved_since"].notna().all()
    assert df["attr.tag"].tolist()[2] == "x" and df["attr.tag"].isna().sum() == 4
    assert df["attr.size"].dtype == "Int64"
    assert df.loc[2, "attr.nested"] == {"a": [1, 2]}


def test_project_with_replicas(recorded):
    project = recorded(246)  # PR after RSE_DISK went down
    handles = handles_frame(project)
    assert handles["state"].tolist() == ["reserved", "reserved", "initial"]
    assert handles["worker_id"].tolist()[:2] == ["w1", "w2"]
    assert pd.isna(handles.loc[2, "reserved_since"])
    reps = replicas_frame(project)
    check_dtypes(reps, REPLICA_COLUMNS)
    assert list(zip(reps["did"], reps["rse"])) == [
        ("test:r1", "RSE_DISK"), ("test:r1", "RSE_OFF"), ("test:r2", "RSE_DISK"), ("test:r2", "RSE_TAPE")]
    assert reps["path"].tolist()[0] == "/pnfs/test/r1" and reps["path"].isna().sum() == 3
    assert reps["preference"].tolist() == [0, 0, 7, 0]
    assert reps["available"].tolist() == [True, True, True, False]
    assert reps["rse_available"].tolist() == [False, True, False, True]
    assert (reps["project_id"] == 24).all()


def test_deprecated_handles_listing(recorded):
    df = handles_frame(recorded(256))
    assert df["did"].tolist() == ["test:r1", "test:r2", "test:r3"]
    assert df["project_id"].tolist() == [24, 24, 24]
    assert df["attempts"].tolist() == [1, 1, 0]


def test_next_file_reply_handle(recorded):
    handle = recorded(242)["handle"]  # reserved with cpu_site=FNAL: proximity 5 replaces preference
    df = handles_frame([handle])
    assert df["state"].tolist() == ["reserved"] and df["worker_id"].tolist() == ["w1"]
    reps = replicas_frame([handle])
    assert reps["rse"].tolist() == ["RSE_DISK"] and reps["preference"].tolist() == [5]


def test_project_listings(recorded):
    with_handles = recorded(83)
    df = projects_frame(with_handles)
    check_dtypes(df, PROJECT_COLUMNS)
    assert len(df) == len(with_handles)
    first = df.iloc[0]
    assert (first["project_id"], first["owner"], first["state"]) == (1, "alice", "active")
    assert (first["n_handles"], first["n_initial"]) == (5, 5)
    assert first["worker_timeout_s"] == 3600.0 and first["idle_timeout_s"] == 86400.5
    assert first["query"] == "files from test:ds\n  limit 5"
    assert df["created_timestamp"].notna().all()
    without = projects_frame(recorded(82))
    assert without["n_handles"].isna().all()
    everyone = recorded(286)
    states = projects_frame(everyone, expand_attributes=["step"])
    assert states["state"].astype(object).tolist() == [p["state"] for p in everyone]
    assert states["attr.step"].tolist()[0] == "reco"


def test_rse_listing(recorded):
    df = rses_frame(recorded(214))
    check_dtypes(df, RSE_COLUMNS)
    assert df["name"].tolist() == ["RSE_DISK", "RSE_TAPE", "RSE_OFF", "RSE_MIN"]
    assert df["preference"].tolist()[:2] == [10, 5] and df["preference"].isna().sum() == 2
    assert df["is_enabled"].tolist()[:3] == [True, True, False] and pd.isna(df["is_enabled"][3])
    assert df["type"].tolist()[1] == "wlcg"


def test_proximity_matches_recorded_next_file_replies(recorded):
    # seeded row (DEFAULT, DEFAULT, 100) plus the scenario's (FNAL, RSE_DISK, 5)
    matrix = proximity_matrix(proximity_frame([
        {"cpu": "DEFAULT", "rse": "DEFAULT", "proximity": 100},
        {"cpu": "FNAL", "rse": "RSE_DISK", "proximity": 5},
    ]), rses=["RSE_DISK"], effective=True)
    fnal = recorded(242)["handle"]["replicas"]["RSE_DISK"]["proximity"]
    unknown_site = recorded(243)["handle"]["replicas"]["RSE_DISK"]["proximity"]  # XYZ falls back to DEFAULT
    assert matrix.loc["FNAL", "RSE_DISK"] == fnal == 5
    assert matrix.loc["DEFAULT", "RSE_DISK"] == unknown_site == 100
