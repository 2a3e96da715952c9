"""Hostile input gets a 400 naming the problem and the limit: never a 500, never SQLite's own error text."""

from __future__ import annotations

import orjson
import pytest
import requests

from dd_notebook.server.catalog.mql.parser import MAX_QUERY_DEPTH, MAX_QUERY_TERMS
from dd_notebook.server import LocalServer
from dd_notebook.server.dd.search_grammar import MAX_QUERY_DEPTH as SEARCH_DEPTH
from dd_notebook.server.dd.search_grammar import MAX_QUERY_LENGTH as SEARCH_LENGTH
from dd_notebook.server.dd.validation import MAX_JSON_DEPTH

SQLITE_TEXTS = ("sqlite", "parser stack", "expression tree", "operationalerror", "traceback", "internal")


def _refused(response: requests.Response, *fragments: str) -> str:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    text = response.text
    assert not any(t in text.lower() for t in SQLITE_TEXTS), text
    for fragment in fragments:
        assert fragment in text, (fragment, text[:300])
    return text


def _nested(depth: int) -> object:
    value: object = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def _nested_text(depth: int) -> str:
    """JSON text of lists nested ``depth`` levels (deeper than JSON writers go)."""
    return "[" * depth + "1" + "]" * depth


# ---- ids: Unicode digits and integers SQLite cannot store ---------------------------------------

UNICODE_DIGITS = ["\u00b2", "\u0661\u0662", "\u0967", "\uff11"]  # superscript two, Arabic-Indic, Devanagari, fullwidth


@pytest.mark.parametrize("endpoint", ["project", "delete_project", "cancel_project", "activate_project",
                                      "restart_project", "handles", "project_files", "project_handles_log"])
@pytest.mark.parametrize("value", UNICODE_DIGITS)
def test_unicode_digit_project_ids(dd, endpoint, value):
    _refused(dd.get(endpoint, "admin", params={"project_id": value}), "project_id", "expected an integer")


@pytest.mark.parametrize("value", UNICODE_DIGITS)
def test_unicode_digits_in_worker_and_handle_ids(dd, value):
    _refused(dd.get("next_file", "alice", params={"project_id": value, "worker_id": "w"}), "project_id")
    for endpoint in ("release", "file_handle"):
        _refused(dd.get(endpoint, "alice", params={"handle_id": f"{value}:ns:name"}), "handle_id")
    _refused(dd.post("copy_project", {"project_id": value}, "alice"), "project_id")
    _refused(dd.post("restart_handles", {"project_id": value, "failed": True}, "alice"), "project_id")


@pytest.mark.parametrize("value", ["9" * 19, "9" * 30, str(2**63), str(-(2**63) - 1)])
def test_overlong_integer_ids_name_the_limit(dd, value):
    _refused(dd.get("project", "alice", params={"project_id": value}), "project_id", "at most 18 digits")
    _refused(dd.get("release", "alice", params={"handle_id": f"{value.lstrip('-')}:ns:name"}), "at most 18 digits")
    _refused(dd.post("copy_project", data=f'{{"project_id": {value}}}'.encode(), user="alice"), "project_id")


@pytest.mark.parametrize("number", [str(2**63), str(2**64 - 1), str(-(2**63) - 1), "1e300"])
def test_numbers_beyond_sqlite_integers(dd, number):
    body = f'{{"cpu": "c", "rse": "FNAL_DCACHE", "proximity": {number}}}'.encode()
    _refused(dd.post("set_proximity", data=body, user="admin"), "proximity")
    replica = dd.post("replica_available", data=f'{{"preference": {number}}}'.encode(), user="admin",
                      params={"rse": "FNAL_DCACHE", "namespace": "big", "name": "n"})
    _refused(replica, "preference")
    if not number.startswith("-"):  # JSON reads -2**63 - 1 as a float that rounds to -2**63, a valid preference
        name = f"BIG_{len(number)}"
        _refused(dd.post("create_rse", data=f'{{"name": "{name}", "preference": {number}}}'.encode(), user="admin"),
                 "out of range", str(2**63 - 1))
        assert dd.get("get_rse", params={"name": name}).status_code == 404


# ---- attributes nested too deeply ---------------------------------------------------------------

@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 256, 300, 1000])
def test_deeply_nested_attributes(dd, depth):
    deep = _nested_text(depth - 1)
    limit = f"limit {MAX_JSON_DEPTH} levels"
    body = f'{{"files": ["a:b"], "project_attributes": {{"x": {deep}}}}}'
    _refused(dd.post("create_project", data=body.encode(), user="alice"), "project_attributes", limit)
    body = f'{{"files": [{{"namespace": "a", "name": "b", "attributes": {{"x": {deep}}}}}]}}'
    _refused(dd.post("create_project", data=body.encode(), user="alice"), "a:b", limit)
    source = dd.create(["a:b"])["project_id"]
    body = f'{{"project_id": {source}, "file_attributes": {{"x": {deep}}}}}'
    _refused(dd.post("copy_project", data=body.encode(), user="alice"), "file_attributes", limit)


def test_attributes_at_the_depth_limit_are_kept(dd):
    deep = {"x": _nested(MAX_JSON_DEPTH - 1)}
    project = dd.create([{"namespace": "a", "name": "b", "attributes": deep}], project_attributes=deep)
    assert project["attributes"] == deep and project["file_handles"][0]["attributes"] == deep


def test_json_body_beyond_the_parser_depth(dd):
    body = b'{"files": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    _refused(dd.post("create_project", data=body, user="alice"), "nested too deeply", "limit 1024 levels")


# ---- the project search language ----------------------------------------------------------------

@pytest.mark.parametrize("query,fragments", [
    ("!" * 5000 + "owner = alice", ("nested too deeply", f"limit is {SEARCH_DEPTH}")),
    ("!" * (SEARCH_DEPTH + 1) + "owner = alice", ("nested too deeply",)),
    (" or ".join(["owner = alice"] * 10_000), ("too long", f"limit is {SEARCH_LENGTH}")),
    ("owner ~ 'a{4294967295}'", ("regular expression", "too large")),
    ("owner ~ '" + "(" * 3000 + ")" * 3000 + "'", ("regular expression", "nested too deeply")),
    ("'a{4294967295}' in query", ("regular expression",)),
], ids=["! x5000", "! beyond the limit", "or x10k", "regex repeat", "regex groups", "substring regex"])
def test_hostile_search_queries(dd, query, fragments):
    _refused(dd.post("search_projects", {"query": query}, "alice"), "Invalid search query", *fragments)


def test_search_within_the_limits_still_works(dd):
    pid = dd.create(["s:1"], project_attributes={"tag": "hostile"})["project_id"]
    query = "(" * 20 + "tag = hostile" + ")" * 20 + " and " + "!" * 10 + "tag = hostile or tag = hostile"
    found = dd.ok(dd.post("search_projects", {"query": query}, "alice"))
    assert pid in [p["project_id"] for p in found]


# ---- MQL -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    with LocalServer(db=tmp_path_factory.mktemp("mql") / "dd.sqlite", demo=True, demo_files=40) as srv:
        yield srv


def _mql(catalog: LocalServer, query: str, **params) -> requests.Response:
    return requests.post(f"{catalog.metacat_url}/data/query", data=query.encode(), params=params)


def _dataset(catalog: LocalServer) -> str:
    datasets = requests.get(f"{catalog.metacat_url}/data/datasets").json()
    return f"{datasets[0]['namespace']}:{datasets[0]['name']}"


@pytest.mark.parametrize("query,fragment", [
    ("union(" * 1000 + "files" + ")" * 1000, f"limit {MAX_QUERY_DEPTH} levels"),
    ("parents(" * 50 + "files" + ")" * 50, "too complex"),
    ("children(" * 20 + "files where core.runs[any] > 1" + ")" * 20, "too complex"),
    ("files where " + " or ".join(f"core.runs[any] = {i}" for i in range(10_000)), f"limit {MAX_QUERY_TERMS}"),
    ("files where " + " and ".join(f"a.b != {i}" for i in range(10_000)), f"limit {MAX_QUERY_TERMS}"),
    ("files where " + "(a.b = 1 or (a.c = 2 and " * 1000 + "a.d = 3" + "))" * 1000, f"limit {MAX_QUERY_DEPTH}"),
    ("files where " + "(a.b = 1 or " * 2000 + "a.c = 2" + ")" * 2000, f"limit {MAX_QUERY_TERMS}"),
    (" - ".join(["files"] * 1000), f"limit {MAX_QUERY_DEPTH}"),
    ("files" + " where a.b = 1" * 2000, f"limit {MAX_QUERY_DEPTH}"),
    ("files" + " limit 5" * 5000, f"limit {MAX_QUERY_DEPTH}"),
    ("union(" + ", ".join(f"files where a.b = {i}" for i in range(2000)) + ")", f"limit {MAX_QUERY_TERMS}"),
    ("files where a.b ~ 'a{4294967295}'", "regular expression"),
    ("files where name ~ 'a{4294967295}'", "regular expression"),
    ("files where a.b ~ '" + "(" * 3000 + ")" * 3000 + "'", "regular expression"),
    ("files from matching regexp dune:'a{4294967295}'", "regular expression"),
], ids=["union x1000", "parents x50", "children x20", "or x10k", "and x10k", "nested and/or x1000",
        "nested or x2000", "minus x1000",
        "where x2000", "limit x5000", "union of 2000", "regex repeat on metadata", "regex repeat on attribute",
        "regex groups", "dataset regexp"])
def test_hostile_mql(catalog, query, fragment):
    """Each case is one hostile shape; the message names the limit it crosses."""
    text = _refused(_mql(catalog, query), fragment)
    assert text.startswith("MQL"), text[:100]


def test_mql_that_sqlite_cannot_compile_is_a_400(catalog):
    dataset = _dataset(catalog)
    for depth in (8, 12, 30):
        _refused(_mql(catalog, "parents(" * depth + f"files from {dataset}" + ")" * depth), "too complex")
    _refused(_mql(catalog, "parents(" * 4 + "files where " + " or ".join(f"core.runs[any] = {i}" for i in range(100))
                  + ")" * 4), "too complex")


def test_mql_within_the_limits_runs(catalog):
    dataset = _dataset(catalog)
    queries = ["parents(" * 3 + f"files from {dataset}" + ")" * 3,
               "union(" * 30 + f"files from {dataset} limit 2, files limit 1" + ")" * 30,
               "files where " + " or ".join(f"core.runs[any] = {i}" for i in range(MAX_QUERY_TERMS - 1)),
               f"files from {dataset} where a.b ~ 'a{{2,5}}' or core.runs[any] > 0"]
    for query in queries:
        reply = _mql(catalog, query)
        assert reply.status_code == 200, (query[:80], reply.text[:200])


@pytest.mark.parametrize("namespace", [{"a": 1}, ["x"], 7, 2**64 - 1])
def test_non_text_namespace_in_catalog_writes(catalog, namespace):
    headers = {"X-Authentication-Token": catalog.issue_token("admin")}
    files = [{"namespace": namespace, "name": "hostile.root", "size": 1}]
    reply = requests.post(f"{catalog.metacat_url}/data/declare_files", data=orjson.dumps(files), headers=headers)
    _refused(reply, "namespace")
    dataset = requests.post(f"{catalog.metacat_url}/data/create_dataset", headers=headers,
                            data=orjson.dumps({"namespace": namespace, "name": "hostile"}))
    _refused(dataset, "namespace")


@pytest.mark.parametrize("metadata,fragment", [
    ('{"a.b": ' + _nested_text(300) + "}", "limit 64 levels"),
    ('{"core.runs": [' + str(2**63) + "]}", f"limit {2**63 - 1}"),
    ('{"a.b": ' + str(2**64 - 1) + "}", "out of range"),
], ids=["deep", "hot key int", "uint64"])
def test_catalog_metadata_beyond_the_limits(catalog, metadata, fragment):
    headers = {"X-Authentication-Token": catalog.issue_token("admin")}
    requests.get(f"{catalog.metacat_url}/data/create_namespace", params={"name": "hostile"}, headers=headers)
    files = '[{"namespace": "hostile", "name": "meta.root", "size": 1, "metadata": ' + metadata + "}]"
    reply = requests.post(f"{catalog.metacat_url}/data/declare_files", data=files.encode(), headers=headers)
    _refused(reply, "metadata", fragment)
    dataset = '{"namespace": "hostile", "name": "meta", "metadata": ' + metadata + "}"
    reply = requests.post(f"{catalog.metacat_url}/data/create_dataset", data=dataset.encode(), headers=headers)
    _refused(reply, "metadata", fragment)
