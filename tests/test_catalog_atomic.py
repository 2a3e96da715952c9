"""Catalog writes are all-or-nothing, and no helper commits the transaction its caller opened."""

from __future__ import annotations

import sqlite3

import pytest
import requests

from dd_notebook.server import LocalServer
from dd_notebook.server.catalog import Catalog, CatalogNotFound, datasets
from dd_notebook.server.catalog.schema import connect
from dd_notebook.server.core.transactions import transaction


@pytest.fixture(scope="module")
def catalog_server(tmp_path_factory):
    with LocalServer(db=tmp_path_factory.mktemp("atomic") / "dd.sqlite", demo=True, demo_files=200) as srv:
        yield srv


def _dataset_exists(srv: LocalServer, did: str) -> bool:
    return requests.get(f"{srv.metacat_url}/data/dataset", params={"dataset": did}).status_code == 200


def test_save_as_with_a_missing_add_to_leaves_no_empty_dataset(catalog_server):
    srv = catalog_server
    token = srv.issue_token("admin")
    created = requests.get(f"{srv.metacat_url}/data/create_namespace", params={"name": "atomic"},
                           headers={"X-Authentication-Token": token})
    assert created.status_code == 200, created.text
    answer = requests.post(f"{srv.metacat_url}/data/query",
                           params={"save_as": "atomic:saved", "add_to": "atomic:missing"},
                           data="files from dune:all limit 5", headers={"X-Authentication-Token": token})
    assert answer.status_code == 404 and "atomic:missing" in answer.text
    assert not _dataset_exists(srv, "atomic:saved")
    retry = requests.post(f"{srv.metacat_url}/data/query", params={"save_as": "atomic:saved"},
                          data="files from dune:all limit 5", headers={"X-Authentication-Token": token})
    assert retry.status_code == 200, retry.text
    count = requests.get(f"{srv.metacat_url}/data/dataset_count", params={"dataset": "atomic:saved"}).json()
    assert count == {"file_count": 5}


def test_a_failure_after_create_dataset_undoes_it(tmp_path):
    with Catalog.open(tmp_path / "c.sqlite") as cat:
        cat.create_namespace("ns", owner_user="me")
        with pytest.raises(CatalogNotFound), transaction(cat.conn):
            datasets.create_dataset(cat.conn, "ns", "half")
            datasets.dataset_id(cat.conn, "ns", "no-such-dataset")
        assert cat.list_datasets("ns") == []


def test_a_helper_never_commits_its_callers_transaction(tmp_path):
    conn = connect(tmp_path / "c.sqlite")
    conn.execute("INSERT INTO mc_namespaces(name, owner_user, created_timestamp) VALUES ('mine', 'me', 0)")
    assert conn.in_transaction
    datasets.create_dataset(conn, "mine", "inner")
    assert conn.in_transaction, "the helper committed the caller's open transaction"
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM mc_namespaces").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM mc_datasets").fetchone()[0] == 0
    conn.close()


def test_a_failing_nested_block_keeps_the_callers_earlier_work(tmp_path):
    conn = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE t(x)")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError), transaction(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError("inner")
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    conn.close()
