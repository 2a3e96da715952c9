"""Project search language of the Data Dispatcher (protocol specification §8).

:func:`compile_search` turns a query such as
``owner = alice and events[any] = 32768`` into a predicate over project
records. Evaluation is pure Python and follows the three-valued logic of the
upstream PostgreSQL implementation: a term is true, false or unknown (None);
``!`` keeps unknown unknown, and a project is selected only when the whole
query is true. Project attributes (``owner``, ``created_timestamp``, ...) are
columns; every other name refers to the project's JSON ``attributes``, which
are compared like PostgreSQL jsonpath in lax mode (arrays are unwrapped,
comparisons of different JSON types are unknown, a missing key is false).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from lark import Token, Transformer, v_args
from lark.exceptions import VisitError

from ..core.durations import parse_duration
from ..core.regex import UnsupportedRegex, compile_user_regex
from .search_grammar import (
    Const,
    SearchError,
    SearchSyntaxError,
    constant,
    parse,
    parse_number,
    parse_timestamp,
    position,
    split_range,
)

__all__ = ["SearchError", "SearchSyntaxError", "compile_search"]

Truth = bool | None
Record = Mapping[str, Any]
Predicate = Callable[[Record], Truth]
ItemTest = Callable[[Any], Truth]

COLUMNS = {
    "owner": "text", "state": "text", "query": "text", "id": "integer",
    "created_timestamp": "timestamp", "ended_timestamp": "timestamp",
    "worker_timeout": "interval", "idle_timeout": "interval",
}
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DOTTED_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_REGEX_OPS = {"~": (False, False), "~*": (False, True), "!~": (True, False), "!~*": (True, True)}


def _any3(values: Iterable[Truth]) -> Truth:
    """Three-valued OR: true if any is true, else unknown if any is unknown."""
    result: Truth = False
    for value in values:
        if value:
            return True
        if value is None:
            result = None
    return result


def _all3(values: Iterable[Truth]) -> Truth:
    """Three-valued AND: false if any is false, else unknown if any is unknown."""
    result: Truth = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def _json_type(value: Any) -> str:
    if value is None or isinstance(value, (bool, str)):
        return type(value).__name__
    return "number" if isinstance(value, (int, float)) else "structure"


def _json_compare(item: Any, op: str, value: Any) -> Truth:
    """Compare one JSON item with a constant like a jsonpath comparison."""
    if item is None:
        return op == "!="  # null against a non-null constant
    if _json_type(item) != _json_type(value) or _json_type(item) == "structure":
        return None
    return _OPS[op](item, value)


def _column_compare(item: Any, op: str, value: Any) -> Truth:
    return _OPS[op](item, value)


def _elements(value: Any) -> list[Any]:
    """The lax-mode ``[*]`` of a value: an array's elements, else the value itself."""
    return value if isinstance(value, list) else [value]


def _attributes(record: Record) -> Mapping[str, Any]:
    attributes = record.get("attributes")
    return attributes if isinstance(attributes, Mapping) else {}


def _regex(pattern: str, ignore_case: bool, token: Token) -> Any:
    """Compile a pattern of the query with RE2 (linear time: no pattern can stall the server)."""
    try:
        return compile_user_regex(pattern, ignore_case)
    except UnsupportedRegex as exc:
        raise SearchError(f"Invalid regular expression {_shown(pattern)} at {position(token)}: {exc}") from None


def _shown(pattern: str) -> str:
    text = repr(pattern)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class _Scalar:
    """The left side of a comparison: a column, or a metadata value with a selector.

    ``mode`` is ``column``, ``plain``, ``any``, ``all``, ``index``, ``key`` or
    ``len``; ``arg`` is the index or key of ``x[0]`` / ``x["k"]``.
    """

    name: str
    mode: str
    token: Token
    arg: int | str | None = None

    @property
    def kind(self) -> str:
        """The value domain: a column type, ``integer`` for len(), else ``json``."""
        if self.mode == "column":
            return COLUMNS[self.name]
        return "integer" if self.mode == "len" else "json"

    def items(self, record: Record) -> list[Any]:
        """The jsonpath sequence the selector produces for a record's metadata."""
        attributes = _attributes(record)
        if self.name not in attributes:
            return []
        value = attributes[self.name]
        if self.mode == "index":
            elements = _elements(value)
            # Only Transformer.subscript builds an "index" scalar, and it refuses a non-integer index.
            index = cast(int, self.arg)
            return [elements[index]] if -len(elements) <= index < len(elements) else []
        if self.mode == "key":
            if isinstance(value, list):
                return [e[self.arg] for e in value if isinstance(e, dict) and self.arg in e]
            return [value[self.arg]] if isinstance(value, dict) and self.arg in value else []
        return _elements(value) if self.mode in ("any", "all") else [value]

    def predicate(self, test: ItemTest) -> Predicate:
        """Apply a per-value test with this scalar's NULL, array and quantifier rules."""
        name = self.name
        if self.mode == "column":
            return lambda record: None if record.get(name) is None else test(record[name])
        if self.mode == "len":
            def length_test(record: Record) -> Truth:
                value = _attributes(record).get(name)
                return test(len(value)) if isinstance(value, list) else None
            return length_test
        if self.mode == "all":
            return lambda record: _all3(_any3(map(test, _elements(e))) for e in self.items(record))
        return lambda record: _any3(test(u) for e in self.items(record) for u in _elements(e))

    def convert(self, const: Const) -> Any:
        """Convert a constant to this scalar's domain (SQL casts of the upstream query)."""
        kind, value, where = self.kind, const.value, position(const.token)
        if kind == "json":
            return value
        if kind == "text":
            return const.text
        if isinstance(value, bool):
            raise SearchError(f"Cannot compare {self.label} with the boolean {const.text} at {where}")
        if kind == "integer":
            number = value if not isinstance(value, str) else parse_number(value)
            if number is None:
                raise SearchError(f"Cannot compare {self.label} with the non-numeric value {value!r} at {where}")
            return number
        if kind == "interval":
            if not isinstance(value, str):
                return float(value)
            try:
                return parse_duration(value)
            except ValueError:
                raise SearchError(f"Invalid interval {value!r} for {self.name} at {where}; use seconds "
                                  "or e.g. \"1 hour\", \"01:00:00\", \"10 minutes\", \"2 days\"") from None
        if not isinstance(value, str):
            raise SearchError(f"Cannot compare the timestamp {self.name} with the number {const.text} at {where}; "
                              "use a quoted date/time such as \"2024-01-31 12:00:00\"")
        try:
            return parse_timestamp(value)
        except ValueError:
            raise SearchError(f"Invalid date/time {value!r} for {self.name} at {where}; use "
                              "\"YYYY-MM-DD\" or \"YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]\"") from None

    @property
    def label(self) -> str:
        """The scalar as written in the query, for messages."""
        if self.mode == "len":
            return f"len({self.name})"
        if self.mode in ("column", "plain"):
            return self.name
        return f"{self.name}[{self.mode if self.arg is None else repr(self.arg)}]"

    def compare(self) -> Callable[[Any, str, Any], Truth]:
        """The comparison of a value with a converted constant."""
        return _json_compare if self.kind == "json" else _column_compare


def _negate(predicate: Predicate) -> Predicate:
    def negation(record: Record) -> Truth:
        value = predicate(record)
        return None if value is None else not value
    return negation


def _metadata_name(token: Token, dotted: bool = False) -> str:
    if not (_DOTTED_NAME_RE if dotted else _NAME_RE).fullmatch(token.value):
        expected = "a metadata name" + (" (dotted names are allowed)" if dotted else "")
        hint = "; dotted names are only allowed in presence tests" if not dotted and "." in token.value else ""
        raise SearchSyntaxError(f"Syntax error at {position(token)}: expected {expected}, found {token.value!r}{hint}")
    return token.value


def _scalar(operand: _Scalar | Token) -> _Scalar:
    if isinstance(operand, _Scalar):
        return operand
    if operand.type != "WORD":
        raise SearchSyntaxError(
            f"Syntax error at {position(operand)}: expected an attribute or metadata name, found {operand.value}")
    if operand.value in COLUMNS:
        return _Scalar(operand.value, "column", operand)
    return _Scalar(_metadata_name(operand), "plain", operand)


def _containment(const: Const, name_token: Token) -> Predicate:
    """``c in x``: array x contains c, or string x matches the regex ``.*c.*``."""
    value, name = const.value, name_token.value
    if name in COLUMNS:
        if COLUMNS[name] != "text" or not isinstance(value, str):
            raise SearchError(f"Unsupported test {const.text!r} in {name} at {position(const.token)}: a substring "
                              "test needs a string and one of the text attributes owner, state or query")
        column_pattern = _regex(f".*{value}.*", False, const.token)
        return _Scalar(name, "column", name_token).predicate(lambda text: bool(column_pattern.search(text)))
    name = _metadata_name(name_token)
    pattern = _regex(f".*{value}.*", False, const.token) if isinstance(value, str) else None

    def contains(record: Record) -> Truth:
        item = _attributes(record).get(name)
        if isinstance(item, list):
            return any(_json_compare(element, "=", value) for element in item)
        return pattern is not None and isinstance(item, str) and pattern.search(item) is not None
    return contains


@v_args(inline=True)
class _Compiler(Transformer):
    """Turns the parse tree into a predicate returning True, False or None (unknown)."""

    def start(self, predicate: Predicate) -> Predicate:
        return predicate

    def disj(self, *predicates: Predicate) -> Predicate:
        return lambda record: _any3(p(record) for p in predicates)

    def conj(self, *predicates: Predicate) -> Predicate:
        return lambda record: _all3(p(record) for p in predicates)

    def negation(self, predicate: Predicate) -> Predicate:
        return _negate(predicate)

    def subscript(self, name: Token, selector: Token) -> _Scalar:
        name_text = _metadata_name(name)
        if selector.type in ("ANY", "ALL"):
            return _Scalar(name_text, selector.value, name)
        if selector.type == "STRING":
            return _Scalar(name_text, "key", name, selector.value[1:-1])
        index = parse_number(selector.value)
        if not isinstance(index, int):
            raise SearchSyntaxError(f"Syntax error at {position(selector)}: an array index must be an integer")
        return _Scalar(name_text, "index", name, index)

    def length(self, name: Token) -> _Scalar:
        return _Scalar(_metadata_name(name), "len", name)

    def comparison(self, left: _Scalar | Token, op: Token, right: Token) -> Predicate:
        scalar, const = _scalar(left), constant(right)
        if op.type == "LIKE":
            raise SearchError(f"The operator 'like' at {position(op)} is not supported; use ~ (regular expression)")
        if op.value in _REGEX_OPS:
            if scalar.kind not in ("text", "json"):
                raise SearchError(f"The operator {op.value} at {position(op)} needs a text attribute "
                                  f"(owner, state, query) or metadata, not {scalar.label}")
            negate, ignore_case = _REGEX_OPS[op.value]
            pattern = _regex(const.text, ignore_case, const.token)
            return scalar.predicate(
                lambda item: (pattern.search(item) is None) == negate if isinstance(item, str) else None)
        value, compare = scalar.convert(const), scalar.compare()
        return scalar.predicate(lambda item: compare(item, op.value, value))

    def value_set(self, *tokens: Token) -> list[Const]:
        return [constant(token) for token in tokens]

    def range_or_name(self, *tokens: Token) -> tuple[Token, ...]:
        return tokens

    def in_test(self, left: _Scalar | Token, right: list[Const] | tuple[Token, ...]) -> Predicate:
        if isinstance(right, list):
            scalar = _scalar(left)
            values, compare = [scalar.convert(c) for c in right], scalar.compare()
            return scalar.predicate(lambda item: _any3(compare(item, "=", v) for v in values))
        bounds = split_range(right)
        if bounds is not None:
            scalar = _scalar(left)
            lo, hi, compare = scalar.convert(bounds[0]), scalar.convert(bounds[1]), scalar.compare()
            return scalar.predicate(lambda item: _all3((compare(item, ">=", lo), compare(item, "<=", hi))))
        if isinstance(left, _Scalar) or len(right) != 1 or right[0].type != "WORD":
            where = position(right[min(1, len(right) - 1)])
            raise SearchSyntaxError(f"Syntax error at {where}: expected '<scalar> in lo:hi', "
                                    "'<scalar> in (a, b, ...)' or '<constant> in <name>'")
        return _containment(constant(left), right[0])

    def not_in_test(self, left: _Scalar | Token, right: list[Const] | tuple[Token, ...]) -> Predicate:
        return _negate(self.in_test(left, right))

    def presence(self, operand: _Scalar | Token) -> Predicate:
        if isinstance(operand, _Scalar) or operand.type != "WORD":
            where = position(operand.token if isinstance(operand, _Scalar) else operand)
            found = operand.label if isinstance(operand, _Scalar) else operand.value
            raise SearchSyntaxError(f"Syntax error at {where}: expected a comparison, or a metadata name "
                                    f"for a presence test, found {found}")
        name = _metadata_name(operand, dotted=True)
        return lambda record: name in _attributes(record)

    def absence(self, operand: _Scalar | Token) -> Predicate:
        return _negate(self.presence(operand))


_COMPILER = _Compiler()


def compile_search(query: str) -> Callable[[Mapping[str, Any]], bool]:
    """Compile a project search query into a predicate.

    Args:
        query: Query text, e.g. ``state = failed and "dc4:dc4" in query``.

    Returns:
        A function that takes a project record (keys ``id``, ``owner``,
        ``state``, ``query``, ``created_timestamp``, ``ended_timestamp``,
        ``worker_timeout``, ``idle_timeout``, ``attributes``) and returns True
        when the query selects the project (false or unknown → False).

    Raises:
        SearchSyntaxError: The query is empty or does not follow the grammar.
        SearchError: The query parses but cannot be evaluated (bad regex,
            unsupported operator, constant of the wrong type, ...).
    """
    if not isinstance(query, str):
        raise SearchError("The search query must be a string")
    try:
        predicate: Predicate = _COMPILER.transform(parse(query))
    except VisitError as exc:
        if isinstance(exc.orig_exc, SearchError):
            raise exc.orig_exc from None
        raise
    return lambda record: predicate(record) is True
