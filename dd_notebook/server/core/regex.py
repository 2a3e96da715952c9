"""Regular expressions sent by clients, run by RE2: time linear in the text, whatever the pattern.

Python's ``re`` backtracks: ``^(.|.){0,26}Z`` takes 2^26 steps on a short
text, holding the GIL. RE2 never backtracks, so it cannot express what needs
backtracking (backreferences, lookaround, possessive quantifiers); such a
pattern is refused with a message naming the feature.
"""

from __future__ import annotations

import functools
import re

import re2

__all__ = ["MAX_GROUP_DEPTH", "MAX_PATTERN_CHARS", "MAX_REPEAT", "UnsupportedRegex", "compile_user_regex"]

#: Longest pattern accepted, in characters.
MAX_PATTERN_CHARS = 10_000
#: Largest repetition count (``a{n}``), RE2's own limit.
MAX_REPEAT = 1000
#: Deepest nesting of groups accepted.
MAX_GROUP_DEPTH = 100

_COUNTS = re.compile(r"(?<!\\)\{(\d+)(?:,(\d*))?\}")
#: RE2 error text → the feature it means.
_FEATURES = (
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?P", "named backreference (?P=name)"),
    ("(?>", "atomic group (?>...)"),
    ("invalid escape sequence: \\", "backreference or escape"),
    ("bad repetition operator", "possessive or repeated quantifier"),
    ("invalid repetition size", f"repetition count too large (limit {MAX_REPEAT}, nested counts multiply)"),
)


class UnsupportedRegex(ValueError):
    """A pattern RE2 cannot compile; the message names the problem."""


def _problem(error: str) -> str:
    for marker, feature in _FEATURES:
        if marker in error:
            detail = error.split(":", 1)[1].strip() if ":" in error else error
            return f"unsupported {feature} ({detail}); patterns run on the linear-time engine RE2"
    return error


def _group_depth(pattern: str) -> int:
    """Deepest nesting of parentheses, not counting escaped ones or those inside ``[...]``."""
    depth = deepest = 0
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


@functools.lru_cache(maxsize=256)
def compile_user_regex(pattern: str, ignore_case: bool = False) -> re2._Regexp:
    """Compile a client's pattern with RE2.

    Args:
        pattern: The regular expression (Python/Perl syntax without backtracking features).
        ignore_case: Match case-insensitively.

    Returns:
        A compiled pattern with ``search(text)`` like ``re``'s.

    Raises:
        UnsupportedRegex: the pattern is too long, repeats more than :data:`MAX_REPEAT`
            times, uses a feature RE2 lacks, or is malformed.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsupportedRegex(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    for match in _COUNTS.finditer(pattern):
        if any(count and (len(count) > 4 or int(count) > MAX_REPEAT) for count in match.groups()):
            raise UnsupportedRegex(f"repetition count too large (limit {MAX_REPEAT}): {match.group(0)[:20]}")
    if _group_depth(pattern) > MAX_GROUP_DEPTH:
        raise UnsupportedRegex(f"groups nested too deeply (limit {MAX_GROUP_DEPTH} levels)")
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        text = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise UnsupportedRegex(_problem(text)) from None
