"""Parse MQL text into the syntax tree of :mod:`.nodes`.

Use :func:`parse`. ``#`` starts a comment that runs to the end of the line,
even inside quotes (as upstream). Errors raise :class:`MQLSyntaxError` with the
line and column of the problem and a caret under it.
"""

from __future__ import annotations

import re
import threading
from typing import cast

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import MQLCompilationError, MQLSyntaxError
from . import nodes as n
from .grammar import GRAMMAR, TERMINAL_NAMES
from .transform import ToNodes

__all__ = ["MAX_QUERY_DEPTH", "MAX_QUERY_LENGTH", "MAX_QUERY_TERMS", "check_shape", "parse"]

#: Longest query text accepted, in characters.
MAX_QUERY_LENGTH = 1_000_000
#: Deepest nesting of query elements (sub-queries, clauses, and/or/not) accepted. It is checked
#: right after the (non-recursive) LALR parse, before any recursive step; redundant brackets
#: add no nesting.
MAX_QUERY_DEPTH = 64
#: Most conditions and file sources (``where`` tests, ``files ...`` terms) in one query.
MAX_QUERY_TERMS = 500

_TERMS = (n.Compare, n.InRange, n.InSet, n.Contains, n.Present, n.AllFiles, n.DatasetFiles, n.FileList,
          n.FidList, n.Unsupported)

_COMMENT = re.compile(r"#[^\n]*")

_PARSER: Lark | None = None
_LOCK = threading.Lock()


def _parser() -> Lark:
    global _PARSER
    with _LOCK:
        if _PARSER is None:
            _PARSER = Lark(GRAMMAR, parser="lalr", lexer="contextual", transformer=ToNodes(),
                           maybe_placeholders=True, propagate_positions=False)
        return _PARSER


def _describe(parser: Lark, names: set[str]) -> str:
    by_name = {t.name: t for t in parser.terminals}
    shown: list[str] = []
    for name in sorted(names):
        if name in TERMINAL_NAMES:
            label = TERMINAL_NAMES[name]
        elif name in by_name and by_name[name].pattern.type == "str":
            label = repr(by_name[name].pattern.value)
        else:
            label = name.lower()
        if label not in shown:
            shown.append(label)
    if len(shown) > 10:
        shown = shown[:10] + ["..."]
    return ", ".join(shown)


def _syntax_error(text: str, exc: UnexpectedInput) -> MQLSyntaxError:
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        line = text.count("\n") + 1
        column = len(text) - (text.rfind("\n") + 1) + 1
        what = "end of query"
    elif isinstance(exc, UnexpectedToken):
        what = repr(str(exc.token))
    elif isinstance(exc, UnexpectedCharacters):
        # UnexpectedCharacters.__init__ always sets pos_in_stream to the lexer's (int) position.
        what = repr(text[cast(int, exc.pos_in_stream)])
    else:
        what = "input"
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or set()
    message = f"MQL syntax error at line {line}, column {column}: unexpected {what}"
    if expected:
        message += f"; expected {_describe(_parser(), set(expected))}"
    lines = text.split("\n")
    if 0 < line <= len(lines):
        source = lines[line - 1]
        start = max(0, column - 60)
        message += f"\n  {source[start:start + 100]}\n  {' ' * (column - 1 - start)}^"
    return MQLSyntaxError(message, line if line > 0 else 0, column if column > 0 else 0)


def strip_comments(text: str) -> str:
    """Blank out ``#`` comments (keeping positions, so errors point at the right column)."""
    return _COMMENT.sub(lambda m: " " * len(m.group(0)), text)


def parse(text: str, default_namespace: str | None = None) -> n.FileQuery:
    """Parse an MQL file query.

    Args:
        text: The query.
        default_namespace: Namespace for names without one in ``files a, b`` lists.

    Returns:
        The root :mod:`.nodes` file-query node, with every DID's namespace filled in.

    Raises:
        MQLSyntaxError: The text does not follow the grammar (message names line and column).
        MQLCompilationError: It parses but a part is invalid (unknown key form, bad date, ...),
            or it is nested deeper than :data:`MAX_QUERY_DEPTH` or has more than
            :data:`MAX_QUERY_TERMS` terms.
    """
    if not isinstance(text, str):
        raise MQLSyntaxError("MQL query must be text")
    if len(text) > MAX_QUERY_LENGTH:
        raise MQLSyntaxError(f"MQL query is too long ({len(text)} characters, limit {MAX_QUERY_LENGTH})")
    clean = strip_comments(text)
    if not clean.strip():
        raise MQLSyntaxError("MQL query is empty")
    try:
        # The ToNodes transformer runs during the parse and ``?start: file_query`` is inlined,
        # so the result is a file-query node, not a lark Tree.
        tree = cast(n.FileQuery, _parser().parse(clean))
    except UnexpectedInput as exc:
        raise _syntax_error(clean, exc) from None
    except RecursionError:
        raise MQLSyntaxError(f"MQL query is nested too deeply (limit {MAX_QUERY_DEPTH} levels)") from None
    check_shape(tree)
    return _resolve_namespaces(tree, default_namespace)


def _children(node: object) -> list[object]:
    """The sub-nodes of a syntax-tree node (queries, expressions, dataset selectors)."""
    found: list[object] = []
    for name in getattr(node, "__dataclass_fields__", ()):
        value = getattr(node, name)
        for item in value if isinstance(value, tuple) else (value,):
            if hasattr(item, "__dataclass_fields__") and not isinstance(item, (n.MetaRef, n.AttrRef, n.LenRef,
                                                                                n.DateWindow)):
                found.append(item)
    return found


def check_shape(tree: n.FileQuery) -> None:
    """Refuse a query nested deeper than :data:`MAX_QUERY_DEPTH` or with more than :data:`MAX_QUERY_TERMS` terms.

    SQLite limits the depth of one statement's expression tree and parser
    stack; a query within these limits always compiles to SQL it accepts.
    Walks the tree without recursion.

    Raises:
        MQLCompilationError: the query is too deep or too big, naming the limit.
    """
    depth, terms = 0, 0
    level: list[object] = [tree]
    while level:
        depth += 1
        if depth > MAX_QUERY_DEPTH:
            raise MQLCompilationError(f"query is nested too deeply (limit {MAX_QUERY_DEPTH} levels of sub-queries, "
                                      "clauses and and/or/not)")
        terms += sum(isinstance(node, _TERMS) for node in level)
        if terms > MAX_QUERY_TERMS:
            raise MQLCompilationError(f"query has too many terms (limit {MAX_QUERY_TERMS} conditions and "
                                      "sub-queries)")
        level = [child for node in level for child in _children(node)]


def _resolve_namespaces(node: n.FileQuery, default: str | None) -> n.FileQuery:
    """Fill the namespace of each ``files a, b`` entry: the default, else the previous entry's."""
    if isinstance(node, n.FileList):
        dids: list[tuple[str, str]] = []
        previous: str | None = None
        for given, name in node.dids:
            namespace = given or default or previous
            if namespace is None:
                raise MQLCompilationError(f"file {name!r} has no namespace: write namespace:name "
                                          "or pass a default namespace")
            dids.append((namespace, name))
            previous = namespace
        return n.FileList(tuple(dids))
    if isinstance(node, (n.Where, n.Limit, n.Skip, n.Ordered, n.Parents, n.Children)):
        fields = {f: getattr(node, f) for f in node.__dataclass_fields__}
        fields["child"] = _resolve_namespaces(node.child, default)
        return type(node)(**fields)
    if isinstance(node, (n.Union_, n.Join)):
        return type(node)(tuple(_resolve_namespaces(c, default) for c in node.children))
    if isinstance(node, n.Minus):
        return n.Minus(_resolve_namespaces(node.left, default), _resolve_namespaces(node.right, default))
    return node
