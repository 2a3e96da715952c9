"""Turn Lark tokens into :mod:`.nodes` while the LALR parser reduces (see :mod:`.parser`).

Word-like tokens are classified here, from their position: a metadata key, an
attribute, a name or a constant. Misuse raises :class:`MQLCompilationError`
naming the token's line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lark import Token, Transformer

from ..errors import MQLCompilationError
from . import nodes as n
from .meta_sql import regex_problem
from .timeparse import parse_date, parse_datetime

__all__ = ["ToNodes"]

_META_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SAFE_STRING = re.compile(r"[A-Za-z0-9$@_.-]+")
_NAME = re.compile(r"[A-Za-z0-9_./-]+")
_INT = re.compile(r"[+-]?\d+")
_MAX_INT = 2**63 - 1


def _where(token: Token | None) -> str:
    if token is None or token.line is None:
        return ""
    return f" at line {token.line}, column {token.column}"


def _fail(message: str, token: Token | None) -> MQLCompilationError:
    return MQLCompilationError(message + _where(token))


@dataclass(frozen=True)
class _Operand:
    """An operand before the surrounding predicate says whether it is a key or a constant."""

    kind: str  # word, number, string, subscript, len, datetime, date
    token: Token
    extra: Any = None

    def constant(self, allow_date: bool = True) -> n.Const:
        """Interpret as a constant value."""
        text = str(self.token)
        if self.kind == "number":
            if _INT.fullmatch(text):
                value = int(text)
                if abs(value) > _MAX_INT:
                    raise _fail(f"integer {text} is out of range", self.token)
                return value
            return float(text)
        if self.kind == "string":
            return _unquote(self.token)
        if self.kind == "word":
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            if not _SAFE_STRING.fullmatch(text):
                raise _fail(f"value {text!r} must be quoted", self.token)
            return text
        if self.kind == "datetime":
            return self.extra
        if self.kind == "date":
            if not allow_date:
                raise _fail("date() is not allowed inside in (...)", self.token)
            return self.extra
        raise _fail(f"expected a value, got {text!r}", self.token)

    def scalar(self) -> n.Scalar:
        """Interpret as a metadata key, subscripted key, len(key) or attribute."""
        text = str(self.token)
        if self.kind == "word":
            if "." in text:
                return n.MetaRef(_meta_key(self.token))
            if _ATTRIBUTE.fullmatch(text):
                return n.AttrRef(text, self.token.line or 0, self.token.column or 0)
            raise _fail(f"expected a metadata key or attribute, got {text!r}", self.token)
        if self.kind == "subscript":
            index, member = self.extra
            return n.MetaRef(_meta_key(self.token), index, member)
        if self.kind == "len":
            return n.LenRef(_meta_key(self.token))
        raise _fail(f"expected a metadata key or attribute on the left, got {text!r}", self.token)

    def key(self) -> str:
        """Interpret as a plain metadata key."""
        if self.kind != "word":
            raise _fail(f"expected a metadata key, got {str(self.token)!r}", self.token)
        return _meta_key(self.token)


def _meta_key(token: Token) -> str:
    text = str(token)
    if not _META_KEY.fullmatch(text):
        raise _fail(f"invalid metadata key {text!r} (keys look like category.name)", token)
    return text


def _unquote(token: Token) -> str:
    text = str(token)[1:-1]
    if "'" in text or '"' in text:
        raise _fail("a quoted string cannot contain quote characters", token)
    return text


def _count(token: Token, what: str) -> int:
    text = str(token)
    if not _INT.fullmatch(text) or int(text) < 0:
        raise _fail(f"{what} needs a non-negative integer, got {text!r}", token)
    value = int(text)
    if value > _MAX_INT:
        raise _fail(f"{what} {text} is too large", token)
    return value


def _name(token: Token, what: str = "name") -> str:
    text = str(token)
    if not _NAME.fullmatch(text):
        raise _fail(f"invalid {what} {text!r}", token)
    return text


def _and(items: list[n.MetaExpr]) -> n.MetaExpr:
    flat: list[n.MetaExpr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, n.And) else (item,))
    return n.And(tuple(flat))


def _or(items: list[n.MetaExpr]) -> n.MetaExpr:
    flat: list[n.MetaExpr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, n.Or) else (item,))
    return n.Or(tuple(flat))


class ToNodes(Transformer):
    """Builds :mod:`.nodes` objects while the LALR parser reduces (no recursion)."""

    # ---- file queries
    def all_files(self, _: list) -> n.FileQuery:
        return n.AllFiles()

    def dataset_files(self, items: list) -> n.FileQuery:
        return n.DatasetFiles(tuple(items[-1]))

    def file_list(self, items: list) -> n.FileQuery:
        return n.FileList(tuple(items))

    def fid_list(self, items: list) -> n.FileQuery:
        return n.FidList(tuple(_name(t, "file id") for t in items))

    def named_query(self, _: list) -> n.FileQuery:
        return n.Unsupported("named queries (files selected by ...)")

    def union(self, items: list) -> n.FileQuery:
        return n.Union_(tuple(items[0]))

    def join(self, items: list) -> n.FileQuery:
        return n.Join(tuple(items[0]))

    def parents(self, items: list) -> n.FileQuery:
        return n.Parents(items[0])

    def children(self, items: list) -> n.FileQuery:
        return n.Children(items[0])

    def minus(self, items: list) -> n.FileQuery:
        return n.Minus(items[0], items[1])

    def where(self, items: list) -> n.FileQuery:
        return n.Where(items[0], items[1])

    def limit(self, items: list) -> n.FileQuery:
        return n.Limit(items[0], _count(items[1], "limit"))

    def skip(self, items: list) -> n.FileQuery:
        return n.Skip(items[0], _count(items[1], "skip"))

    def ordered(self, items: list) -> n.FileQuery:
        return n.Ordered(items[0])

    def query_list(self, items: list) -> list:
        return items

    # ---- dataset selectors and names
    def ds_list(self, items: list) -> list:
        return items

    def ds_selector(self, items: list) -> n.DatasetSelector:
        spec, subsets, having = items
        return n.DatasetSelector(namespace=spec["namespace"], name=spec.get("name"), pattern=spec.get("pattern"),
                                 regexp=spec.get("regexp"), with_subsets=subsets is not None,
                                 recursively=bool(subsets), having=having)

    def subsets(self, items: list) -> bool:
        return items[0] is not None

    def having(self, items: list) -> n.MetaExpr:
        return items[0]

    def ds_named(self, items: list) -> dict[str, str]:
        return {"namespace": _name(items[0], "namespace"), "name": _name(items[1], "dataset name")}

    def ds_pattern(self, items: list) -> dict[str, str]:
        return {"namespace": _name(items[0], "namespace"), "pattern": str(items[1])}

    def ds_regexp(self, items: list) -> dict[str, str]:
        pattern = _unquote(items[1])
        problem = regex_problem(pattern)
        if problem is not None:
            raise _fail(f"invalid regular expression {pattern[:60]!r}: {problem}", items[1])
        return {"namespace": _name(items[0], "namespace"), "regexp": pattern}

    def did(self, items: list) -> tuple[str | None, str]:
        first, second = items
        if second is None:
            return None, _name(first)
        return _name(first, "namespace"), _name(second)

    def name(self, items: list) -> Token:
        return items[0]

    # ---- metadata expressions
    def meta_or(self, items: list) -> n.MetaExpr:
        return _or(items)

    def meta_and(self, items: list) -> n.MetaExpr:
        return _and(items)

    def meta_not(self, items: list) -> n.MetaExpr:
        inner = items[0]
        return inner.item if isinstance(inner, n.Not) else n.Not(inner)

    def cmp(self, items: list) -> n.MetaExpr:
        left, op, right = items
        op = "=" if str(op) == "==" else str(op)
        return n.Compare(left.scalar(), op, right.constant())

    def in_range(self, items: list) -> n.MetaExpr:
        left, negated, low, high = items
        return n.InRange(left.scalar(), low.constant(), high.constant(), negated is not None)

    def in_set(self, items: list) -> n.MetaExpr:
        left, negated, *values = items
        return n.InSet(left.scalar(), tuple(v.constant(allow_date=False) for v in values), negated is not None)

    def contains(self, items: list) -> n.MetaExpr:
        value, negated, key = items
        return n.Contains(value.constant(allow_date=False), key.key(), negated is not None)

    def present(self, items: list) -> n.MetaExpr:
        operand, negated = items
        return n.Present(operand.key(), negated is not None)

    def exists(self, items: list) -> n.MetaExpr:
        raise _fail("'exists' is not supported; use 'key present'", items[0])

    # ---- operands
    def word(self, items: list) -> _Operand:
        return _Operand("word", items[0])

    def number(self, items: list) -> _Operand:
        return _Operand("number", items[0])

    def string(self, items: list) -> _Operand:
        return _Operand("string", items[0])

    def subscript(self, items: list) -> _Operand:
        token, index = items
        if index.type == "STRING":
            member = _unquote(index)
            if "\\" in member or not member:
                raise _fail(f"invalid member name {member!r}", index)
            return _Operand("subscript", token, (None, member))
        if index.type == "NUMBER":
            return _Operand("subscript", token, (_count(index, "array index"), None))
        return _Operand("subscript", token, (str(index), None))

    def length(self, items: list) -> _Operand:
        return _Operand("len", items[0])

    def datetime(self, items: list) -> _Operand:
        token = items[0]
        text = _unquote(token) if token.type == "STRING" else str(token)
        try:
            return _Operand("datetime", token, parse_datetime(text))
        except ValueError as exc:
            raise _fail(f"invalid datetime {text!r}: {exc}", token) from None

    def date(self, items: list) -> _Operand:
        token, offset = items
        text = _unquote(token) if token.type == "STRING" else str(token)
        offset_text = _unquote(offset) if offset is not None else None
        try:
            start, end = parse_date(text, offset_text)
        except ValueError as exc:
            raise _fail(f"invalid date {text!r}: {exc}", token) from None
        return _Operand("date", token, n.DateWindow(start, end))
