"""The catalog's Python API: namespaces, datasets, declaring and looking up files, errors, schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import dd_notebook.catalog as catalog_package
from dd_notebook.catalog import (
    Catalog,
    CatalogExists,
    CatalogInvalidInput,
    CatalogNotFound,
    CatalogPermissionDenied,
    MQLSyntaxError,
)
from dd_notebook.server.catalog.namespaces import require_owner
from dd_notebook.server.catalog.replicas import RSE, add_replicas, add_rses, ensure_dd_tables
from dd_notebook.server.catalog.schema import connect, ensure_schema
from dd_notebook.server.auth.users import User


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    catalog = Catalog.open(tmp_path / "c.sqlite")
    catalog.create_namespace("ns", owner_user="alice", creator="alice")
    catalog.create_dataset("ns", "ds", creator="alice")
    yield catalog
    catalog.close()


def test_public_names():
    assert sorted(catalog_package.__all__) == sorted(
        name for name in vars(catalog_package) if not name.startswith("_") and name[0].isupper()
        or name in ("connect", "ensure_schema"))


def test_namespaces(cat: Catalog):
    role = cat.create_namespace("prod", owner_role="prod", description="production", creator="admin")
    assert (role["owner_user"], role["owner_role"], role["creator"]) == (None, "prod", "admin")
    assert [n["name"] for n in cat.list_namespaces()] == ["ns", "prod"]
    assert [n["name"] for n in cat.list_namespaces(owner_role="prod")] == ["prod"]
    assert [n["name"] for n in cat.list_namespaces(names=["ns", "zz"])] == ["ns"]
    with pytest.raises(CatalogExists):
        cat.create_namespace("ns")
    with pytest.raises(CatalogInvalidInput, match="invalid namespace"):
        cat.create_namespace("bad name")
    with pytest.raises(CatalogNotFound, match="namespace nope not found"):
        cat.get_namespace("nope")


def test_ownership(cat: Catalog):
    cat.create_namespace("prod", owner_role="prod")
    require_owner(cat.conn, "ns", User("alice"))
    require_owner(cat.conn, "prod", User("carol", roles=frozenset({"prod"})))
    require_owner(cat.conn, "ns", User("root", is_admin=True))
    with pytest.raises(CatalogPermissionDenied, match="does not own namespace ns"):
        require_owner(cat.conn, "ns", User("bob"))
    with pytest.raises(CatalogNotFound):
        require_owner(cat.conn, "none", User("alice"))


def test_datasets(cat: Catalog):
    made = cat.create_dataset("ns", "meta", metadata={"a.b": 1}, description="d", frozen=True,
                              file_meta_requirements={"core.runs": {"required": True}})
    assert (made["frozen"], made["monotonic"], made["metadata"], made["file_count"]) == (True, False, {"a.b": 1}, 0)
    assert made["file_meta_requirements"] == {"core.runs": {"required": True}}
    assert [d["name"] for d in cat.list_datasets("ns")] == ["ds", "meta"]
    with pytest.raises(CatalogExists):
        cat.create_dataset("ns", "ds")
    with pytest.raises(CatalogNotFound, match="namespace other not found"):
        cat.create_dataset("other", "ds")
    with pytest.raises(CatalogInvalidInput, match="frozen"):
        cat.create_dataset("ns", "x", frozen="yes")  # type: ignore[arg-type]
    with pytest.raises(CatalogInvalidInput, match="category.name"):
        cat.create_dataset("ns", "x", metadata={"nodot": 1})
    cat.add_child_dataset("ns:ds", "ns:meta")
    with pytest.raises(CatalogInvalidInput, match="cycle"):
        cat.add_child_dataset("ns:meta", "ns:ds")
    assert cat.dataset_counts("ns", "ds")["subset_count"] == 1


def test_declare_and_get(cat: Catalog):
    out = cat.declare_files([{"name": "a", "size": 1, "fid": "fa", "metadata": {"core.runs": [1]},
                              "checksums": {"md5": "0" * 32}},
                             {"did": "ns:b", "size": 2, "parents": ["fa"]}], namespace="ns", dataset="ns:ds",
                            creator="alice")
    assert [(f["name"], f["creator"], f["metadata"]) for f in out] == [("a", "alice", {"core.runs": [1]}),
                                                                        ("b", "alice", {})]
    assert len(out[1]["fid"]) == 16 and out[1]["fid"].isalnum()
    assert cat.get_file("fa")["children"] == [{"fid": out[1]["fid"]}]
    assert cat.get_file(did="ns:b", with_datasets=True)["datasets"] == [{"namespace": "ns", "name": "ds"}]
    assert cat.get_dataset("ns", "ds")["file_count"] == 2
    assert sorted(f["name"] for f in cat.dataset_files("ns", "ds", with_metadata=True)) == ["a", "b"]
    assert sorted(f["name"] for f in cat.get_files([{"fid": "fa"}, {"did": "ns:b"}, {"fid": "gone"}])) == ["a", "b"]
    with pytest.raises(CatalogExists, match="already exist:\n  ns:a"):
        cat.declare_files([{"name": "a", "size": 1}], namespace="ns")
    with pytest.raises(CatalogExists, match="file ids already exist: fa"):
        cat.declare_files([{"name": "c", "size": 1, "fid": "fa"}], namespace="ns")
    with pytest.raises(CatalogNotFound, match="File not found"):
        cat.get_file("nope")
    with pytest.raises(CatalogNotFound, match="dataset ns:missing not found"):
        cat.declare_files([{"name": "c", "size": 1}], namespace="ns", dataset="ns:missing")
    assert cat.summary("files from ns:ds") == {"count": 2, "total_size": 3}


def test_declare_is_all_or_nothing(cat: Catalog):
    with pytest.raises(CatalogNotFound, match="parent of file #1"):
        cat.declare_files([{"name": "ok", "size": 1}, {"name": "bad", "size": 1, "parents": [{"fid": "x"}]}],
                          namespace="ns", dataset="ns:ds")
    assert list(cat.query("files from ns:ds")) == []
    assert cat.get_dataset("ns", "ds")["file_count"] == 0


def test_parents_may_come_from_the_same_batch(cat: Catalog):
    cat.declare_files([{"name": "raw", "size": 1, "fid": "r"},
                       {"name": "reco", "size": 1, "parents": [{"namespace": "ns", "name": "raw"}]}], namespace="ns")
    assert [f["name"] for f in cat.query("children(fids r)")] == ["reco"]


def test_declare_with_replicas(cat: Catalog):
    cat.declare_files([{"name": "r", "size": 1, "replicas": [
        {"rse": "FNAL_DCACHE", "urls": ["root://a/r", "https://a/r"], "preference": 2},
        {"rse": "FNAL_TAPE", "url": "https://t/r", "path": "/t/r", "available": False}]}], namespace="ns")
    rows = cat.conn.execute("SELECT rse, path, url, urls, preference, available FROM replicas ORDER BY rse").fetchall()
    assert rows == [("FNAL_DCACHE", None, "root://a/r", '["root://a/r","https://a/r"]', 2, 1),
                    ("FNAL_TAPE", "/t/r", "https://t/r", '["https://t/r"]', 0, 0)]
    with pytest.raises(CatalogInvalidInput, match="replica of file #0"):
        cat.declare_files([{"name": "s", "size": 1, "replicas": [{"urls": []}]}], namespace="ns")
    with pytest.raises(CatalogInvalidInput, match="available must be true/false"):
        cat.declare_files([{"name": "s", "size": 1, "replicas": [{"rse": "X", "available": "no"}]}], namespace="ns")


def test_retire_and_add_files(cat: Catalog):
    cat.declare_files([{"name": "a", "size": 1, "fid": "fa"}, {"name": "b", "size": 1, "fid": "fb"}], namespace="ns")
    assert cat.add_files("ns:ds", [{"fid": "fa"}, {"did": "ns:b"}]) == 2
    assert cat.add_files("ns:ds", [{"fid": "fa"}]) == 0
    with pytest.raises(CatalogNotFound):
        cat.add_files("ns:ds", [{"fid": "missing"}])
    retired = cat.retire_file("fa", by="alice")
    assert (retired["retired"], retired["retired_by"]) == (True, "alice")
    assert [f["name"] for f in cat.query("files from ns:ds")] == ["b"]
    assert cat.retire_file(did="ns:a", retired=False)["retired"] is False


def test_query_errors_come_before_iteration(cat: Catalog):
    with pytest.raises(MQLSyntaxError):
        cat.query("files frm ns:ds")
    with pytest.raises(CatalogNotFound):
        cat.query("files from ns:none")


def test_hot_keys_are_backfilled_and_used(tmp_path: Path):
    with Catalog.open(tmp_path / "h.sqlite", hot_keys=()) as cat:
        cat.create_namespace("ns")
        cat.declare_files([{"name": f"f{i}", "size": 1, "metadata": {"x.k": [i, str(i)], "x.o": {"a": 1}}}
                           for i in range(5)], namespace="ns")
    conn = connect(tmp_path / "h.sqlite", create_schema=False)
    ensure_schema(conn, ("x.k", "x.o"))
    rows = conn.execute("SELECT vtype, count(*) FROM mc_meta_values GROUP BY vtype").fetchall()
    assert rows == [(0, 5), (1, 5)]
    assert conn.execute("SELECT count(*), sum(count) FROM mc_meta_stats").fetchone() == (10, 10)
    with Catalog(conn, hot_keys=("x.k",)) as cat:
        assert sorted(f["name"] for f in cat.query("files where x.k in 1:3")) == ["f1", "f2", "f3"]
        assert [f["name"] for f in cat.query("files where x.k = '4'")] == ["f4"]


def test_dd_tables_match_the_server_and_keep_existing_rows(tmp_path: Path):
    from dd_notebook.server.core.db import connect as server_connect

    db = tmp_path / "shared.sqlite"
    server_connect(db).close()
    conn = connect(db)
    ensure_dd_tables(conn)
    conn.execute("INSERT INTO rses(name, description, is_available) VALUES ('X', 'server row', 0)")
    add_rses(conn, [RSE("X", "catalog row"), RSE("Y", "tape", is_tape=True)])
    add_replicas(conn, [("ns", "a", "Y", "/p/a", ["root://h/p/a", "https://h/p/a"], 3, False)])
    conn.commit()
    assert conn.execute("SELECT description, is_available FROM rses WHERE name = 'X'").fetchone() == ("server row", 0)
    assert conn.execute("SELECT is_tape FROM rses WHERE name = 'Y'").fetchone() == (1,)
    assert conn.execute("SELECT url, urls, preference, available FROM replicas").fetchone() == (
        "root://h/p/a", '["root://h/p/a","https://h/p/a"]', 3, 0)
    conn.close()


def test_connections_wait_for_a_busy_writer(tmp_path: Path):
    db = tmp_path / "busy.sqlite"
    first = Catalog.open(db)
    first.create_namespace("ns")
    blocker = sqlite3.connect(db)
    blocker.execute("BEGIN IMMEDIATE")
    second = connect(db, busy_timeout_ms=100)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        Catalog(second).create_namespace("other")
    blocker.rollback()
    assert Catalog(second).create_namespace("other")["name"] == "other"
