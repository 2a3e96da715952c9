"""Grammar, parser and literal values of the project search language.

This module covers the lexical and syntactic layer of the Data Dispatcher
project search language (protocol specification §8.1 and §8.2): the Lark
grammar, a cached LALR parser, the conversion of constant tokens to values
and the parsing of date/time and interval strings. The meaning of a parsed
query is implemented in :mod:`dd_notebook.server.search`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

__all__ = [
    "MAX_QUERY_DEPTH",
    "MAX_QUERY_LENGTH",
    "Const",
    "SearchError",
    "SearchSyntaxError",
    "constant",
    "parse",
    "parse_number",
    "parse_timestamp",
    "position",
    "split_range",
]


class SearchError(ValueError):
    """Any problem with a search query; message is plain text for an HTTP 400 body."""


class SearchSyntaxError(SearchError):
    """Parse error; message names the position (line/column or character offset) and what was expected/found."""


# Keywords are lower-case string literals; the basic lexer turns a WORD that
# equals a keyword into that keyword, so `AND` or `android` stay words.
GRAMMAR = r"""
start: disj

?disj: conj ("or" conj)*
?conj: term ("and" term)*

?term: "(" disj ")"
     | "!" term                        -> negation
     | operand (CMP | LIKE) constant   -> comparison
     | operand "in" in_rhs             -> in_test
     | operand "not" "in" in_rhs       -> not_in_test
     | operand "present"?              -> presence
     | operand "not" "present"         -> absence

?operand: WORD | STRING | NUMBER | subscript | length
subscript: WORD "[" (ANY | ALL | NUMBER | STRING) "]"
length: "len" "(" WORD ")"

in_rhs: "(" constant ("," constant)* ")"   -> value_set
      | (WORD | STRING | NUMBER)+           -> range_or_name
?constant: WORD | STRING | NUMBER

CMP: /!~\*|!~|~\*|!=|==|<=|>=|[<>=~]/
LIKE: "like"
ANY: "any"
ALL: "all"
STRING: /"[^"']*"|'[^"']*'/
WORD: /[A-Za-z0-9:%$@_^.*?\-]+/
NUMBER.2: /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z0-9:%$@_^.*?\-])/

%ignore /\s+/
"""

_PARSER = Lark(GRAMMAR, parser="lalr", lexer="basic", propagate_positions=False)

#: Longest query accepted, in characters (checked before parsing).
MAX_QUERY_LENGTH = 10_000
#: Deepest nesting of the parsed query (``!``, parentheses around ``and``/``or``, comparisons).
MAX_QUERY_DEPTH = 64

_TERMINAL_TEXT = {
    "$END": "end of query",
    "WORD": "a name or unquoted string",
    "STRING": "a quoted string",
    "NUMBER": "a number",
    "CMP": "a comparison operator",
}
_LITERALS = {t.name: repr(t.pattern.value) for t in _PARSER.terminals if t.pattern.type == "str"}

_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT_RE = re.compile(r"[+-]?\d+")


def position(token: Token) -> str:
    """Describe where a token starts.

    Args:
        token: A token produced by the parser.

    Returns:
        Text such as ``line 1, column 7``.
    """
    return f"line {token.line}, column {token.column}"


def _describe(name: str) -> str:
    return _TERMINAL_TEXT.get(name) or _LITERALS.get(name, name)


def parse(query: str) -> Tree:
    """Parse a search query.

    Args:
        query: The query text.

    Returns:
        The Lark parse tree.

    Raises:
        SearchSyntaxError: The query does not follow the grammar.
        SearchError: The query is longer than :data:`MAX_QUERY_LENGTH` characters or
            nested deeper than :data:`MAX_QUERY_DEPTH` levels.
    """
    if not query.strip():
        raise SearchSyntaxError("Syntax error at line 1, column 1: the query is empty; expected a search expression")
    if len(query) > MAX_QUERY_LENGTH:
        raise SearchError(f"The query is too long ({len(query)} characters; the limit is {MAX_QUERY_LENGTH})")
    try:
        tree = _PARSER.parse(query)
    except UnexpectedInput as exc:
        message = f"Syntax error at line {exc.line}, column {exc.column}: "
        if isinstance(exc, UnexpectedToken):
            found = repr(str(exc.token))
            if exc.token.type == "$END":
                line, column = query.count("\n") + 1, len(query) - query.rfind("\n")
                message, found = f"Syntax error at line {line}, column {column}: ", "end of query"
            message += f"unexpected {found}; expected " + ", ".join(sorted({_describe(n) for n in exc.expected}))
        elif isinstance(exc, UnexpectedCharacters) and exc.char in "\"'":
            message += f"unexpected {exc.char!r}; a quoted string must be closed and may not contain quote characters"
        else:
            message += f"unexpected character {getattr(exc, 'char', '')!r}"
        raise SearchSyntaxError(message) from None
    except RecursionError:
        raise SearchError(f"The query is nested too deeply (the limit is {MAX_QUERY_DEPTH} levels)") from None
    if _depth(tree) > MAX_QUERY_DEPTH:
        raise SearchError(f"The query is nested too deeply (the limit is {MAX_QUERY_DEPTH} levels of '!', "
                          "parentheses and and/or)")
    return tree


def _depth(tree: Tree) -> int:
    """Depth of a parse tree, measured without recursion."""
    deepest, level = 0, [tree]
    while level:
        deepest += 1
        level = [child for node in level for child in node.children if isinstance(child, Tree)]
    return deepest


@dataclass(frozen=True)
class Const:
    """A constant of the query.

    Attributes:
        value: The typed value (bool, int, float or str).
        text: The string content of a quoted string, else the token text.
        token: The token the constant comes from (for error positions).
    """

    value: bool | int | float | str
    text: str
    token: Token


def parse_number(text: str) -> int | float | None:
    """Read a number the way the query lexer does.

    Args:
        text: Candidate text, e.g. ``007``, ``+5``, ``1.``, ``.5`` or ``1e3``.

    Returns:
        An int or a float, or None when the text does not read as a number.
    """
    if _INT_RE.fullmatch(text):
        return int(text)
    if _NUMBER_RE.fullmatch(text):
        return float(text)
    return None


def _word_value(text: str) -> bool | int | float | str:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    number = parse_number(text)
    return text if number is None else number


def constant(token: Token) -> Const:
    """Convert a WORD, STRING or NUMBER token to a constant.

    Args:
        token: The token.

    Returns:
        The constant; ``null`` is the string "null" and booleans are case-insensitive.
    """
    if token.type == "STRING":
        return Const(token.value[1:-1], token.value[1:-1], token)
    return Const(_word_value(token.value), token.value, token)


def split_range(tokens: tuple[Token, ...]) -> tuple[Const, Const] | None:
    """Read the operand after ``in`` as a range ``lo:hi``.

    Unquoted words may contain colons, so ``1:5`` arrives as one WORD token
    while ``"a" : "b"`` arrives as three tokens.

    Args:
        tokens: The WORD, STRING and NUMBER tokens following ``in``.

    Returns:
        The bounds, or None when there is no colon (the operand is then a name).

    Raises:
        SearchSyntaxError: There are colons but not exactly one ``lo:hi`` pair.
    """
    atoms: list[Const | None] = []  # None marks a colon
    for token in tokens:
        if token.type != "WORD":
            atoms.append(constant(token))
            continue
        for index, piece in enumerate(token.value.split(":")):
            if index:
                atoms.append(None)
            if piece:
                atoms.append(Const(_word_value(piece), piece, token))
    if None not in atoms:
        return None
    lo, *rest = atoms
    if lo is None or len(rest) != 2 or rest[0] is not None or rest[1] is None:
        raise SearchSyntaxError(
            f"Syntax error at {position(tokens[0])}: expected a range lo:hi with exactly one ':' "
            "(quote bounds that contain ':')"
        )
    return lo, rest[1]


_TIMESTAMP_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?",
    re.IGNORECASE,
)


def parse_timestamp(text: str) -> float:
    """Convert a date/time string to epoch seconds.

    Accepted: ``YYYY-MM-DD`` (midnight), ``YYYY-MM-DD HH:MM[:SS[.ffffff]]``
    with a space or ``T`` separator and an optional zone ``Z`` or ``±HH[:MM]``.
    A value without a zone is local time of the server process.

    Args:
        text: The date/time text.

    Returns:
        Seconds since the Unix epoch.

    Raises:
        ValueError: The text is not a valid date/time.
    """
    match = _TIMESTAMP_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tzinfo = None
    if zone and zone.upper() == "Z":
        tzinfo = timezone.utc
    elif zone:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tzinfo = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0)))
    moment = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
        int((fraction or "0").ljust(6, "0")), tzinfo=tzinfo,
    )
    return moment.timestamp()
