"""The columnar form of ``project`` carries exactly the standard listing's data."""

from __future__ import annotations

import pytest

from dd_notebook.client.extensions import parse_columns

COLUMNS = "application/vnd.dd-notebook.columns+jsonl"


def test_columns_match_standard_listing(dd):
    dd.replica("col:a", "FNAL_DCACHE", url="root://fnal/col/a", path="/p/a")
    dd.replica("col:a", "UK_RAL", url="root://ral/col/a")
    dd.replica("col:b", "FNAL_TAPE", url="root://tape/col/b")
    dd.replica("col:b", "FNAL_TAPE", available=False)
    pid = dd.create(["col:b", {"namespace": "col", "name": "a", "attributes": {"x": [1, {"y": "<z>"}]}}, "col:c"]
                    )["project_id"]
    dd.ok(dd.get("next_file", "alice", params={"project_id": pid, "worker_id": "wc"}))
    standard = dd.ok(dd.get("project", params={"project_id": pid, "with_replicas": "yes"}))
    response = dd.session.get(f"{dd.url}/project", params={"project_id": pid, "with_replicas": "yes"},
                              headers={"Accept": COLUMNS})
    assert response.headers["content-type"] == COLUMNS
    columnar = parse_columns(response.content)
    project = {k: v for k, v in standard.items() if k != "file_handles"}
    assert columnar["project"] == project
    handles = columnar["handles"]
    rows = [dict(zip(handles, values)) for values in zip(*handles.values())]
    expected = [{k: v for k, v in h.items() if k not in ("project_id", "replicas")} for h in standard["file_handles"]]
    for row, want in zip(rows, expected, strict=True):
        assert row["reserved_since"] == pytest.approx(want["reserved_since"], abs=1e-6) if want["reserved_since"] \
            else row["reserved_since"] is None
        assert {k: v for k, v in row.items() if k != "reserved_since"} == \
            {k: v for k, v in want.items() if k != "reserved_since"}
    replicas = columnar["replicas"]
    replica_rows = sorted(tuple(values) for values in zip(*replicas.values()))
    expected_replicas = sorted(
        tuple(r[k] for k in replicas) for h in standard["file_handles"] for r in h["replicas"].values())
    assert replica_rows == expected_replicas and len(replica_rows) == 3


def test_columns_without_files(dd):
    pid = dd.create(["col2:a"])["project_id"]
    response = dd.session.get(f"{dd.url}/project", params={"project_id": pid, "with_files": "no",
                                                           "with_replicas": "no"}, headers={"Accept": COLUMNS})
    assert set(parse_columns(response.content)) == {"project"}
    plain = dd.session.get(f"{dd.url}/project", params={"project_id": pid}, headers={"Accept": "application/json"})
    assert plain.headers["content-type"].startswith("text/json")
