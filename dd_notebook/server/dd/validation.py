"""Validation of request bodies: everything is checked before anything is written."""

from __future__ import annotations

from typing import Any

from ..core.durations import parse_duration
from ..core.errors import bad_request

MAX_NAME_LENGTH = 4096
#: Longest file namespace or name, in UTF-8 bytes.
MAX_FILE_NAME_BYTES = 1000
#: Deepest nesting of lists/objects accepted in attributes (the JSON writer stops at 255).
MAX_JSON_DEPTH = 64


def file_spec(spec: Any) -> tuple[str, str, dict[str, Any]]:
    """Validate one ``create_project`` file specification (spec §3.3).

    Returns:
        ``(namespace, name, attributes)``.
    """
    if isinstance(spec, str):
        parts = spec.split(":")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise bad_request(f"Invalid file specification: {spec[:100]} - can not parse as namespace:name")
        return file_name_part(parts[0], "namespace"), file_name_part(parts[1], "name"), {}
    if isinstance(spec, dict):
        namespace, name = spec.get("namespace"), spec.get("name")
        if not namespace or not name:
            raise bad_request(f"Invalid file specification: {spec} - namespace or name missing")
        if not isinstance(namespace, str) or not isinstance(name, str) or ":" in namespace:
            raise bad_request(f"Invalid file specification: {spec} - namespace and name must be strings "
                              "and the namespace may not contain ':'")
        file_name_part(namespace, "namespace")
        file_name_part(name, "name")
        attributes = spec.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise bad_request(f"Invalid file specification: {spec} - invalid file attributes specification, "
                              "expected a dictionary")
        check_depth(attributes, f"attributes of file {namespace}:{name}")
        return namespace, name, attributes
    raise bad_request(f"Invalid file specification: {spec} - unsupported type")


def file_name_part(value: str, what: str) -> str:
    """400 when a file's namespace or name holds a control character or exceeds :data:`MAX_FILE_NAME_BYTES`."""
    if len(value) > MAX_FILE_NAME_BYTES or len(value.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME_BYTES:
        raise bad_request(f"Invalid file {what} {value[:40]!r}...: longer than {MAX_FILE_NAME_BYTES} bytes")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise bad_request(f"Invalid file {what} {value[:80]!r}: control characters (NUL, newline, ...) "
                          "are not allowed")
    return value


def check_name(value: str, what: str) -> str:
    """Reject overlong names and control characters."""
    if len(value) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in value):
        raise bad_request(f"Invalid {what}: {value[:80]!r}")
    return value


def optional_object(body: dict[str, Any], key: str) -> dict[str, Any]:
    """Return ``body[key]`` as a dict (absent or null gives ``{}``)."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{key} must be a JSON object, not {type(value).__name__}")
    check_depth(value, key)
    return value


def check_depth(value: Any, what: str, limit: int = MAX_JSON_DEPTH) -> None:
    """400 when lists/objects in ``value`` are nested more than ``limit`` levels deep.

    Args:
        value: Decoded JSON.
        what: Name of the value for the message.
        limit: Deepest nesting accepted (``{}`` is one level).
    """
    level: list[Any] = [value]
    depth = 0
    while level:
        containers = [v for v in level if isinstance(v, (dict, list))]
        if not containers:
            return
        depth += 1
        if depth > limit:
            raise bad_request(f"{what} are nested too deeply (limit {limit} levels of lists and objects)")
        level = [item for c in containers for item in (c.values() if isinstance(c, dict) else c)]


def optional_string(body: dict[str, Any], key: str) -> str | None:
    """Return ``body[key]`` as text or None."""
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise bad_request(f"{key} must be a string or null")


def string_list(body: dict[str, Any], key: str) -> list[str]:
    """Return ``body[key]`` as a list of strings (absent or null gives ``[]``)."""
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"{key} must be a list of strings")
    return list(dict.fromkeys(value))


def timeout_seconds(value: Any, key: str) -> float | None:
    """Return a timeout in seconds from a number, null, or a duration text.

    Accepted texts: ``"600"``, ``"10m"``, ``"2 hours"``, ``"1.5d"``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise bad_request(f"{key} must be a number of seconds or null, not a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise bad_request(f"{key} must be a number of seconds or a duration like '10m' or '2 hours', "
                              f"not {value!r}") from None
    else:
        raise bad_request(f"{key} must be a number of seconds or null")
    if not seconds >= 0 or seconds > 1e11:
        raise bad_request(f"{key} must be a non-negative number of seconds, not {value!r}")
    return seconds


def split_did(did: Any) -> tuple[str, str]:
    """Split ``namespace:name`` at the first colon; 400 when malformed."""
    if not isinstance(did, str):
        raise bad_request(f"Invalid DID: {did!r} (expected 'namespace:name')")
    namespace, sep, name = did.partition(":")
    if not sep or not namespace or not name:
        raise bad_request(f"Invalid DID: {did[:100]!r} (expected 'namespace:name')")
    return file_name_part(namespace, "namespace"), file_name_part(name, "name")
