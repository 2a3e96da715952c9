"""Clients against the catalog app over real HTTP: upstream MetaCatClient, the ``metacat`` CLI, our client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from metacat.webapi import MetaCatClient as UpstreamClient

import dd_notebook.errors
import dd_notebook.metacat as metacat_module
from dd_notebook.catalog import Catalog
from dd_notebook.metacat import (
    MetaCatBadRequest,
    MetaCatClient,
    MetaCatConnectionError,
    MetaCatError,
    MetaCatHTTPError,
    MetaCatNotFound,
    query_files,
)
from test_catalog_http import catalog_db, catalog_url  # noqa: F401  (module-scoped server fixtures)


@pytest.fixture(scope="module")
def upstream(catalog_url: str, tmp_path_factory: pytest.TempPathFactory) -> UpstreamClient:  # noqa: F811
    library = tmp_path_factory.mktemp("tokens") / "token_library"
    return UpstreamClient(server_url=catalog_url, token_library=str(library))


@pytest.fixture(scope="module")
def ours(catalog_url: str) -> MetaCatClient:  # noqa: F811
    with MetaCatClient(catalog_url, timeout=(5, 30)) as client:
        yield client


# ---------------------------------------------------------------- upstream MetaCatClient
def test_upstream_query(upstream: UpstreamClient) -> None:
    files = list(upstream.query("files from s:all where core.runs[any] in 3:4", with_metadata=True))
    assert sorted(f["name"] for f in files) == ["f03", "f04"]
    assert {f["fid"]: f["metadata"]["x.n"] for f in files} == {"s03": 3, "s04": 4.5}
    plain = list(upstream.query("files from s:mid"))
    assert sorted(f["name"] for f in plain) == ["f01", "f02"] and "metadata" not in plain[0]
    prov = list(upstream.query("files s:f03", with_provenance=True))
    assert prov[0]["parents"] == [{"fid": "s01"}] and prov[0]["children"] == [{"fid": "s06"}]
    assert list(upstream.query("files from s:all", summary="count")) == [{"count": 11, "total_size": 6100}]
    batched = list(upstream.query("files from s:all where x.n > 0", batch_size=3))
    assert sorted(f["name"] for f in batched) == ["f01", "f02", "f03", "f04", "f10", "f11", "f12"]


def test_upstream_errors(upstream: UpstreamClient) -> None:
    from metacat.webapi.webapi import BadRequestError, NotFoundError

    with pytest.raises(BadRequestError, match="line 1, column 11"):
        list(upstream.query("files frm s:mid"))
    with pytest.raises(NotFoundError):
        list(upstream.query("files from s:nope"))


def test_upstream_files(upstream: UpstreamClient) -> None:
    by_did = upstream.get_file(did="s:f05")
    assert by_did["fid"] == "s05" and by_did["metadata"]["x.n"] == "5" and by_did["parents"] == []
    assert upstream.get_file(fid="s06")["parents"] == [{"fid": "s03"}]
    assert upstream.get_file(namespace="o", name="o1", with_metadata=False)["size"] == 1
    assert upstream.get_file(fid="missing") is None
    many = upstream.get_files([{"did": "s:f01"}, {"fid": "o02"}, {"fid": "nope"}], with_metadata=False)
    assert sorted(f["name"] for f in many) == ["f01", "o2"]


def test_upstream_datasets_and_namespaces(upstream: UpstreamClient) -> None:
    mid = upstream.get_dataset("s:mid")
    assert (mid["file_count"], mid["metadata"]) == (2, {"ds.kind": "mid", "ds.rank": 3})
    assert upstream.get_dataset("s:nope") is None
    assert [d["name"] for d in upstream.list_datasets(namespace_pattern="s", name_pattern="*i*")] == ["mid"]
    assert sorted(f["name"] for f in upstream.get_dataset_files("s:low", with_metadata=True)) == ["f03"]
    assert upstream.get_dataset_counts("s:top")["subset_count"] == 2
    assert [n["name"] for n in upstream.list_namespaces()] == ["o", "s"]
    assert upstream.get_namespace("s")["owner_user"] == "alice"
    assert upstream.get_namespace("nope") is None
    assert upstream.get_version()


# ---------------------------------------------------------------- metacat CLI
def _cli(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "METACAT_SERVER_URL": url, "HOME": str(tmp)}
    env.pop("METACAT_AUTH_SERVER_URL", None)
    beside_python = Path(sys.executable).with_name("metacat")
    exe = str(beside_python) if beside_python.is_file() else shutil.which("metacat")
    assert exe, "the metacat CLI (metacat-client) is not installed"
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=60)


def test_cli_query(catalog_url: str, tmp_path: Path) -> None:  # noqa: F811
    out = _cli(catalog_url, tmp_path, "query", "files from s:all where x.n > 4 ordered")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["s:f04", "s:f10", "s:f11", "s:f12"]
    meta = _cli(catalog_url, tmp_path, "query", "-m", "x.s", "files s:f03")
    assert meta.stdout.splitlines() == ["s:f03", "    x.s\t=\t'Gamma'"]
    count = _cli(catalog_url, tmp_path, "query", "--summary", "count", "files from s:mid")
    assert count.stdout.splitlines()[0].split() == ["Files:", "2"]
    ids = _cli(catalog_url, tmp_path, "query", "-i", "files from s:mid ordered")
    assert ids.stdout.split() == ["s01", "s02"]


def test_cli_bad_query(catalog_url: str, tmp_path: Path) -> None:  # noqa: F811
    out = _cli(catalog_url, tmp_path, "query", "files frm x")
    assert out.returncode != 0
    assert "line 1, column 11" in out.stdout + out.stderr


def test_cli_datasets_files_namespaces(catalog_url: str, tmp_path: Path) -> None:  # noqa: F811
    listed = _cli(catalog_url, tmp_path, "dataset", "list")
    assert listed.stdout.split() == ["o:misc", "s:all", "s:empty", "s:even", "s:low", "s:mid", "s:odd", "s:top"]
    files = _cli(catalog_url, tmp_path, "dataset", "files", "s:mid")
    assert sorted(files.stdout.split()) == ["s:f01", "s:f02"]
    shown = _cli(catalog_url, tmp_path, "dataset", "show", "s:mid").stdout
    assert "Estimated file count:  2" in shown and '"ds.kind": "mid"' in shown
    file = _cli(catalog_url, tmp_path, "file", "show", "s:f04").stdout
    assert "fid                 :\ts04" in file and "size                :\t400" in file
    spaces = _cli(catalog_url, tmp_path, "namespace", "list").stdout.splitlines()
    assert [line.split()[:2] for line in spaces] == [["o", "r:prod"], ["s", "u:alice"]]


# ---------------------------------------------------------------- our client
def test_our_query_is_lazy_and_complete(ours: MetaCatClient) -> None:
    results = ours.query("files from s:all ordered", with_metadata=True)
    first = next(results)
    assert first["name"] == "f01" and first["metadata"]["x.s"] == "alpha"
    assert [f["name"] for f in results] == ["f02", "f03", "f04", "f05", "f06", "f07", "f08", "f10", "f11", "f12"]
    partial = ours.query("files from s:all")
    next(partial)
    partial.close()
    assert [f["name"] for f in ours.query("files f01", namespace="s")] == ["f01"]
    assert [f["name"] for f in ours.query("files from s:all where x.n = 9", include_retired_files=True)] == ["f09"]
    assert ours.summary("files from s:mid") == {"count": 2, "total_size": 300}
    assert list(ours.query("   ")) == []


def test_our_errors_are_typed(ours: MetaCatClient, catalog_url: str) -> None:  # noqa: F811
    with pytest.raises(MetaCatBadRequest) as bad:
        ours.query("files from s:mid where")
    assert bad.value.status == 400 and "line 1, column 23" in bad.value.message
    assert bad.value.url.startswith(catalog_url)
    with pytest.raises(MetaCatNotFound, match="dataset s:nope not found"):
        ours.query("files from s:nope")
    with pytest.raises(MetaCatNotFound):
        list(ours.dataset_files("s:nope"))
    assert isinstance(bad.value, MetaCatHTTPError) and isinstance(bad.value, MetaCatError)


def test_our_lookups(ours: MetaCatClient) -> None:
    assert ours.get_file("s04")["parents"] == [{"fid": "s01"}, {"fid": "s02"}]
    assert ours.get_file(did="s:f04", with_metadata=False, with_provenance=False)["size"] == 400
    assert ours.get_file(namespace="o", name="o2")["metadata"] == {"x.s": "omega"}
    assert ours.get_file("missing") is None
    assert sorted(f["name"] for f in ours.get_files([{"fid": "s01"}, {"did": "o:o1"}])) == ["f01", "o1"]
    assert [d["name"] for d in ours.list_datasets("s", "?i*")] == ["mid"]
    assert ours.get_dataset("s:low")["file_count"] == 1 and ours.get_dataset("s:none") is None
    assert sorted(f["name"] for f in ours.dataset_files("s:mid")) == ["f01", "f02"]
    assert [n["name"] for n in ours.list_namespaces("s*")] == ["s"]
    assert ours.get_namespace("o")["owner_role"] == "prod" and ours.get_namespace("zz") is None
    assert ours.version()


def test_our_client_connection_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    client = MetaCatClient("http://127.0.0.1:9/metacat/app")
    with pytest.raises(MetaCatConnectionError):
        client.query("files")
    with pytest.raises(MetaCatError, match="METACAT_SERVER_URL"):
        monkeypatch.delenv("METACAT_SERVER_URL", raising=False)
        MetaCatClient()


def test_our_client_retries_what_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import responses

    from dd_notebook.client import http as http_module

    sleeps: list[float] = []
    monkeypatch.setattr(http_module.time, "sleep", sleeps.append)
    url = "http://catalog.test/app"
    with responses.RequestsMock() as mock:
        mock.post(f"{url}/data/query", status=503, headers={"Retry-After": "2"}, body="busy")
        mock.post(f"{url}/data/query", status=200, content_type="application/json-seq",
                  body=b'\x1e{"namespace": "s", "name": "a"}\n\x1e{"namespace": "s", "name": "b"}\n')
        assert [f["name"] for f in MetaCatClient(url).query("files")] == ["a", "b"]
        assert sleeps == [2.0]
        mock.post(f"{url}/data/query", status=502, body="bad gateway")
        with pytest.raises(metacat_module.MetaCatServerError) as failed:
            MetaCatClient(url).query("files from s:a save_as s:b")  # writes: a 502 is not retried
        assert failed.value.status == 502 and failed.value.message == "bad gateway"
        assert len(mock.calls) == 3


def test_query_files_accepts_any_catalog(ours: MetaCatClient, upstream: UpstreamClient,
                                         catalog_db: Path) -> None:  # noqa: F811
    mql = "files from s:mid"
    expected = [("s", "f01"), ("s", "f02")]
    for client in (ours, upstream):
        files = list(query_files(client, mql))
        assert sorted((f["namespace"], f["name"]) for f in files) == expected
        assert all("metadata" in f for f in files)
    with Catalog.open(catalog_db) as local:
        assert sorted((f["namespace"], f["name"]) for f in query_files(local, mql, with_metadata=False)) == expected
    with pytest.raises(MetaCatBadRequest):
        query_files(ours, "files frm x")
    with pytest.raises(TypeError):
        query_files(object(), mql)


def test_public_names() -> None:
    exported = {name for name in vars(metacat_module) if not name.startswith("_")
                and getattr(getattr(metacat_module, name), "__module__", None) == metacat_module.__name__}
    aliases = {name for name in metacat_module.__all__
               if getattr(metacat_module, name) in vars(dd_notebook.errors).values()}
    assert set(metacat_module.__all__) == exported | aliases
    assert aliases == {name for name in metacat_module.__all__ if name.startswith("MetaCat")} - {"MetaCatClient"}
