"""Regular expressions cannot hang the server: RE2 for every client pattern, a work budget for every query."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from dd_notebook.server import LocalServer
from dd_notebook.server.catalog import web
from dd_notebook.server.core.regex import UnsupportedRegex, compile_user_regex
from dd_notebook.server.dd import search_listing

#: Exponential for a backtracking engine: each repetition doubles the ways to fail.
REDOS = "^(.|.){0,26}Z"
LONG_TEXT = "a" * 5000


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    with LocalServer(db=tmp_path_factory.mktemp("regex") / "r.sqlite", demo=True, demo_files=30) as server:
        token = server.issue_token("alice")
        for i in range(3):
            body = {"files": [{"namespace": "n", "name": f"redos-{i}"}],
                    "project_attributes": {"note": LONG_TEXT, "tag": f"t{i}"}}
            answer = requests.post(f"{server.url}/create_project", json=body, timeout=30,
                                   headers={"X-Authentication-Token": token})
            assert answer.status_code == 200, answer.text
        yield server


def search(server: LocalServer, query: str) -> requests.Response:
    return requests.post(f"{server.url}/search_projects", json={"query": query}, timeout=60,
                         headers={"X-Authentication-Token": server.issue_token("alice")})


def mql(server: LocalServer, text: str, **params: str) -> requests.Response:
    return requests.post(f"{server.metacat_url}/data/query", params=params, data=text, timeout=60)


def test_redos_patterns_finish_and_the_server_answers_others_meanwhile(srv: LocalServer) -> None:
    answers: dict[str, requests.Response] = {}
    started = threading.Barrier(3)

    def hostile(kind: str) -> None:
        started.wait()
        answers[kind] = (search(srv, f"note ~ '{REDOS}'") if kind == "search"
                         else mql(srv, f"files from dune:all where core.data_tier ~ '{REDOS}'"))

    threads = [threading.Thread(target=hostile, args=(kind,)) for kind in ("search", "mql")]
    for thread in threads:
        thread.start()
    started.wait()
    version = requests.get(f"{srv.url}/version", timeout=60)
    for thread in threads:
        thread.join(60)
    assert version.status_code == 200
    assert answers["search"].status_code == 200 and answers["search"].json() == []
    assert answers["mql"].status_code == 200 and answers["mql"].text == ""


def test_re2_matches_like_re_for_ordinary_patterns(srv: LocalServer) -> None:
    found = search(srv, "tag ~* '^T[12]$'")
    assert found.status_code == 200
    assert sorted(p["attributes"]["tag"] for p in found.json()) == ["t1", "t2"]
    assert len(search(srv, "note ~ '^a{1000}'").json()) == 3
    files = mql(srv, "files from dune:all where name ~ '.*' limit 5")
    assert files.status_code == 200 and files.text.count("\x1e") == 5


@pytest.mark.parametrize("pattern, feature", [
    (r"(a)\1", "backreference"), ("a(?=b)", "lookahead"), ("(?<!x)a", "lookbehind"),
    ("a{5000}", "repetition count too large"), ("(" * 101 + ")" * 101, "nested too deeply"),
])
def test_what_re2_cannot_express_is_a_400_naming_it(srv: LocalServer, pattern: str, feature: str) -> None:
    dd = search(srv, f"note ~ '{pattern}'")
    assert dd.status_code == 400 and feature in dd.text, dd.text
    catalog = mql(srv, f"files from dune:all where core.data_tier ~ '{pattern}'")
    assert catalog.status_code == 400 and feature in catalog.text, catalog.text
    datasets = mql(srv, f"files from matching regexp dune:'{pattern}'")
    assert datasets.status_code == 400 and feature in datasets.text, datasets.text


def test_a_query_beyond_its_work_budget_is_a_503_with_a_message(srv: LocalServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "MAX_QUERY_STEPS", 0)
    answer = mql(srv, "files from dune:all")
    assert answer.status_code == 503 and "narrow it" in answer.text
    summary = mql(srv, "files from dune:all", summary="count")
    assert summary.status_code == 503
    monkeypatch.undo()
    assert mql(srv, "files from dune:all", summary="count").status_code == 200


def test_a_search_beyond_its_time_budget_is_a_503_with_a_message(srv: LocalServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_listing, "MAX_SEARCH_SECONDS", -1.0)
    answer = search(srv, "tag ~ 't'")
    assert answer.status_code == 503 and "narrow it" in answer.text


def test_compile_user_regex_unit() -> None:
    assert compile_user_regex("ab+c", ignore_case=True).search("xABBC") is not None
    assert compile_user_regex(REDOS).search(LONG_TEXT) is None
    with pytest.raises(UnsupportedRegex, match="named backreference"):
        compile_user_regex(r"(?P<x>a)(?P=x)")
    with pytest.raises(UnsupportedRegex, match="longer than"):
        compile_user_regex("a" * 10_001)

