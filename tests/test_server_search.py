"""``search_projects`` over HTTP: the search language applied to stored projects, then owner/state filters."""

from __future__ import annotations

import datetime

import pytest


@pytest.fixture(scope="module")
def searchable(dd):
    made = {
        "reco": dd.create(["s:1"], project_attributes={"step": "reco", "app_version": "1.3", "runs": [1, 2, 3]},
                          query="files from dune:run5141_raw", worker_timeout=3600),
        "debug": dd.create(["s:2"], project_attributes={"step": "ana", "debug": True, "app_version": "1.6"}),
        "bob": dd.create(["s:3"], user="bob", project_attributes={"step": "reco", "events": [32768, 5]}),
    }
    dd.ok(dd.get("cancel_project", "alice", params={"project_id": made["debug"]["project_id"]}))
    return {k: v["project_id"] for k, v in made.items()}


def _search(dd, query, **body):
    return sorted(p["project_id"] for p in dd.ok(dd.post("search_projects", {"query": query, **body})))


def test_queries(dd, searchable):
    ids = searchable
    assert set(_search(dd, "step = reco")) >= {ids["reco"], ids["bob"]}
    assert ids["debug"] not in _search(dd, "step = reco")
    assert _search(dd, "step = reco and owner = bob") == [ids["bob"]]
    assert ids["reco"] in _search(dd, '"run5141" in query')
    assert ids["reco"] in _search(dd, 'query ~ "dune:run[0-9]+"')
    assert ids["reco"] in _search(dd, "runs[any] = 2 and len(runs) > 2")
    assert ids["bob"] in _search(dd, "events[any] = 32768")
    assert ids["debug"] in _search(dd, "debug and state = cancelled")
    assert ids["reco"] in _search(dd, f"id in {ids['reco']}:{ids['reco']}")
    assert ids["reco"] in _search(dd, "worker_timeout = 3600")
    not_reco = _search(dd, "!(step = reco)")
    assert ids["debug"] in not_reco and ids["reco"] not in not_reco
    now = datetime.datetime.now().isoformat()
    assert set(ids.values()) <= set(_search(dd, f'created_timestamp <= "{now}"'))
    assert _search(dd, f'created_timestamp > "{now}"') == []


def test_owner_and_state_filters(dd, searchable):
    ids = searchable
    assert _search(dd, "step = reco", owner="bob") == [ids["bob"]]
    assert ids["debug"] not in _search(dd, "step present", state="active")
    assert ids["debug"] in _search(dd, "step present", state="cancelled")
    with_handles = dd.ok(dd.post("search_projects", {"query": f"id = {ids['reco']}", "with_handles": True}))
    assert [h["name"] for h in with_handles[0]["file_handles"]] == ["1"]
    without = dd.ok(dd.post("search_projects", {"query": f"id = {ids['reco']}"}))
    assert "file_handles" not in without[0]


@pytest.mark.parametrize("query", ["", "owner = alice AND state = active", "x = (", 'owner ~ "["'])
def test_bad_queries_are_400(dd, query):
    response = dd.post("search_projects", {"query": query})
    assert response.status_code == 400 and response.text.startswith("Invalid search query")
