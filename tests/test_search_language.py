"""Tests of the project search language.

Protocol specification §8 and quirks Q-NULL, Q-RANGE, Q-REGEXI, Q-ENDQ, Q-SUBSCR, Q-TZ.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest

from dd_notebook.server.dd.search import SearchError, SearchSyntaxError, compile_search


def local(*args: int) -> float:
    """Epoch seconds of a local (zone-less) date/time of this process."""
    return datetime(*args).timestamp()


def project(pid, owner, state, query, created, ended, worker_timeout, idle_timeout, attributes):
    return {"id": pid, "owner": owner, "state": state, "query": query, "created_timestamp": created,
            "ended_timestamp": ended, "worker_timeout": worker_timeout, "idle_timeout": idle_timeout,
            "attributes": attributes}


PROJECTS = [
    project(1, "alice", "active", "files from dune:runA1 where x", local(2022, 4, 10, 12), None, 3600.0, 86400.0,
            {"app_version": "1.3", "debug": True, "mode": "debug", "runs": [1, 2, 3], "events": [32768, 100],
             "core.runs": 5, "tags": ["x", "y"], "name": "alpha-beta"}),
    project(2, "bob", "cancelled", "files from dc4:dc4 limit 10", local(2022, 4, 1), local(2022, 4, 2), 7200.0, None,
            {"app_version": "1.6", "debug": False, "mode": "Debug", "events": [32174, 32128], "x": 3}),
    project(3, "carl", "failed", "files from dc4:dc4 where y", local(2022, 5, 1), local(2022, 5, 1, 10), None, 3600.0,
            {"app_version": 1.5, "x": "3", "events": [], "runs": "notalist", "name": "DC4 test"}),
    project(4, "johndoe", "abandoned", None, local(2022, 4, 15, 8, 30), None, None, 259200.0, {}),
    project(7, "007", "failed", "files from dc4:dc4x", local(2021, 12, 31, 23), None, 86400.0, None,
            {"code": "007", "n": 7, "big": 1000, "small": 0.001, "half": 0.5, "date": "2022-04-01", "did": "a:b",
             "pattern": "abc.*x", "versions": ["1.0", "2.0"], "x": -5}),
    project(10, "Alice", "done", "files from dune:runC3 ordered", local(2022, 4, 10, 12, 0, 0, 1),
            local(2022, 4, 11), None, 60.0,
            {"events": [32768, 32174], "owner_x": 1, "flags": [True, False], "dummy": "abc", "runs": [4, 5, 6, 7]}),
    project(100, "alice", "done", "files from dune:runB22 x", local(2023, 1, 1), local(2023, 1, 2, 12), 600.0, None,
            {"x": [1, 5, "a"], "events": [32174], "nested": {"k": 1, "arr": [10, 20]}, "owner": "meta-owner",
             "app_version": "1.4.2"}),
    project(150, "carl", "active", "select files", local(2024, 6, 1, 23, 59, 59, 500000), None, 43200.0, 259200.0,
            {"x": None, "flag": True, "ratio": 0.25, "name": "Gamma", "debug": True, "app_version": 1.45,
             "mode": "debug"}),
    project(200, "bob", "cancelled", "files from dune:all", local(2025, 1, 1), local(2025, 1, 1, 0, 0, 1), None, None,
            {"x": 5, "runs": [], "s": "null", "tags": "x-ray", "debug": "true"}),
    project(201, "alice", "abandoned", "", local(2022, 4, 30, 23, 59, 59), None, 1800.0, 7200.0,
            {"x": 1.0, "list": [[1, 2], 3], "nested": [{"k": 2}, {"k": 3}, 7], "mode": "DEBUG"}),
]
ALL = [p["id"] for p in PROJECTS]


def ids(query: str) -> list[int]:
    """Ids of the crafted projects the query selects, in list order."""
    predicate = compile_search(query)
    return [p["id"] for p in PROJECTS if predicate(p)]


def all_but(*excluded: int) -> list[int]:
    return [i for i in ALL if i not in excluded]


def check(cases: list[tuple[str, list[int]]]) -> list:
    return [pytest.param(query, expected, id=query) for query, expected in cases]


# ---- §8.5 worked examples (with the Q-RANGE fix) ---------------------------------------------------

WORKED_EXAMPLES = [
    ("owner=johndoe", [4]),
    ('owner=alice and created_timestamp <= "2022-04-30T23:59:59"', [1, 201]),
    ('owner=alice and created_timestamp <= "2022-04-30T23:59:58.999999"', [1]),
    ('state = failed and "dc4:dc4" in query', [3, 7]),
    ('query ~ "files .*from.* dune:run[A-Z][0-9]+ .*"', [1, 10, 100]),
    ('state = "abandoned" and created_timestamp < "2022-05-01 00:00:00" '
     'and created_timestamp > "2022-04-01 00:00:00"', [4, 201]),
    ('owner in ("alice", "bob", "carl") and ! (app_version >= "1.5" and debug = true or app_version >= "1.4") '
     'and state in ("active", "cancelled")', [1, 200]),
    ("events[any] = 32768", [1, 10]),
    ("events[all] in (32174, 32128)", [2, 3, 4, 7, 100, 150, 200, 201]),
    ("debug", [1, 2, 150, 200]),
    ("mode = debug and len(runs) > 2", [1]),
    ("id in 100:200", [100, 150, 200]),
    ("x in 1:5", [2, 100, 200, 201]),
    ("owner present", [100]),
]


@pytest.mark.parametrize(("query", "expected"), check(WORKED_EXAMPLES))
def test_worked_examples(query, expected):
    assert ids(query) == expected


# ---- project attributes (columns) ------------------------------------------------------------------

COLUMN_CASES = [
    # text columns
    ("owner = alice", [1, 100, 201]),
    ("owner == alice", [1, 100, 201]),
    ('owner = "alice"', [1, 100, 201]),
    ("owner != alice", [2, 3, 4, 7, 10, 150, 200]),
    ('owner < "b"', [1, 7, 10, 100, 201]),
    ("owner <= bob", [1, 2, 7, 10, 100, 200, 201]),
    ("owner > dave", [4]),
    ("owner >= carl", [3, 4, 150]),
    ("owner = 007", [7]),
    ('owner = "007"', [7]),
    ('state ~ "^a"', [1, 4, 150, 201]),
    ('owner ~ "^ALICE$"', []),
    ('owner ~* "^ALICE$"', [1, 10, 100, 201]),
    ('owner !~ "^a"', [2, 3, 4, 7, 10, 150, 200]),
    ('owner !~* "^a"', [2, 3, 4, 7, 150, 200]),
    ("owner ~ li", [1, 10, 100, 201]),
    ('owner in ("alice", "bob", "carl")', [1, 2, 3, 100, 150, 200, 201]),
    ("state not in (active, done)", [2, 3, 4, 7, 200, 201]),
    ("owner in a:c", [1, 2, 100, 200, 201]),
    ("owner in a:carl", [1, 2, 3, 100, 150, 200, 201]),
    ("owner not in a:c", [3, 4, 7, 10, 150]),
    ('"ali" in owner', [1, 100, 201]),
    ('"run[AB]" in query', [1, 100]),
    ("dc4 in query", [2, 3, 7]),
    ('"^files" in query', [1, 2, 3, 7, 10, 100, 200]),
    # id
    ("id = 100", [100]),
    ('id == "100"', [100]),
    ("id = 007", [7]),
    ("id = 1e2", [100]),
    ("id = 7.", [7]),
    ("id != 1", all_but(1)),
    ("id < 7", [1, 2, 3, 4]),
    ("id <= 7", [1, 2, 3, 4, 7]),
    ("id > 150", [200, 201]),
    ("id >= 150", [150, 200, 201]),
    ("id < 7.5", [1, 2, 3, 4, 7]),
    ("id in (1, 7, 999)", [1, 7]),
    ("id not in (1, 7)", all_but(1, 7)),
    ("id not in 100:200", [1, 2, 3, 4, 7, 10, 201]),
    ("id in 3 : 7", [3, 4, 7]),
    ('id in "3":"7"', [3, 4, 7]),
    ("id in -5:+3", [1, 2, 3]),
]


@pytest.mark.parametrize(("query", "expected"), check(COLUMN_CASES))
def test_project_attribute_terms(query, expected):
    assert ids(query) == expected


NULL_COLUMN_CASES = [
    # query is NULL for project 4, ended_timestamp for 1, 4, 7, 150, 201: never selected, not even negated
    ('query ~ "dc4"', [2, 3, 7]),
    ('!(query ~ "dc4")', [1, 10, 100, 150, 200, 201]),
    ('query !~ "dc4"', [1, 10, 100, 150, 200, 201]),
    ('"dc4" not in query', [1, 10, 100, 150, 200, 201]),
    ('query = ""', [201]),
    ('query != ""', [1, 2, 3, 7, 10, 100, 150, 200]),
    ('!(query = "")', [1, 2, 3, 7, 10, 100, 150, 200]),
    ('!!(query = "")', [201]),
    ('query in ("", "select files")', [150, 201]),
    ('query not in ("", "select files")', [1, 2, 3, 7, 10, 100, 200]),
    ('query = "" or !(query = "")', all_but(4)),
    ('ended_timestamp > "2022-04-02"', [3, 10, 100, 200]),
    ('ended_timestamp >= "2022-04-02"', [2, 3, 10, 100, 200]),
    ('!(ended_timestamp > "2022-04-02")', [2]),
    ('ended_timestamp != "2022-04-02"', [3, 10, 100, 200]),
    ('ended_timestamp = "2022-05-01 10:00:00"', [3]),
    ('ended_timestamp in "2022-01-01":"2022-12-31"', [2, 3, 10]),
    ('ended_timestamp not in "2022-01-01":"2022-12-31"', [100, 200]),
    ("worker_timeout not in (3600, 7200)", [7, 100, 150, 201]),
    ("!(worker_timeout > 3600)", [1, 100, 201]),
    ("idle_timeout != 60", [1, 3, 4, 150, 201]),
]


@pytest.mark.parametrize(("query", "expected"), check(NULL_COLUMN_CASES))
def test_null_columns_never_match(query, expected):
    assert ids(query) == expected


TIMESTAMP_CASES = [
    ('created_timestamp = "2022-04-01"', [2]),
    ("created_timestamp = 2022-04-01", [2]),
    ('created_timestamp = "2022-04-01 00:00:00"', [2]),
    ('created_timestamp = "2022-04-01T00:00"', [2]),
    ('created_timestamp = "2022-04-10"', []),
    ('created_timestamp < "2022-04-10 12:00:00"', [2, 7]),
    ('created_timestamp <= "2022-04-10T12:00:00"', [1, 2, 7]),
    ('created_timestamp <= "2022-04-10T12:00:00.000001"', [1, 2, 7, 10]),
    ('created_timestamp = "2022-04-10 12:00:00.000001"', [10]),
    ('created_timestamp > "2024-06-01T23:59:59.4"', [150, 200]),
    ('created_timestamp = "2024-06-01 23:59:59.5"', [150]),
    ('created_timestamp != "2024-06-01 23:59:59.5"', all_but(150)),
    ('created_timestamp >= "2025-01-01"', [200]),
    ('created_timestamp in "2022-04-01":"2022-05-01"', [1, 2, 3, 4, 10, 201]),
    ("created_timestamp in 2022-04-01:2022-05-01", [1, 2, 3, 4, 10, 201]),
    ("created_timestamp not in 2022-04-01:2022-05-01", [7, 100, 150, 200]),
    ('created_timestamp in ("2022-04-01", "2025-01-01")', [2, 200]),
]


@pytest.mark.parametrize(("query", "expected"), check(TIMESTAMP_CASES))
def test_timestamp_columns(query, expected):
    assert ids(query) == expected


INTERVAL_CASES = [
    ("worker_timeout = 3600", [1]),
    ("worker_timeout = 3600.0", [1]),
    ('worker_timeout = "3600"', [1]),
    ('worker_timeout = "1 hour"', [1]),
    ('worker_timeout = "60 minutes"', [1]),
    ('worker_timeout = "01:00:00"', [1]),
    ("worker_timeout = 01:00:00", [1]),
    ('worker_timeout = "1:00"', [1]),
    ('worker_timeout = "0.5 hours 30 min"', [1]),
    ("worker_timeout = 1h", [1]),
    ('worker_timeout > "1 hour"', [2, 7, 150]),
    ('worker_timeout >= "2 hours"', [2, 7, 150]),
    ('worker_timeout < "10 minutes"', []),
    ('worker_timeout <= "10 minutes"', [100]),
    ('worker_timeout = "1 day"', [7]),
    ('worker_timeout = "1 DAY"', [7]),
    ('worker_timeout < "1 day 02:00:00"', [1, 2, 7, 100, 150, 201]),
    ('worker_timeout = "12:00:00"', [150]),
    ("worker_timeout = 1.8e3", [201]),
    ('worker_timeout in "30 minutes":"2 hours"', [1, 2, 201]),
    ('idle_timeout = "3 days"', [4, 150]),
    ('idle_timeout < "1 minute"', []),
    ("idle_timeout = 1m", [10]),
    ('idle_timeout in (60, "2 hours")', [10, 201]),
    ('idle_timeout > "1 week"', []),
]


@pytest.mark.parametrize(("query", "expected"), check(INTERVAL_CASES))
def test_interval_columns(query, expected):
    assert ids(query) == expected


# ---- metadata (attributes) -------------------------------------------------------------------------

METADATA_CASES = [
    # comparisons: arrays match when any element does, missing keys are false, type mismatch is unknown
    ("x = 5", [100, 200]),
    ("x == 5", [100, 200]),
    ('x = "3"', [3]),
    ("x = 3", [2]),
    ("x = 1", [100, 201]),
    ("x != 5", [2, 7, 100, 150, 201]),
    ("x < 2", [7, 100, 201]),
    ("x <= 3", [2, 7, 100, 201]),
    ("x > 3", [100, 200]),
    ("x >= 3", [2, 100, 200]),
    ('x >= "a"', [100]),
    ('x < "a"', [3]),
    ("name = alpha-beta", [1]),
    ('app_version >= "1.5"', [2]),
    ("app_version >= 1.5", [3]),
    ("owner_x = 1", [10]),
    ("debug = true", [1, 150]),
    ("debug = TRUE", [1, 150]),
    ("debug = False", [2]),
    ('debug = "true"', [200]),
    ("debug != true", [2]),
    ("debug > false", [1, 150]),
    ("flag = tRuE", [150]),
    # regular expressions (unanchored, Python re)
    ('mode ~ "^debug$"', [1, 150]),
    ('mode ~* "^debug$"', [1, 2, 150, 201]),
    ("mode ~* DEBUG", [1, 2, 150, 201]),
    ('mode !~ "^debug$"', [2, 201]),
    ("mode !~* debug", []),
    ("!(mode ~* debug)", [3, 4, 7, 10, 100, 200]),
    ('name ~ "^[A-Z]"', [3, 150]),
    ('x ~ "3"', [3]),
    ('x !~ "a"', [3]),
    ('code ~ "^0"', [7]),
    ('versions ~ "^2"', [7]),
    ('versions !~ "^2"', [7]),
    ('versions !~ "\\."', []),
    ('tags ~* "X"', [1, 200]),
    # sets
    ("x in (3, 5)", [2, 100, 200]),
    ('x in ("3", 1)', [3, 100, 201]),
    ("x not in (3, 5)", [1, 4, 7, 10, 150, 201]),
    ("mode in (debug, DEBUG)", [1, 150, 201]),
    ("mode not in (debug, DEBUG)", all_but(1, 150, 201)),
    # real ranges on plain metadata (Q-RANGE fixed): one value must lie within both bounds
    ("x in 2:4", [2]),
    ("x in -10:0", [7]),
    ("x in 1.5:100", [2, 100, 200]),
    ("x not in 1:5", [1, 4, 7, 10, 150]),
    ('date in "2022-01-01":"2022-12-31"', [7]),
    ("name in a:h", [1]),
    # containment: arrays contain the constant, strings match the regex .*c.*
    ('"a" in x', [100]),
    ("5 in x", [100]),
    ("1 in x", [100]),
    ('"x" in tags', [1, 200]),
    ('"ray" in tags', [200]),
    ('"r.y" in tags', [200]),
    ('"x" not in tags', all_but(1, 200)),
    ('"1.0" in versions', [7]),
    ('"1" in versions', []),
    ("true in flags", [10]),
    ("TRUE in flags", [10]),
    ("1 in flags", []),
    ("b in dummy", [10]),
    ("abc in pattern", [7]),
    ('"c.*x" in pattern', [7]),
    ("a:b in did", [7]),
    ('"DC4" in name', [3]),
    ('"dc4" in name', []),
    ('"3" in x', [3]),
    # presence
    ("debug present", [1, 2, 150, 200]),
    ("debug not present", [3, 4, 7, 10, 100, 201]),
    ("!debug", [3, 4, 7, 10, 100, 201]),
    ("! debug present", [3, 4, 7, 10, 100, 201]),
    ("!!debug", [1, 2, 150, 200]),
    ("core.runs present", [1]),
    ("core.runs", [1]),
    ("core.runs not present", all_but(1)),
    ("core present", []),
    ("x present", [2, 3, 7, 100, 150, 200, 201]),
    ("owner_x", [10]),
    ("query present", []),
    # [any], [all]
    ("events = 32768", [1, 10]),
    ("events[any] in (100, 32128)", [1, 2]),
    ("events[any] != 32768", [1, 2, 10, 100]),
    ("events[all] > 30000", all_but(1)),
    ("events[all] != 32768", [2, 3, 4, 7, 100, 150, 200, 201]),
    ("events[any] not in (32768, 100)", [2, 3, 4, 7, 100, 150, 200, 201]),
    ("! events[any] = 32768", [2, 3, 4, 7, 100, 150, 200, 201]),
    ("events[any] in 32000:32200", [2, 10, 100]),
    ("events[all] in 32000:32200", [2, 3, 4, 7, 100, 150, 200, 201]),
    ("events[all] not in 32000:32200", [1, 10]),
    ("versions[all] ~ \"^1\"", all_but(7)),
    ('tags[all] ~ "^x"', all_but(1)),
    ('tags[any] ~ "^y"', [1]),
    ("list[any] = 1", [201]),
    ("list = 3", [201]),
    ("list = 1", []),
    ("tags[any] = x-ray", [200]),
    # [index], ["key"] (Q-SUBSCR fixed)
    ("x[0] = 1", [100, 201]),
    ("x[1] = 5", [100]),
    ('x[-1] = "a"', [100]),
    ("x[2] = 1", []),
    ("x[5] = 1", []),
    ("x[0] = 5", [200]),
    ("events[0] = 32768", [1, 10]),
    ("events[-1] = 32174", [10, 100]),
    ("events[1] in 32100:32200", [2, 10]),
    ("list[0] = 2", [201]),
    ('nested["k"] = 1', [100]),
    ("nested['k'] = 3", [201]),
    ('nested["k"] > 1', [201]),
    ('nested["arr"] = 20', [100]),
    ('nested["missing"] = 1', []),
    ('!(nested["k"] = 1)', all_but(100)),
    ('x["k"] = 1', []),
    # len()
    ("len(runs) > 2", [1, 10]),
    ("len(runs) = 0", [200]),
    ('len(runs) >= "3"', [1, 10]),
    ("len(events) = 0", [3]),
    ("len(events) in (1, 2)", [1, 2, 10, 100]),
    ("len(events) not in (1, 2)", [3]),
    ("len(runs) in 3:4", [1, 10]),
    ("len(runs) not in 3:4", [200]),
    ("!(len(runs) > 2)", [200]),
]


@pytest.mark.parametrize(("query", "expected"), check(METADATA_CASES))
def test_metadata_terms(query, expected):
    assert ids(query) == expected


THREE_VALUED_CASES = [
    # missing key is false, so its negation is true; a type mismatch stays unknown under negation
    ("!(x = 5)", [1, 2, 4, 7, 10, 150, 201]),
    ('!(x < "a")', [1, 4, 10, 150]),
    ('!(x ~ "3")', [1, 4, 10]),
    ("!(x in 1:5)", [1, 4, 7, 10, 150]),
    ("x = 5 or !(x = 5)", all_but(3)),
    # JSON null: only != is true against it; null in a query is the string "null" (Q-NULL)
    ("s = null", [200]),
    ("s = NULL", []),
    ('s = "null"', [200]),
    ("x = null", []),
    ("x != null", [3, 100, 150]),
    ("null in s", [200]),
]


@pytest.mark.parametrize(("query", "expected"), check(THREE_VALUED_CASES))
def test_three_valued_logic(query, expected):
    assert ids(query) == expected


# ---- boolean structure -----------------------------------------------------------------------------

STRUCTURE_CASES = [
    ("owner = bob or owner = carl and state = failed", [2, 3, 200]),
    ("(owner = bob or owner = carl) and state = failed", [3]),
    ("owner = alice and state = done or id = 4", [4, 100]),
    ("owner = alice and (state = done or id = 4)", [100]),
    ("id = 1 or id = 2 or id = 3 and owner = bob", [1, 2]),
    ("!(owner = alice or owner = bob)", [3, 4, 7, 10, 150]),
    ("!(owner = alice) and !(owner = bob)", [3, 4, 7, 10, 150]),
    ("!(owner = alice and state = done)", all_but(100)),
    ("!(owner = alice) or !(state = done)", all_but(100)),
    ("!!(owner = alice)", [1, 100, 201]),
    ("! ! ! (owner = alice)", all_but(1, 100, 201)),
    ("((((id = 7))))", [7]),
    ("!(id = 7) and (debug or x present)", [1, 2, 3, 100, 150, 200, 201]),
    ("owner=alice and!debug", [100, 201]),
    ("owner=alice\n\tand\n\tx>0", [100, 201]),
]


@pytest.mark.parametrize(("query", "expected"), check(STRUCTURE_CASES))
def test_and_or_not_parentheses(query, expected):
    assert ids(query) == expected


DE_MORGAN = ('!(app_version >= "1.5" and debug = true or app_version >= "1.4")',
             '!(app_version >= "1.5") and !(app_version >= "1.4") or !(debug = true) and !(app_version >= "1.4")',
             '(!(app_version >= "1.5") or !(debug = true)) and !(app_version >= "1.4")')


@pytest.mark.parametrize("query", DE_MORGAN)
def test_de_morgan_forms_agree(query):
    # 3 and 150 have a numeric app_version: the comparisons with strings are unknown in every form
    assert ids(query) == [1, 4, 7, 10, 200, 201]


# ---- lexical rules ---------------------------------------------------------------------------------

LEXICAL_CASES = [
    ("code = 007", []),
    ('code = "007"', [7]),
    ("code = '007'", [7]),
    ("n = 007", [7]),
    ("n = +7", [7]),
    ("n = 7.", [7]),
    ("n = 7.0", [7]),
    ("n = 0.7e1", [7]),
    ("half = .5", [7]),
    ("ratio = .25", [150]),
    ("big = 1e3", [7]),
    ("big = 1E+3", [7]),
    ("small = 1e-3", [7]),
    ("x = -5", [7]),
    ("x = +5", [100, 200]),
    ("x=-5", [7]),
    ("date = 2022-04-01", [7]),
    ("did = a:b", [7]),
    ("pattern = abc.*x", [7]),
    ("code = 007x", []),
    ("mode = debug", [1, 150]),
    ("android = 1", []),
    ("owner_x present", [10]),
    ("Or", []),
    ('x = "a b"', []),
    ("n = 7 and\nmode present", []),
]


@pytest.mark.parametrize(("query", "expected"), check(LEXICAL_CASES))
def test_lexical_rules(query, expected):
    assert ids(query) == expected


def test_names_that_are_longer_than_attribute_names_are_metadata():
    assert ids("owner_x = 1") == [10]
    assert ids("owner = 1") == []  # the column, compared as text "1"


def test_predicate_returns_plain_bools():
    predicate = compile_search("x < 2")
    assert [predicate(p) for p in PROJECTS[:3]] == [False, False, False]
    assert predicate(PROJECTS[4]) is True


def test_record_without_attributes():
    record = dict(PROJECTS[0], attributes=None)
    assert compile_search("!debug")(record) is True
    assert compile_search("owner = alice")(record) is True


def test_compiled_predicate_is_reusable():
    predicate = compile_search("owner = alice")
    assert [p["id"] for p in PROJECTS if predicate(p)] == [1, 100, 201]
    assert [p["id"] for p in PROJECTS if predicate(p)] == [1, 100, 201]


# ---- time zones (Q-TZ) -----------------------------------------------------------------------------

@pytest.fixture
def set_tz(monkeypatch):
    def apply(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()
    yield apply
    monkeypatch.undo()
    time.tzset()


APRIL_1_UTC = datetime(2022, 4, 1, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(("zone", "offset_hours"), [("UTC0", 0), ("JST-9", 9), ("EST+5", -5), ("IST-5:30", 5.5)])
def test_zone_less_times_are_local(set_tz, zone, offset_hours):
    set_tz(zone)
    local_midnight = APRIL_1_UTC - offset_hours * 3600
    records = [project(1, "a", "done", None, local_midnight, local_midnight + 90, None, None, {}),
               project(2, "a", "done", None, APRIL_1_UTC, None, None, None, {})]

    def select(query):
        predicate = compile_search(query)
        return [r["id"] for r in records if predicate(r)]

    assert select('created_timestamp = "2022-04-01"') == ([1] if offset_hours else [1, 2])
    assert select('created_timestamp = "2022-04-01 00:00:00"') == select("created_timestamp = 2022-04-01")
    assert select('created_timestamp = "2022-04-01T00:00:00Z"') == ([2] if offset_hours else [1, 2])
    assert select('created_timestamp = "2022-04-01 00:00:00+00:00"') == ([2] if offset_hours else [1, 2])
    assert select('ended_timestamp = "2022-04-01T00:01:30"') == [1]
    assert select('ended_timestamp > "2022-04-01T00:01:29.999999"') == [1]


def test_explicit_offsets(set_tz):
    set_tz("JST-9")
    record = project(1, "a", "done", None, APRIL_1_UTC, None, None, None, {})
    for text in ("2022-04-01T00:00:00Z", "2022-04-01T00:00:00z", "2022-04-01 00:00Z", "2022-04-01T09:00:00+09:00",
                 "2022-04-01 09:00:00+0900", "2022-04-01 09:00:00+09", "2022-03-31T19:00:00-05:00",
                 "2022-04-01 05:30:00.000000+05:30", "2022-04-01 09:00:00"):
        assert compile_search(f'created_timestamp = "{text}"')(record) is True, text
    assert compile_search('created_timestamp = "2022-04-01"')(record) is False


def test_zone_is_read_at_compile_time(set_tz):
    record = project(1, "a", "done", None, APRIL_1_UTC, None, None, None, {})
    set_tz("UTC0")
    utc_predicate = compile_search('created_timestamp = "2022-04-01"')
    set_tz("JST-9")
    jst_predicate = compile_search('created_timestamp = "2022-04-01"')
    assert utc_predicate(record) is True
    assert jst_predicate(record) is False


# ---- errors ----------------------------------------------------------------------------------------

POSITION = re.compile(r"line \d+, column \d+")

SYNTAX_ERRORS = [
    ("", "line 1, column 1"),
    ("   \n ", "line 1, column 1"),
    ("x = 1 AND y = 2", "line 1, column 7"),
    ("x = 1 OR y = 2", "line 1, column 7"),
    ("x NOT present", "line 1, column 3"),
    ("x IN (1)", "line 1, column 3"),
    ("x Present", "line 1, column 3"),
    ("LEN(x) > 1", "line 1, column 4"),
    ("owner = alice and", "line 1, column 18"),
    ("x = ", "line 1, column 5"),
    ("(x = 1", "line 1, column 7"),
    ("x = 1)", "line 1, column 6"),
    ("x y", "line 1, column 3"),
    ("x !== 1", "line 1, column 5"),
    ("x == == 1", "line 1, column 6"),
    ("x = +abc", "line 1, column 5"),
    ("x = \"a'b\"", "line 1, column 5"),
    ("x = 'abc", "line 1, column 5"),
    ("x = 1 && y = 2", "line 1, column 7"),
    ("x in ()", "line 1, column 7"),
    ("x in", "line 1, column 5"),
    ("x in 1:", "line 1, column 6"),
    ("x in :5", "line 1, column 6"),
    ("x in a:b:c", "line 1, column 6"),
    ("x in 1 2", "line 1, column 8"),
    ("x in y AND z", "line 1, column 8"),
    ("x[any] in y", "line 1, column 11"),
    ('"a" in "b"', "line 1, column 8"),
    ("x[any] present", "line 1, column 1"),
    ("len(x)", "line 1, column 5"),
    ("5", "line 1, column 1"),
    ('"abc"', "line 1, column 1"),
    ("5 = x", "line 1, column 1"),
    ('"x" < 3', "line 1, column 1"),
    ("core.runs = 1", "line 1, column 1"),
    ("core.runs[any] = 1", "line 1, column 1"),
    ("len(core.runs) = 1", "line 1, column 5"),
    ('"a" in core.runs', "line 1, column 8"),
    ("x[abc] = 1", "line 1, column 3"),
    ("x[1.5] = 1", "line 1, column 3"),
    ("x[any] = y[any]", "line 1, column 11"),
    ("1x = 2", "line 1, column 1"),
    ("_x = 2", "line 1, column 1"),
    ("!", "line 1, column 2"),
    ("x = 1 and and y", "line 1, column 11"),
    ("mode = all", "line 1, column 8"),
    ("x = 1 or\n  y = 2 AND", "line 2, column 9"),
]


@pytest.mark.parametrize(("query", "where"), SYNTAX_ERRORS, ids=[q for q, _ in SYNTAX_ERRORS])
def test_syntax_errors_name_the_position(query, where):
    with pytest.raises(SearchSyntaxError) as info:
        compile_search(query)
    assert where in str(info.value)
    assert isinstance(info.value, SearchError) and isinstance(info.value, ValueError)


def test_syntax_error_says_what_was_found_and_expected():
    with pytest.raises(SearchSyntaxError, match=r"unexpected 'AND'; expected .*'and'.*'or'"):
        compile_search("x = 1 AND y = 2")
    with pytest.raises(SearchSyntaxError, match="unexpected end of query; expected '\\)'"):
        compile_search("(x = 1")
    with pytest.raises(SearchSyntaxError, match="dotted names are only allowed in presence tests"):
        compile_search("core.runs = 1")
    with pytest.raises(SearchSyntaxError, match="may not contain quote characters"):
        compile_search("x = \"it's\"")


SEMANTIC_ERRORS = [
    ('x like "a%"', "like"),
    ('owner like "a%"', "like"),
    ("created_timestamp > 5", "number"),
    ("ended_timestamp < 1700000000", "number"),
    ("created_timestamp in 1:5", "number"),
    ("created_timestamp = true", "boolean"),
    ('created_timestamp > "yesterday"', "date/time"),
    ('created_timestamp > "2022-13-01"', "date/time"),
    ("created_timestamp ~ 2022", "~"),
    ('worker_timeout = "1 fortnight"', "interval"),
    ("worker_timeout = true", "boolean"),
    ('idle_timeout !~ "1"', "!~"),
    ("id = abc", "non-numeric"),
    ("id in (1, two)", "non-numeric"),
    ("id ~ 1", "~"),
    ("len(runs) = abc", "non-numeric"),
    ("len(runs) ~* 3", "~*"),
    ("5 in id", "substring"),
    ("5 in owner", "substring"),
    ('"a" in created_timestamp', "substring"),
    ("true in query", "substring"),
    ('x ~ "("', "regular expression"),
    ('owner ~* "[a-"', "regular expression"),
    ('"(" in name', "regular expression"),
    ('"a)" not in query', "regular expression"),
]


@pytest.mark.parametrize(("query", "word"), SEMANTIC_ERRORS, ids=[q for q, _ in SEMANTIC_ERRORS])
def test_unsupported_forms_raise_search_error(query, word):
    with pytest.raises(SearchError) as info:
        compile_search(query)
    message = str(info.value)
    assert word in message
    assert POSITION.search(message)


def test_non_string_query_is_a_search_error():
    with pytest.raises(SearchError):
        compile_search(None)  # type: ignore[arg-type]
