"""The MQL syntax tree: file queries, dataset selectors and metadata expressions.

The parser (:mod:`.parser`) builds these immutable nodes; the compiler
(:mod:`.compiler`) turns them into SQL. Constants are plain Python values
(``int``, ``float``, ``str``, ``bool``) or a :class:`DateWindow` for ``date(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = [
    "AllFiles", "And", "AttrRef", "Children", "Compare", "Const", "Contains", "DatasetFiles",
    "DatasetSelector", "DateWindow", "FidList", "FileList", "FileQuery", "InRange", "InSet", "Join",
    "LenRef", "Limit", "MetaExpr", "MetaRef", "Minus", "Not", "Or", "Ordered", "Parents", "Present",
    "Scalar", "Skip", "Union_", "Unsupported", "Where",
]


@dataclass(frozen=True)
class DateWindow:
    """``date(D[, offset])``: the 24 hours ``[start, end)`` in epoch seconds."""

    start: float
    end: float


Const = Union[int, float, str, bool, DateWindow]


@dataclass(frozen=True)
class MetaRef:
    """A metadata key, optionally subscripted: ``k``, ``k[any]``, ``k[all]``, ``k[3]``, ``k["x"]``."""

    key: str
    index: None | str | int = None
    """None (plain key), ``"any"``, ``"all"`` or an array position."""
    member: str | None = None
    """Object member name of ``k["name"]``."""


@dataclass(frozen=True)
class AttrRef:
    """A file (or dataset) attribute such as ``size`` or ``namespace``."""

    name: str
    line: int = 0
    column: int = 0


@dataclass(frozen=True)
class LenRef:
    """``len(k)``: the length of an array value (1 for a scalar)."""

    key: str


Scalar = Union[MetaRef, AttrRef, LenRef]


@dataclass(frozen=True)
class Compare:
    """``left OP value`` with OP one of ``= != < <= > >= ~ ~* !~ !~*``."""

    left: Scalar
    op: str
    value: Const


@dataclass(frozen=True)
class InRange:
    """``left [not] in lo:hi`` (inclusive)."""

    left: Scalar
    low: Const
    high: Const
    negated: bool = False


@dataclass(frozen=True)
class InSet:
    """``left [not] in (v1, v2, ...)``."""

    left: Scalar
    values: tuple[Const, ...]
    negated: bool = False


@dataclass(frozen=True)
class Contains:
    """``value [not] in key``: an element of the array equals ``value`` (substring for scalar text)."""

    value: Const
    key: str
    negated: bool = False


@dataclass(frozen=True)
class Present:
    """``key [not] present``."""

    key: str
    negated: bool = False


@dataclass(frozen=True)
class And:
    """Conjunction of two or more expressions."""

    items: tuple[MetaExpr, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction of two or more expressions."""

    items: tuple[MetaExpr, ...]


@dataclass(frozen=True)
class Not:
    """Logical negation ``!expr`` (files lacking a key satisfy ``!(key = v)``)."""

    item: MetaExpr


MetaExpr = Union[Compare, InRange, InSet, Contains, Present, And, Or, Not]


@dataclass(frozen=True)
class DatasetSelector:
    """One entry of ``files from ...``.

    Exactly one of ``name``, ``pattern`` (SQL-LIKE style with ``* ? % _``) or
    ``regexp`` is set.
    """

    namespace: str
    name: str | None = None
    pattern: str | None = None
    regexp: str | None = None
    with_subsets: bool = False
    recursively: bool = False
    having: MetaExpr | None = None


@dataclass(frozen=True)
class AllFiles:
    """``files``: every file (retired ones only on request)."""


@dataclass(frozen=True)
class DatasetFiles:
    """``files from ds1, ds2, ...``."""

    selectors: tuple[DatasetSelector, ...]


@dataclass(frozen=True)
class FileList:
    """``files ns:a, b, ...``: explicit DIDs (namespaces already resolved)."""

    dids: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FidList:
    """``fids id1, id2, ...``."""

    fids: tuple[str, ...]


@dataclass(frozen=True)
class Where:
    """``query where expr``."""

    child: FileQuery
    expr: MetaExpr


@dataclass(frozen=True)
class Limit:
    """``query limit n``."""

    child: FileQuery
    count: int


@dataclass(frozen=True)
class Skip:
    """``query skip n`` (makes the query ordered)."""

    child: FileQuery
    count: int


@dataclass(frozen=True)
class Ordered:
    """``query ordered``: by creation time, then fid."""

    child: FileQuery


@dataclass(frozen=True)
class Union_:
    """``union(q1, q2, ...)`` or ``[q1, q2, ...]``."""

    children: tuple[FileQuery, ...]


@dataclass(frozen=True)
class Join:
    """``join(q1, q2, ...)`` or ``{q1, q2, ...}``: intersection."""

    children: tuple[FileQuery, ...]


@dataclass(frozen=True)
class Minus:
    """``a - b``."""

    left: FileQuery
    right: FileQuery


@dataclass(frozen=True)
class Parents:
    """``parents(q)``: non-retired direct parents of the files of ``q``."""

    child: FileQuery


@dataclass(frozen=True)
class Children:
    """``children(q)``: non-retired direct children of the files of ``q``."""

    child: FileQuery


@dataclass(frozen=True)
class Unsupported:
    """A construct that parses but that this catalog does not run (named queries, filters)."""

    what: str


FileQuery = Union[AllFiles, DatasetFiles, FileList, FidList, Where, Limit, Skip, Ordered, Union_, Join,
                  Minus, Parents, Children, Unsupported]
