"""Compile MQL metadata expressions (``where`` / ``having``) to SQLite boolean SQL.

Semantics (metacat-and-auth §3.4), with one documented simplification:

* Every positive test is existential over the value's elements: an array
  matches when any element does, a scalar is a one-element array, an object
  has no elements (reach inside with ``k["name"]``).
* Types must match: a number constant only meets JSON numbers, a string only
  strings, ``true``/``false`` only booleans; a mismatch never matches.
* ``!=``, ``!~``, ``!~*`` are element-wise ("some element differs"); a file
  without the key does not match them.
* ``!(...)``, ``not in``, ``not present`` are plain logical negations, so a file
  without the key matches them. (Upstream PostgreSQL excludes a type-mismatched
  file from both ``k = v`` and ``!(k = v)``; here ``!`` is always the complement.)
* ``k[all] OP v`` holds when no element of a matching type violates the test,
  so a missing key and an empty array match.

Every generated expression is 0 or 1, never NULL, so ``NOT`` is exact. Keys,
paths and constants are bound parameters; only fixed SQL text is concatenated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from ...core.regex import UnsupportedRegex, compile_user_regex
from ..errors import MQLCompilationError
from ..schema import VTYPE_BOOL, VTYPE_NUMBER, VTYPE_STRING
from . import nodes as n
from .params import Params
from .timeparse import parse_datetime

__all__ = ["DATASET_TARGET", "FILE_TARGET", "Attribute", "Driver", "MetaCompiler", "Target"]

ElementTest = Callable[[str, str], str]
"""Builds the SQL test of one element from its JSON-type and value expressions."""

_NUM = "('integer','real')"
_INVERSE = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<",
            "~": "!~", "!~": "~", "~*": "!~*", "!~*": "~*"}
_ORDER_OPS = ("=", "!=", "<", "<=", ">", ">=")
_REGEX_OPS = ("~", "~*", "!~", "!~*")


@dataclass(frozen=True)
class Attribute:
    """A column that MQL can compare: ``kind`` is text, int, time or bool."""

    column: str
    kind: str


@dataclass(frozen=True)
class Target:
    """What an expression filters: the table alias, its metadata column and attributes."""

    metadata: str
    attributes: Mapping[str, Attribute]


FILE_TARGET = Target("f.metadata", {
    "name": Attribute("f.name", "text"),
    "namespace": Attribute("f.namespace", "text"),
    "creator": Attribute("f.creator", "text"),
    "size": Attribute("f.size", "int"),
    "created_timestamp": Attribute("f.created_timestamp", "time"),
    "updated_timestamp": Attribute("f.updated_timestamp", "time"),
    "updated_by": Attribute("f.updated_by", "text"),
    "retired": Attribute("f.retired", "bool"),
    "retired_by": Attribute("f.retired_by", "text"),
    "retired_timestamp": Attribute("f.retired_timestamp", "time"),
    "fid": Attribute("f.fid", "text"),
})

DATASET_TARGET = Target("d.metadata", {
    "name": Attribute("d.name", "text"),
    "namespace": Attribute("d.namespace", "text"),
    "creator": Attribute("d.creator", "text"),
    "description": Attribute("d.description", "text"),
    "created_timestamp": Attribute("d.created_timestamp", "time"),
    "frozen": Attribute("d.frozen", "bool"),
    "monotonic": Attribute("d.monotonic", "bool"),
    "file_count": Attribute("d.file_count", "int"),
})


@dataclass(frozen=True)
class Driver:
    """An inverted-index form of a positive test: ``select`` yields matching file ids.

    ``count`` sums the per-value file counts of ``mc_meta_stats`` (an estimate:
    a value repeated in one file's array counts twice), used to pick the most
    selective driver of a conjunction.
    """

    select: str
    count: str


def _kind(value: n.Const) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, n.DateWindow):
        return "date"
    return "string"


def _regex(pattern: str, ignore_case: bool) -> None:
    problem = regex_problem(pattern, ignore_case)
    if problem is not None:
        raise MQLCompilationError(f"invalid regular expression {_shown(pattern)}: {problem}")


def regex_problem(pattern: str, ignore_case: bool = False) -> str | None:
    """Why the catalog's linear-time engine (RE2) cannot run ``pattern`` (None when it can).

    Besides syntax errors this names the backtracking features RE2 lacks
    (backreferences, lookaround) and repetition counts beyond its limit.
    """
    try:
        compile_user_regex(pattern, ignore_case)
    except UnsupportedRegex as exc:
        return str(exc)
    return None


def _shown(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


class MetaCompiler:
    """Turns metadata expressions into SQL over one :class:`Target`.

    Args:
        target: Files or datasets.
        params: Parameter set of the statement being built.
        hot_keys: Indexed metadata keys (``mc_meta_keys``) usable as drivers.
    """

    def __init__(self, target: Target, params: Params, hot_keys: Mapping[str, int] | None = None) -> None:
        self.target = target
        self.params = params
        self.hot_keys = hot_keys or {}

    # ------------------------------------------------------------------ public
    def predicate(self, expr: n.MetaExpr) -> str:
        """Return SQL that is 1 for rows satisfying ``expr`` and 0 otherwise."""
        if isinstance(expr, n.And):
            return "(" + " AND ".join(self.predicate(e) for e in expr.items) + ")"
        if isinstance(expr, n.Or):
            return "(" + " OR ".join(self.predicate(e) for e in expr.items) + ")"
        if isinstance(expr, n.Not):
            return f"(NOT {self.predicate(expr.item)})"
        if isinstance(expr, n.Present):
            test = f"(json_type({self.target.metadata}, {self._path(expr.key)}) IS NOT NULL)"
            return f"(NOT {test})" if expr.negated else test
        if isinstance(expr, n.Contains):
            test = self._contains(expr)
            return f"(NOT {test})" if expr.negated else test
        if isinstance(expr, n.Compare):
            left, op, value = expr.left, expr.op, expr.value
            return self._scalar_test(left, lambda violation: self._compare(_INVERSE[op] if violation else op,
                                                                           value, left))
        if isinstance(expr, n.InSet):
            left, values = expr.left, expr.values
            test = self._scalar_test(left, lambda violation: self._in_set(values, left, violation))
            return f"(NOT {test})" if expr.negated else test
        if isinstance(expr, n.InRange):
            left, low, high = expr.left, expr.low, expr.high
            test = self._scalar_test(left, lambda violation: self._in_range(low, high, left, violation))
            return f"(NOT {test})" if expr.negated else test
        raise MQLCompilationError(f"unsupported expression {expr!r}")

    def driver(self, expr: n.MetaExpr) -> Driver | None:
        """Return the inverted-index form of ``expr`` when it is a positive test on a hot key."""
        bounds = self._driver_bounds(expr)
        if bounds is None:
            return None
        key, vtype, condition = bounds
        where = f"key_id = {self.params.add(self.hot_keys[key])} AND vtype = {self.params.add(vtype)} AND {condition}"
        select = f"SELECT file_id FROM mc_meta_values WHERE {where}"
        return Driver(select, f"SELECT coalesce(sum(count), 0) FROM mc_meta_stats WHERE {where}")

    # ------------------------------------------------------------ references
    def _path(self, key: str, index: int | None = None, member: str | None = None) -> str:
        path = '$."' + key + '"'
        if index is not None:
            path += f"[{index}]"
        if member is not None:
            path += '."' + member + '"'
        return self.params.add(path)

    def _exists(self, path: str, test: ElementTest) -> str:
        meta = self.target.metadata
        scalar = test(f"json_type({meta}, {path})", f"json_extract({meta}, {path})")
        return (f"(CASE json_type({meta}, {path}) WHEN 'array' THEN EXISTS(SELECT 1 FROM json_each({meta}, {path}) je"
                f" WHERE {test('je.type', 'je.value')}) WHEN 'object' THEN 0 ELSE COALESCE({scalar}, 0) END)")

    def _scalar_test(self, left: n.Scalar, make_test: Callable[[bool], ElementTest]) -> str:
        """Apply the element test made by ``make_test(violation)`` to what ``left`` designates."""
        if isinstance(left, n.AttrRef):
            return self._attribute_test(left, make_test(False))
        if isinstance(left, n.LenRef):
            meta, path = self.target.metadata, self._path(left.key)
            length = f"(CASE json_type({meta}, {path}) WHEN 'array' THEN json_array_length({meta}, {path}) ELSE 1 END)"
            test = make_test(False)("'integer'", length)
            return f"(json_type({meta}, {path}) IS NOT NULL AND COALESCE({test}, 0))"
        index = left.index if isinstance(left.index, int) else None
        path = self._path(left.key, index, left.member)
        if left.index == "all":
            return f"(NOT {self._exists(path, make_test(True))})"
        return self._exists(path, make_test(False))

    def _attribute_test(self, attr: n.AttrRef, test: ElementTest) -> str:
        spec = self.target.attributes.get(attr.name)
        if spec is None:
            raise MQLCompilationError(self._unknown(attr))
        if spec.kind == "bool":
            json_type = f"(CASE {spec.column} WHEN 0 THEN 'false' ELSE 'true' END)"
        else:
            json_type = {"text": "'text'", "int": "'integer'", "time": "'real'"}[spec.kind]
        return f"({spec.column} IS NOT NULL AND {test(json_type, spec.column)})"

    def _unknown(self, attr: n.AttrRef) -> str:
        names = ", ".join(sorted(self.target.attributes))
        where = f" at line {attr.line}, column {attr.column}" if attr.line else ""
        return (f"unknown attribute {attr.name!r}{where}; known attributes: {names} "
                "(metadata keys contain a dot, e.g. core.runs)")

    # ----------------------------------------------------------- element tests
    def _const(self, value: n.Const, left: n.Scalar | None) -> tuple[str, n.Const]:
        """Return the value kind and the value, converting for timestamp attributes."""
        kind = _kind(value)
        attr = None
        if isinstance(left, n.AttrRef):
            attr = self.target.attributes.get(left.name)
            if attr is None:
                raise MQLCompilationError(self._unknown(left))
            if attr.kind == "time" and kind == "string":
                try:
                    return "number", parse_datetime(str(value))
                except ValueError:
                    raise MQLCompilationError(f"{left.name} needs a number, date or date-time, got {value!r}") from None
            expected = {"text": ("string",), "int": ("number",), "time": ("number", "date"), "bool": ("bool",)}
            if kind not in expected[attr.kind]:
                raise MQLCompilationError(f"attribute {left.name} cannot be compared with {value!r}")
        if isinstance(left, n.LenRef) and kind != "number":
            raise MQLCompilationError(f"len({left.key}) can only be compared with numbers, got {value!r}")
        return kind, value

    def _compare(self, op: str, value: n.Const, left: n.Scalar | None) -> ElementTest:
        kind, value = self._const(value, left)
        if op in _REGEX_OPS:
            if kind != "string":
                raise MQLCompilationError(f"operator {op} needs a quoted regular expression, got {value!r}")
            if isinstance(left, n.AttrRef) and self.target.attributes[left.name].kind != "text":
                raise MQLCompilationError(f"operator {op} only applies to text attributes, not {left.name}")
            _regex(str(value), "*" in op)
            pattern, flags = self.params.add(value), self.params.add(re.IGNORECASE if "*" in op else 0)
            negate = "NOT " if op.startswith("!") else ""
            return lambda t, v: f"({t} = 'text' AND {negate}mc_regexp({pattern}, {flags}, {v}))"
        if kind == "bool":
            if op not in ("=", "!="):
                raise MQLCompilationError(f"booleans can only be compared with = or !=, not {op}")
            wanted = "true" if bool(value) == (op == "=") else "false"
            return lambda t, v: f"({t} = '{wanted}')"
        if kind == "date":
            assert isinstance(value, n.DateWindow)
            start, end = self.params.add(value.start), self.params.add(value.end)
            cond = {"=": f"{{v}} >= {start} AND {{v}} < {end}", "!=": f"({{v}} < {start} OR {{v}} >= {end})",
                    "<": f"{{v}} < {start}", "<=": f"{{v}} < {end}", ">": f"{{v}} >= {end}",
                    ">=": f"{{v}} >= {start}"}[op]
            return lambda t, v: f"({t} IN {_NUM} AND {cond.format(v=v)})"
        placeholder = self.params.add(value)
        types = _NUM if kind == "number" else "('text')"
        return lambda t, v: f"({t} IN {types} AND {v} {op} {placeholder})"

    def _in_set(self, values: tuple[n.Const, ...], left: n.Scalar, violation: bool) -> ElementTest:
        groups: dict[str, list[n.Const]] = {}
        for value in values:
            kind, value = self._const(value, left)
            groups.setdefault(kind, []).append(value)
        parts: list[tuple[str, str]] = []
        for kind, items in groups.items():
            if kind == "bool":
                types = "(" + ", ".join(sorted({"'true'" if v else "'false'" for v in items})) + ")"
                parts.append(("('true', 'false')", f"{{t}} IN {types}"))
                continue
            listed = self.params.add(orjson.dumps(items).decode())
            types = _NUM if kind == "number" else "('text')"
            parts.append((types, f"{{t}} IN {types} AND {{v}} IN (SELECT value FROM json_each({listed}))"))
        if violation:
            return lambda t, v: "(" + " OR ".join(
                f"({t} IN {types} AND NOT ({cond.format(t=t, v=v)}))" for types, cond in parts) + ")"
        return lambda t, v: "(" + " OR ".join(f"({cond.format(t=t, v=v)})" for _, cond in parts) + ")"

    def _in_range(self, low: n.Const, high: n.Const, left: n.Scalar, violation: bool) -> ElementTest:
        low_kind, low = self._const(low, left)
        high_kind, high = self._const(high, left)
        kinds = {low_kind, high_kind}
        if kinds == {"date"}:
            assert isinstance(low, n.DateWindow) and isinstance(high, n.DateWindow)
            lo, hi, upper = self.params.add(low.start), self.params.add(high.end), "<"
            types = _NUM
        elif kinds == {"number"} or kinds == {"string"}:
            lo, hi, upper = self.params.add(low), self.params.add(high), "<="
            types = _NUM if kinds == {"number"} else "('text')"
        else:
            raise MQLCompilationError(f"range ends must have the same type (numbers, strings or dates), "
                                      f"got {low!r} and {high!r}")
        if violation:
            return lambda t, v: f"({t} IN {types} AND NOT ({v} >= {lo} AND {v} {upper} {hi}))"
        return lambda t, v: f"({t} IN {types} AND {v} >= {lo} AND {v} {upper} {hi})"

    def _contains(self, expr: n.Contains) -> str:
        meta, path = self.target.metadata, self._path(expr.key)
        kind = _kind(expr.value)
        if kind != "string":
            return self._exists(path, self._compare("=", expr.value, None))
        value = self.params.add(expr.value)
        if regex_problem(str(expr.value)) is None:
            scalar = f"mc_regexp({value}, 0, json_extract({meta}, {path}))"
        else:
            scalar = f"(instr(json_extract({meta}, {path}), {value}) > 0)"
        return (f"(CASE json_type({meta}, {path}) WHEN 'array' THEN EXISTS(SELECT 1 FROM json_each({meta}, {path}) je"
                f" WHERE je.type = 'text' AND je.value = {value}) WHEN 'text' THEN {scalar} ELSE 0 END)")

    # ----------------------------------------------------------------- drivers
    def _driver_bounds(self, expr: n.MetaExpr) -> tuple[str, int, str] | None:
        """Return ``(key, vtype, SQL condition on value)`` for an index-friendly positive test."""
        left = getattr(expr, "left", None) if not isinstance(expr, n.Contains) else n.MetaRef(expr.key)
        if not isinstance(left, n.MetaRef) or left.index not in (None, "any") or left.member is not None:
            return None
        if left.key not in self.hot_keys or getattr(expr, "negated", False):
            return None
        add = self.params.add
        if isinstance(expr, n.Compare) and expr.op in ("=", "<", "<=", ">", ">="):
            kind = _kind(expr.value)
            if kind == "date":
                assert isinstance(expr.value, n.DateWindow)
                start, end = add(expr.value.start), add(expr.value.end)
                cond = {"=": f"value >= {start} AND value < {end}", "<": f"value < {start}",
                        "<=": f"value < {end}", ">": f"value >= {end}", ">=": f"value >= {start}"}[expr.op]
                return left.key, VTYPE_NUMBER, cond
            if kind == "bool":
                return (left.key, VTYPE_BOOL, f"value = {add(int(bool(expr.value)))}") if expr.op == "=" else None
            vtype = VTYPE_NUMBER if kind == "number" else VTYPE_STRING
            return left.key, vtype, f"value {expr.op} {add(expr.value)}"
        if isinstance(expr, n.InRange):
            kinds = {_kind(expr.low), _kind(expr.high)}
            if kinds == {"date"}:
                assert isinstance(expr.low, n.DateWindow) and isinstance(expr.high, n.DateWindow)
                return left.key, VTYPE_NUMBER, f"value >= {add(expr.low.start)} AND value < {add(expr.high.end)}"
            if kinds in ({"number"}, {"string"}):
                vtype = VTYPE_NUMBER if kinds == {"number"} else VTYPE_STRING
                return left.key, vtype, f"value BETWEEN {add(expr.low)} AND {add(expr.high)}"
            return None
        if isinstance(expr, n.InSet):
            kinds = {_kind(v) for v in expr.values}
            if kinds not in ({"number"}, {"string"}):
                return None
            vtype = VTYPE_NUMBER if kinds == {"number"} else VTYPE_STRING
            listed = add(orjson.dumps(list(expr.values)).decode())
            return left.key, vtype, f"value IN (SELECT value FROM json_each({listed}))"
        if isinstance(expr, n.Contains) and _kind(expr.value) == "number":
            return left.key, VTYPE_NUMBER, f"value = {add(expr.value)}"
        return None
