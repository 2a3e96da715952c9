"""Checks of names, DIDs, metadata keys, checksums and sizes given to the catalog."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from ..core.numbers import MAX_SQLITE_INT
from .errors import CatalogInvalidInput

__all__ = [
    "MAX_INT",
    "MAX_JSON_DEPTH",
    "check_bool",
    "check_checksums",
    "check_json_values",
    "check_metadata",
    "check_name",
    "check_size",
    "new_fid",
    "parse_did",
]

#: Largest integer SQLite stores (and orjson writes).
MAX_INT = MAX_SQLITE_INT
#: Deepest nesting of lists and objects accepted in metadata (the JSON writer stops at 255).
MAX_JSON_DEPTH = 64

_NAME = re.compile(r"[A-Za-z0-9_./-]+")
_CHECKSUM_TYPE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_HEX = re.compile(r"[0-9a-f]+")
_HEX_LENGTHS = {"adler32": 8, "crc32": 8, "md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_MAX_NAME = 1024
_MAX_KEY = 256


def check_name(value: Any, what: str = "name") -> str:
    """Return ``value`` if it is a valid namespace, dataset, file name or fid.

    Args:
        value: Candidate; letters, digits and ``_ . / -`` only (MetaCat's sanitiser rule).
        what: Word used in the error message ("namespace", "dataset name", ...).

    Raises:
        CatalogInvalidInput: ``value`` is not a string of allowed characters.
    """
    if not isinstance(value, str) or not value:
        raise CatalogInvalidInput(f"{what} must be a non-empty string, got {_short(value)}")
    if len(value) > _MAX_NAME or not _NAME.fullmatch(value):
        raise CatalogInvalidInput(f"invalid {what} {_short(value)}: use letters, digits and _ . / - only")
    return value


def parse_did(text: Any, default_namespace: str | None = None, what: str = "DID") -> tuple[str, str]:
    """Split ``"namespace:name"`` (or a bare name with ``default_namespace``).

    Raises:
        CatalogInvalidInput: malformed text or no namespace available.
    """
    if not isinstance(text, str) or not text:
        raise CatalogInvalidInput(f"{what} must be a string 'namespace:name', got {_short(text)}")
    namespace, sep, name = text.partition(":")
    if not sep:
        if default_namespace is None:
            raise CatalogInvalidInput(f"{what} {_short(text)} has no namespace: use namespace:name")
        namespace, name = default_namespace, text
    return check_name(namespace, "namespace"), check_name(name, "name")


def check_bool(value: Any, what: str) -> bool:
    """Return ``value`` if it is a JSON boolean."""
    if not isinstance(value, bool):
        raise CatalogInvalidInput(f"{what} must be true or false, got {_short(value)}")
    return value


def check_size(value: Any, what: str = "size") -> int:
    """Return ``value`` if it is an integer in ``[0, 2**63)``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise CatalogInvalidInput(f"{what} must be a non-negative integer, got {_short(value)}")
    return value


def check_metadata(value: Any, what: str = "metadata") -> dict[str, Any]:
    """Return ``value`` if it is an object whose keys all contain a dot (``category.name``)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CatalogInvalidInput(f"{what} must be a JSON object, got {_short(value)}")
    for key in value:
        if (not isinstance(key, str) or "." not in key or key.startswith(".") or key.endswith(".")
                or len(key) > _MAX_KEY or any(ch in key for ch in '"\\\n\r\t')):
            raise CatalogInvalidInput(
                f"invalid {what} key {_short(key)}: keys look like category.name (a dot is required)")
    check_json_values(value, what)
    return value


def check_json_values(value: Any, what: str) -> None:
    """Refuse JSON nested deeper than :data:`MAX_JSON_DEPTH` or holding integers SQLite cannot store.

    Walks the value level by level, without recursion.

    Raises:
        CatalogInvalidInput: naming the limit that was exceeded.
    """
    level, depth = [value], 0
    while level:
        for item in level:
            if type(item) is int and abs(item) > MAX_INT:
                raise CatalogInvalidInput(f"{what} holds the integer {item}, out of range (limit {MAX_INT} "
                                          "in magnitude)")
        containers = [item for item in level if isinstance(item, (dict, list))]
        if not containers:
            return
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise CatalogInvalidInput(f"{what} is nested too deeply (limit {MAX_JSON_DEPTH} levels of lists "
                                      "and objects)")
        level = [item for c in containers for item in (c.values() if isinstance(c, dict) else c)]


def check_checksums(value: Any) -> dict[str, str] | None:
    """Return checksums as ``{type: lowercase hex}`` or None; known types must have the right length."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CatalogInvalidInput(f"checksums must be a JSON object, got {_short(value)}")
    out: dict[str, str] = {}
    for kind, digest in value.items():
        if not isinstance(kind, str) or not _CHECKSUM_TYPE.fullmatch(kind):
            raise CatalogInvalidInput(f"invalid checksum type {_short(kind)}")
        if not isinstance(digest, str) or not _HEX.fullmatch(digest.lower()):
            raise CatalogInvalidInput(f"checksum {kind} must be a hexadecimal string, got {_short(digest)}")
        expected = _HEX_LENGTHS.get(kind.lower())
        if expected is not None and len(digest) != expected:
            raise CatalogInvalidInput(f"checksum {kind} must have {expected} hex digits, got {len(digest)}")
        out[kind] = digest.lower()
    return out


def new_fid() -> str:
    """Return a fresh 16-character alphanumeric file id."""
    while True:
        candidate = base64.b64encode(uuid.uuid4().bytes).decode()[:16]
        if candidate.isalnum():
            return candidate


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
