"""The demo catalog: deterministic, DUNE-like, consistent provenance, replicas in the DD server's tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dd_notebook.catalog import Catalog, CatalogExists
from dd_notebook.server.catalog.demo import load_demo_catalog
from dd_notebook.server.catalog.schema import connect


def _load(path: Path, seed: int = 7, n_files: int = 3000) -> sqlite3.Connection:
    conn = connect(path)
    load_demo_catalog(conn, n_files=n_files, seed=seed)
    return conn


def _dump(conn: sqlite3.Connection) -> list[tuple]:
    return (conn.execute("SELECT fid, namespace, name, size, checksums, metadata, created_timestamp FROM mc_files "
                         "ORDER BY id").fetchall()
            + conn.execute("SELECT * FROM replicas ORDER BY namespace, name, rse").fetchall()
            + conn.execute("SELECT * FROM mc_provenance ORDER BY parent_id, child_id").fetchall())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    from dd_notebook.server.core.db import connect as server_connect

    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    server_connect(path).close()
    return _load(path)


def test_same_seed_same_catalog(demo: sqlite3.Connection, tmp_path: Path) -> None:
    assert _dump(_load(tmp_path / "again.sqlite")) == _dump(demo)
    assert _dump(_load(tmp_path / "other.sqlite", seed=8))[:10] != _dump(demo)[:10]


def test_layout(demo: sqlite3.Connection) -> None:
    counts = dict(demo.execute("SELECT namespace || ':' || name, file_count FROM mc_datasets"))
    assert counts == {"hd-protodune:raw-2024": 1499, "hd-protodune-det-reco:full-reco-2024": 899,
                      "fardet-vd:fdvd-prod2-sim": 600, "mengel:gen_cfg": 2, "dune:all": 3000}
    owners = dict(demo.execute("SELECT name, coalesce(owner_role, 'u:' || owner_user) FROM mc_namespaces"))
    assert owners == {"hd-protodune": "prod", "hd-protodune-det-reco": "prod", "fardet-vd": "prod",
                      "mengel": "u:bob", "dune": "prod"}
    with pytest.raises(CatalogExists):
        load_demo_catalog(demo, n_files=100)


def test_dune_like_metadata_and_queries(demo: sqlite3.Connection) -> None:
    cat = Catalog(demo)
    assert sorted(f["name"] for f in cat.query("files from mengel:gen_cfg")) == ["a.fcl", "b.fcl"]
    raw = next(cat.query("files from hd-protodune:raw-2024 ordered limit 1", with_metadata=True))
    meta = raw["metadata"]
    assert raw["name"].startswith(f"np04hd_raw_run{meta['core.runs'][0]:06d}_0001_dataflow0_datawriter_0_")
    assert raw["name"].endswith(".hdf5") and len(raw["checksums"]["adler32"]) == 8
    assert meta["core.runs_subruns"] == [meta["core.runs"][0] * 100000 + 1]
    assert (meta["core.data_tier"], meta["core.file_type"], meta["retention.class"]) == ("raw", "detector", "rawdata")
    assert cat.summary("files from dune:all where core.file_type = mc") == {
        "count": 602, "total_size": cat.summary("files from fardet-vd:fdvd-prod2-sim")["total_size"]
        + cat.summary("files from mengel:gen_cfg")["total_size"]}
    runs = sorted({f["metadata"]["core.runs"][0]
                   for f in cat.query("files from hd-protodune:raw-2024", with_metadata=True)})
    low, high = runs[2], runs[5]
    mql = f"files from hd-protodune:raw-2024 where core.data_tier=raw and core.runs[any] in {low}:{high}"
    expected = demo.execute("SELECT count(*) FROM mc_files WHERE namespace = 'hd-protodune' AND "
                            "json_extract(metadata, '$.\"core.runs\"[0]') BETWEEN ? AND ?", (low, high)).fetchone()[0]
    assert len(list(cat.query(mql))) == expected > 0
    assert len(list(cat.query("files from dune:all with subsets recursively"))) == 3000


def test_hot_value_statistics_match_the_index(demo: sqlite3.Connection) -> None:
    counted = demo.execute("SELECT key_id, vtype, value, count(*) FROM mc_meta_values GROUP BY 1, 2, 3").fetchall()
    assert counted == demo.execute("SELECT key_id, vtype, value, count FROM mc_meta_stats ORDER BY 1, 2, 3").fetchall()
    assert len(counted) > 10


def test_reco_files_descend_from_raw_files(demo: sqlite3.Connection) -> None:
    cat = Catalog(demo)
    reco = list(cat.query("files from hd-protodune-det-reco:full-reco-2024 ordered limit 20", with_metadata=True,
                          with_provenance=True))
    for child in reco:
        assert len(child["parents"]) == 1
        parent = cat.get_file(child["parents"][0]["fid"])
        assert parent["namespace"] == "hd-protodune"
        assert parent["metadata"]["core.runs_subruns"] == child["metadata"]["core.runs_subruns"]
        assert child["name"].startswith(parent["name"][:-len(".hdf5")] + "_reco_stage1_")
    assert len(list(cat.query("parents(files from hd-protodune-det-reco:full-reco-2024)"))) == 899


def test_replicas_in_the_dd_tables(demo: sqlite3.Connection) -> None:
    rses = dict(demo.execute("SELECT name, is_tape FROM rses"))
    assert rses == {"FNAL_DCACHE": 0, "FNAL_TAPE": 1, "CERN_EOS": 0, "BNL_DCACHE": 0, "UK_RAL": 0}
    assert demo.execute("SELECT is_available FROM rses WHERE name = 'UK_RAL'").fetchone() == (0,)
    per_rse = dict(demo.execute("SELECT rse, count(*) FROM replicas GROUP BY rse"))
    assert set(per_rse) == set(rses) and per_rse["FNAL_TAPE"] == 1499
    assert demo.execute("SELECT DISTINCT available FROM replicas WHERE rse = 'FNAL_TAPE'").fetchall() == [(0,)]
    assert demo.execute("SELECT count(*) FROM mc_files f WHERE NOT EXISTS (SELECT 1 FROM replicas r "
                        "WHERE r.namespace = f.namespace AND r.name = f.name)").fetchone() == (0,)
    url, urls = demo.execute("SELECT url, urls FROM replicas WHERE rse = 'CERN_EOS' LIMIT 1").fetchone()
    assert url.startswith("root://eospublic.cern.ch:1094//eos/") and urls == f'["{url}"]'
