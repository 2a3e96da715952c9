"""MQL grammar: accepted forms, operator binding, constants, and error messages that point at the problem."""

from __future__ import annotations

import pytest

from dd_notebook.server.catalog.errors import MQLCompilationError, MQLSyntaxError
from dd_notebook.server.catalog.mql import nodes as n
from dd_notebook.server.catalog.mql.parser import parse

DS = n.DatasetFiles((n.DatasetSelector("a", "b"),))


def where(text: str) -> n.MetaExpr:
    tree = parse("files where " + text)
    assert isinstance(tree, n.Where)
    return tree.expr


def test_postfix_clauses_apply_to_everything_on_their_left():
    assert parse("files from a:b - files x:y limit 5") == n.Limit(n.Minus(DS, n.FileList((("x", "y"),))), 5)
    tree = parse("files from a:b where x.y = 1 limit 5 where x.z = 2")
    assert tree == n.Where(n.Limit(n.Where(DS, n.Compare(n.MetaRef("x.y"), "=", 1)), 5),
                           n.Compare(n.MetaRef("x.z"), "=", 2))
    assert parse("(files from a:b) ordered skip 10 limit 5") == n.Limit(n.Skip(n.Ordered(DS), 10), 5)


def test_lists_of_queries_and_of_names_share_the_comma():
    assert parse("[files from a:b, c:d, files e:f, g]") == n.Union_((
        n.DatasetFiles((n.DatasetSelector("a", "b"), n.DatasetSelector("c", "d"))),
        n.FileList((("e", "f"), ("e", "g")))))
    assert parse("{fids 1, 2, fids 3}") == n.Join((n.FidList(("1", "2")), n.FidList(("3",))))
    assert parse("union(files from a:b, (files from a:b))") == n.Union_((DS, DS))


def test_names_that_look_like_keywords_or_numbers():
    assert parse("files from dune:all") == n.DatasetFiles((n.DatasetSelector("dune", "all"),))
    assert parse("fids 12345678, 1e5") == n.FidList(("12345678", "1e5"))
    assert parse("files mengel:a.fcl, b.fcl") == n.FileList((("mengel", "a.fcl"), ("mengel", "b.fcl")))


def test_default_namespace_then_carry_over():
    assert parse("files a, b, x:c, d", "ns") == n.FileList((("ns", "a"), ("ns", "b"), ("x", "c"), ("ns", "d")))
    assert parse("files x:a, b") == n.FileList((("x", "a"), ("x", "b")))


@pytest.mark.parametrize("text, value", [
    ("x.y = 5", 5), ("x.y = -5", -5), ("x.y = 1.5", 1.5), ("x.y = 1e3", 1000.0), ("x.y = 1.2.3", "1.2.3"),
    ("x.y = 12abc", "12abc"), ("x.y = hd-protodune", "hd-protodune"), ("x.y = v09_09_01", "v09_09_01"),
    ('x.y = "a\\d"', "a\\d"), ("x.y = True", True),
    ("x.y = false", False), ("x.y = null", "null"), ('x.y = datetime("1970-01-02")', 86400.0),
    ('x.y = datetime("1970-01-01T01:00:00+01:00")', 0.0), ("x.y = date(1970-01-02)", n.DateWindow(86400.0, 172800.0)),
    ('x.y = date(1970-01-02, "-01:00")', n.DateWindow(90000.0, 176400.0)),
])
def test_constants(text, value):
    expr = where(text)
    assert isinstance(expr, n.Compare)
    assert expr.value == value and type(expr.value) is type(value)


def test_comments_run_to_the_end_of_the_line_even_inside_quotes():
    assert parse("files from a:b # where 'x\n where x.y = 1") == n.Where(DS, n.Compare(n.MetaRef("x.y"), "=", 1))
    with pytest.raises(MQLSyntaxError):
        parse("files where x.y = 'a#b'")


def test_expression_forms_and_binding():
    assert where("a.b = 1 or a.b = 2 and a.c = 3") == n.Or((
        n.Compare(n.MetaRef("a.b"), "=", 1),
        n.And((n.Compare(n.MetaRef("a.b"), "=", 2), n.Compare(n.MetaRef("a.c"), "=", 3)))))
    assert where("!a.b present and a.c not present") == n.And((n.Not(n.Present("a.b")), n.Present("a.c", True)))
    assert where("a.b[any] in 1:2") == n.InRange(n.MetaRef("a.b", "any"), 1, 2)
    assert where("a.b[all] not in (x, 2)") == n.InSet(n.MetaRef("a.b", "all"), ("x", 2), True)
    assert where('a.b[3] ~* "x" and a.b["k"] !~ y') == n.And((n.Compare(n.MetaRef("a.b", 3), "~*", "x"),
                                                            n.Compare(n.MetaRef("a.b", None, "k"), "!~", "y")))
    assert where("len(a.b) >= 2") == n.Compare(n.LenRef("a.b"), ">=", 2)
    assert where("7 not in a.b") == n.Contains(7, "a.b", True)
    assert where("size == 3") == n.Compare(n.AttrRef("size", 1, 13), "=", 3)
    assert where("!!(a.b = 1)") == n.Compare(n.MetaRef("a.b"), "=", 1)


def test_dataset_selectors():
    tree = parse('files from datasets matching a:x*, matching regexp a:"^y", a:b with subsets recursively '
                 "having d.k = 1, a:c with subsets")
    assert tree == n.DatasetFiles((
        n.DatasetSelector("a", pattern="x*"), n.DatasetSelector("a", regexp="^y"),
        n.DatasetSelector("a", "b", with_subsets=True, recursively=True, having=n.Compare(n.MetaRef("d.k"), "=", 1)),
        n.DatasetSelector("a", "c", with_subsets=True)))


@pytest.mark.parametrize("text, line, column, words", [
    ("files frm a:b", 1, 11, ["unexpected 'a'"]),
    ("files from", 1, 11, ["end of query", "'matching'"]),
    ("files from a:b\n  where x.y == = 3", 2, 16, ["unexpected '='", "a number"]),
    ("files where x.y = 1 &", 1, 21, ["unexpected '&'"]),
    ("filter sample(0.5)(files from a:b)", 1, 1, ["unexpected 'filter'", "'files'"]),
    ("files where x.y exists 'a'", 1, 17, ["unexpected 'exists'"]),
    ("(files from a:b, files c:d)", 1, 16, ["unexpected ','"]),
    ("files where x.y in (1, 2", 1, 25, ["end of query"]),
    ("", 0, 0, ["empty"]),
])
def test_syntax_errors_point_at_the_problem(text, line, column, words):
    with pytest.raises(MQLSyntaxError) as caught:
        parse(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    message = str(caught.value)
    if line:
        assert f"line {line}, column {column}" in message
        assert message.splitlines()[-1].index("^") - 2 == column - 1 - max(0, column - 60)
    assert all(word in message for word in words), message


@pytest.mark.parametrize("text, words", [
    ("files where a/b = 1", "expected a metadata key or attribute, got 'a/b' at line 1, column 13"),
    ("files where x.y = a/b", "value 'a/b' must be quoted"),
    ("files where 5 = x.y", "on the left"),
    ("files where x.y in (date(2020-01-01))", "date() is not allowed inside in (...)"),
    ("files where x.y = date(2020-13-01)", "invalid date"),
    ('files where x.y = date(2020-01-01, "+25:00")', "out of range"),
    ('files where x.y = datetime("yesterday")', "invalid datetime"),
    ("files where x.y = 'it\"s'", "quote characters"),
    ("files where x.y = 99999999999999999999", "out of range"),
    ("files limit 99999999999999999999", "too large"),
    ("files skip -1", "non-negative"),
    ("files where exists 'x'", "use 'key present'"),
    ("files where x-y.z = 1", "invalid metadata key"),
    ("files where x.1y = 1", "invalid metadata key"),
    ("files where x.y[-1] = 1", "non-negative"),
    ('files where x.y["a\\b"] = 1', "invalid member name"),
    ("files from matching regexp a:\"(\"", "invalid regular expression"),
    ("files a, b", "has no namespace"),
    ("files where 5 present", "expected a metadata key"),
])
def test_invalid_parts_are_compilation_errors(text, words):
    with pytest.raises(MQLCompilationError, match=None) as caught:
        parse(text)
    assert words in str(caught.value)


def test_deep_nesting_and_length_limits():
    assert parse("files where " + "(" * 3000 + "x.y = 1" + ")" * 3000) == n.Where(
        n.AllFiles(), n.Compare(n.MetaRef("x.y"), "=", 1))
    with pytest.raises(MQLSyntaxError, match="too long"):
        parse("files " + "a:b, " * 300_000 + "a:c")
