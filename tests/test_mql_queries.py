"""MQL semantics over the fixed sample catalog (dd_notebook.server.catalog.sample), with exact expected results.

Every query runs twice: with the planner free to drive from indexes (dataset
membership, the hot-key inverted index) and with every condition probed row by
row, so both SQL forms are checked against the same answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dd_notebook.catalog import Catalog
from dd_notebook.server.catalog.mql import compiler
from dd_notebook.server.catalog.sample import load_sample_catalog

ALL_S = ["f01", "f02", "f03", "f04", "f05", "f06", "f07", "f08", "f10", "f11", "f12"]  # f09 is retired

# (query, expected names; a list is compared in order, a set as a set)
CASES: list[tuple[str, list[str] | set[str]]] = [
    # sources
    ("files from s:all", set(ALL_S)),
    ("files from s:even, s:odd", set(ALL_S)),
    ("files from s:mid", {"f01", "f02"}),
    ("files from s:empty", set()),
    ("files s:f01, f02, o:o1", {"f01", "f02", "o1"}),
    ("files s:f09", {"f09"}),
    ("fids s03, o02, nonexistent", {"f03", "o2"}),
    ("files", set(ALL_S) | {"o1", "o2"}),
    ("file s:f05", {"f05"}),
    ("files from s:all, o:misc where core.runs = 1", {"f01", "o1"}),
    ("files where x.n = 100", {"o1"}),
    # comparisons and types
    ("files from s:all where x.n = 1", {"f01"}),
    ("files from s:all where x.n == 3", {"f03"}),
    ("files from s:all where x.n > 4", {"f04", "f10", "f11", "f12"}),
    ("files from s:all where x.n >= 4.5", {"f04", "f10", "f11", "f12"}),
    ("files from s:all where x.n < 2", {"f01", "f06"}),
    ("files from s:all where x.n <= 2", {"f01", "f02", "f06"}),
    ("files from s:all where x.n != 3", {"f01", "f02", "f04", "f06", "f10", "f11", "f12"}),
    ('files from s:all where x.n = "5"', {"f05"}),
    ("files from s:all where x.n = 5", set()),
    ("files from s:all where x.n = 12", {"f12"}),
    ("files from s:all where x.s = alpha", {"f01"}),
    ('files from s:all where x.s > "delta"', {"f04", "f05", "f06"}),
    ('files from s:all where x.s = ""', {"f12"}),
    ("files from s:all where x.b = true", {"f01", "f04"}),
    ("files from s:all where x.b = FALSE", {"f02", "f11"}),
    ("files from s:all where x.b != true", {"f02", "f11"}),
    ("files from s:all where x.f = 1.5", {"f01"}),
    # arrays, subscripts, len
    ("files from s:all where core.runs = 4", {"f03", "f04"}),
    ("files from s:all where core.runs[any] >= 7", {"f06", "f07", "f10", "f11"}),
    ("files from s:all where core.runs[all] < 8", {"f01", "f02", "f03", "f04", "f05", "f07", "f08", "f12"}),
    ("files from s:all where core.runs != 4", {"f01", "f02", "f03", "f05", "f06", "f07", "f10", "f11"}),
    ("files from s:all where core.runs[0] = 3", {"f03"}),
    ("files from s:all where core.runs[1] = 4", {"f03"}),
    ("files from s:all where core.runs[2] > 7", {"f06"}),
    ('files from s:all where x.obj["a"] = 2', {"f03"}),
    ('files from s:all where x.obj["b"] ~ "^z"', {"f01"}),
    ("files from s:all where x.obj = 1", set()),
    ("files from s:all where len(core.runs) = 2", {"f03", "f11"}),
    ("files from s:all where len(core.runs) = 0", {"f12"}),
    ("files from s:all where len(x.list) > 1", {"f01", "f03", "f06"}),
    ("files from s:all where len(core.runs) = 1", {"f01", "f02", "f04", "f05", "f07", "f10"}),
    ("files from s:all where x.list = ten", {"f06"}),
    ("files from s:all where x.list = 11", set()),
    ("files from s:all where core.data_tier = reco", {"f03", "f04", "f06"}),
    # sets and ranges
    ("files from s:all where core.data_tier in (raw, mc)", {"f01", "f02", "f05", "f06", "f10", "f11", "f12"}),
    ("files from s:all where core.data_tier not in (raw, mc)", {"f03", "f04", "f07", "f08"}),
    ('files from s:all where x.n in (1, "5", 4.5)', {"f01", "f04", "f05"}),
    ("files from s:all where core.runs in 4:6", {"f03", "f04", "f05", "f06"}),
    ("files from s:all where core.runs not in 1:10", {"f08", "f11", "f12"}),
    ("files from s:all where x.s in a:c", {"f01", "f02", "f10"}),
    ("files from s:all where core.runs[all] in 1:7", {"f01", "f02", "f03", "f04", "f05", "f07", "f08", "f12"}),
    ("files where core.runs in 10:12", {"f10", "f11"}),
    ("files where core.data_tier = mc", {"f10", "f11"}),
    ("files from s:all where core.runs[any] in 2:3 and core.data_tier = raw", {"f02"}),
    # membership
    ("files from s:all where 4 in core.runs", {"f03", "f04"}),
    ("files from s:all where 5 in core.runs", {"f05"}),
    ("files from s:all where 4 not in core.runs", set(ALL_S) - {"f03", "f04"}),
    ("files from s:all where a in x.list", {"f03"}),
    ("files from s:all where pha in x.s", {"f01", "f10"}),
    ('files from s:all where "delta" in x.s', {"f04"}),
    # presence
    ("files from s:all where x.b present", {"f01", "f02", "f04", "f11"}),
    ("files from s:all where x.b not present", {"f03", "f05", "f06", "f07", "f08", "f10", "f12"}),
    ("files from s:all where x.nul present", {"f10"}),
    # regular expressions
    ('files from s:all where x.s ~ "^alpha"', {"f01", "f10"}),
    ('files from s:all where x.s ~* "^alpha"', {"f01", "f10", "f11"}),
    ('files from s:all where x.s !~ "a"', {"f05", "f11", "f12"}),
    ('files from s:all where x.s !~* "a"', {"f05", "f12"}),
    ('files from s:all where name ~ "f0[1-3]"', {"f01", "f02", "f03"}),
    # negation and precedence
    ("files from s:all where !(x.b = true)", set(ALL_S) - {"f01", "f04"}),
    ("files from s:all where !(x.n > 4)", {"f01", "f02", "f03", "f05", "f06", "f07", "f08"}),
    ("files from s:all where x.n = 1 or x.n = 2 and x.s = gamma", {"f01"}),
    ("files from s:all where (x.n = 1 or x.n = 2) and x.s = beta", {"f02"}),
    ("files from s:all where !x.b present and core.runs = 7", {"f06", "f07"}),
    ("files from s:all where !!(x.b = true)", {"f01", "f04"}),
    ("files from s:all where x.n > 1 where x.n < 4", {"f02", "f03"}),
    # attributes and time
    ("files from s:all where size > 1000", {"f11", "f12"}),
    ("files from s:all where size in 100:300", {"f01", "f02", "f03"}),
    ("files from s:all where creator = bob", {"f03", "f06", "f12"}),
    ("files where namespace = o", {"o1", "o2"}),
    ("files from s:all where fid = s05", {"f05"}),
    ("files from s:all where created_timestamp >= date(2023-11-24)", {"f11", "f12"}),
    ('files from s:all where created_timestamp < "2023-11-16"', {"f01", "f02"}),
    ("files from s:all where x.t = date(2023-11-15)", {"f02"}),
    ('files from s:all where x.t < datetime("2023-11-15T00:00:00")', {"f01"}),
    ("files from s:all where x.t in date(2023-11-14):date(2023-11-15)", {"f01", "f02"}),
    ('files from s:all where x.t = date(2023-11-15, "+23:00")', {"f01"}),
    # limits and order
    ("files from s:all ordered limit 3", ["f01", "f02", "f03"]),
    ("files from s:all ordered skip 9", ["f11", "f12"]),
    ("files from s:all skip 2 limit 2", ["f03", "f04"]),
    ("files from s:all limit 0", []),
    ("files from s:all where x.n > 0 ordered limit 2 skip 1", ["f02"]),
    ("(files from s:all ordered limit 5) where x.b present", ["f01", "f02", "f04"]),
    ("files from s:all ordered limit 5 where x.b present", ["f01", "f02", "f04"]),
    ("(files from s:all) ordered skip 10 limit 5", ["f12"]),
    ("files from s:all where x.n > 1 and x.n < 4 ordered", ["f02", "f03"]),
    ("files s:f03, f01, f02", ["f01", "f02", "f03"]),
    ("files from s:mid # a comment with 'quotes\n where x.n = 2", {"f02"}),
    # set operations and provenance
    ("union(files from s:mid, files from s:low)", {"f01", "f02", "f03"}),
    ("[files from s:mid, fids s12]", {"f01", "f02", "f12"}),
    ("join(files from s:odd, files from s:mid)", {"f01"}),
    ("{files from s:all where x.n > 2, files from s:even}", {"f04", "f10", "f12"}),
    ("files from s:all - files from s:even", {"f01", "f03", "f05", "f07", "f11"}),
    ("files from s:all - files from s:even where x.n > 2", {"f03", "f11"}),
    ("files from s:odd - files from s:mid - fids s03", {"f05", "f07", "f11"}),
    ("[files from s:mid, files from s:low] ordered limit 2", ["f01", "f02"]),
    ("union(files from s:all ordered limit 1, files from s:even ordered limit 1)", {"f01", "f02"}),
    ("files from s:all - (files from s:all ordered limit 10)", {"f12"}),
    ("parents(files s:f04)", {"f01", "f02"}),
    ("children(files s:f01)", {"f03", "f04"}),
    ("children(children(files s:f01))", {"f06"}),
    ("parents(files from s:all where x.n = -6)", {"f03"}),
    ("parents(files from s:all ordered skip 3 limit 1)", {"f01", "f02"}),
    # dataset selectors
    ("files from s:top with subsets", {"f12", "f01", "f02"}),
    ("files from s:top with subsets recursively", {"f12", "f01", "f02", "f03"}),
    ("files from matching s:*", set(ALL_S)),
    ("files from matching s:?id", {"f01", "f02"}),
    ("files from datasets matching s:e%", {"f02", "f04", "f06", "f08", "f10", "f12"}),
    ("files from matching s:m_d", {"f01", "f02"}),
    ('files from matching regexp s:"^(mid|low)$"', {"f01", "f02", "f03"}),
    ("files from matching s:* having ds.rank = 4", {"f02", "f04", "f06", "f08", "f10", "f12"}),
    ("files from s:top with subsets recursively having ds.kind != mid", {"f12", "f03"}),
    ("files from matching s:nothing*", set()),
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    with Catalog.open(Path(tmp_path_factory.mktemp("mql")) / "sample.sqlite") as cat:
        load_sample_catalog(cat)
        yield cat


@pytest.fixture(params=["drivers", "probes"])
def planner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``drivers``: any index-backed condition may drive the query; ``probes``: none may."""
    monkeypatch.setattr(compiler, "_DRIVER_SHARE", 10.0 if request.param == "drivers" else -1.0)
    return request.param


def test_there_are_enough_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("mql, expected", CASES, ids=[q for q, _ in CASES])
def test_query(catalog: Catalog, planner: str, mql: str, expected: list[str] | set[str]) -> None:
    names = [f["name"] for f in catalog.query(mql)]
    if isinstance(expected, list):
        assert names == expected
    else:
        assert len(names) == len(set(names)), f"duplicates in {names}"
        assert set(names) == expected


def test_retired_files_on_request(catalog: Catalog) -> None:
    assert [f["name"] for f in catalog.query("files from s:all where x.n = 9")] == []
    assert [f["name"] for f in catalog.query("files from s:all where x.n = 9", include_retired=True)] == ["f09"]
    assert [f["name"] for f in catalog.query("files where retired = true", include_retired=True)] == ["f09"]
    assert [f["name"] for f in catalog.query("children(files s:f01)", include_retired=True)] != ["f09"]


def test_default_namespace_and_limit(catalog: Catalog) -> None:
    assert sorted(f["name"] for f in catalog.query("files f01, f02", namespace="s")) == ["f01", "f02"]
    assert len(list(catalog.query("files from s:all", limit=4))) == 4


def test_summaries(catalog: Catalog) -> None:
    assert catalog.summary("files from s:mid") == {"count": 2, "total_size": 300}
    assert catalog.summary("files from s:empty") == {"count": 0, "total_size": 0}
    assert catalog.summary("files from o:misc", "keys") == ["core.data_tier", "core.runs", "x.b", "x.f", "x.list",
                                                             "x.n", "x.obj", "x.s", "x.t"]
