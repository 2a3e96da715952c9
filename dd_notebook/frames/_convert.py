"""Column builders: lists of JSON values -> typed pandas arrays, built column-wise.

All builders take plain Python lists (as produced by ``json.loads``) and avoid
per-row pandas work; the converters in this package call them once per column.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from ._schema import BOOL_DTYPE, INT_DTYPE, STR_DTYPE

log = logging.getLogger(__name__)

_NAT = np.iinfo(np.int64).min


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large columns.

    Building a million small containers otherwise triggers repeated full
    collections that scan every parsed JSON object, which dominates run time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def pluck(records: Sequence[Mapping[str, Any]], key: str) -> list[Any]:
    """Return ``[r.get(key) for r in records]``, using the C fast path when every record has ``key``."""
    try:
        return list(map(itemgetter(key), records))
    except KeyError:
        return [r.get(key) for r in records]


def pluck_columns(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, list[Any]]:
    """Transpose records into one list per key (missing keys give ``None``), visiting each record once.

    One pass over the records is several times faster than one pass per key
    because each record is fetched from memory only once.
    """
    columns: list[list[Any]] = [[] for _ in keys]
    pairs = [(column.append, key) for column, key in zip(columns, keys)]
    for record in records:
        get = record.get
        for append, key in pairs:
            append(get(key))
    return dict(zip(keys, columns))


def seconds_to_ns(values: Sequence[Any]) -> np.ndarray:
    """Convert epoch seconds (float, int or ``None``) to int64 nanoseconds, NaT for missing.

    Values are rounded to the microsecond: a float epoch carries about 0.2 µs
    of precision, and the servers keep microseconds.
    """
    try:
        seconds = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        parsed = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        bad = int(parsed.isna().sum()) - sum(v is None for v in values)
        if bad:
            log.warning("%d timestamp value(s) are not numbers; they become NaT", bad)
        seconds = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(seconds)
    seconds = np.where(missing, 0.0, seconds)
    whole = np.floor(seconds)
    micros = whole.astype(np.int64) * 1_000_000 + np.round((seconds - whole) * 1e6).astype(np.int64)
    ns = micros * 1000
    ns[missing] = _NAT
    return ns


def ns_to_utc(ns: np.ndarray) -> pd.arrays.DatetimeArray:
    """Wrap int64 nanoseconds (NaT as int64 min) as a ``datetime64[ns, UTC]`` array."""
    return pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC").array


def to_utc(values: Sequence[Any]) -> pd.arrays.DatetimeArray:
    """Convert epoch seconds to a ``datetime64[ns, UTC]`` array."""
    return ns_to_utc(seconds_to_ns(values))


def to_int(values: Sequence[Any]) -> pd.arrays.IntegerArray:
    """Convert integers (``None`` allowed) to a nullable ``Int64`` array."""
    if isinstance(values, list) and values and values.count(None) == len(values):
        return pd.arrays.IntegerArray(np.zeros(len(values), dtype=np.int64), np.ones(len(values), dtype=bool))
    try:
        return pd.array(np.asarray(values, dtype=np.int64), dtype=INT_DTYPE)
    except (TypeError, ValueError):
        return pd.array(list(values), dtype=INT_DTYPE)


def to_float(values: Sequence[Any]) -> np.ndarray:
    """Convert numbers (``None`` allowed) to float64 with NaN for missing."""
    return np.asarray(values, dtype=np.float64)


def to_bool(values: Sequence[Any]) -> pd.arrays.BooleanArray:
    """Convert booleans (``None`` allowed) to a nullable ``boolean`` array."""
    return pd.array(list(values), dtype=BOOL_DTYPE)


def to_str(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """Convert strings (``None`` allowed) to the pandas ``str`` dtype."""
    array = values if isinstance(values, np.ndarray) else to_object(values)
    return pd.array(array, dtype=STR_DTYPE)


def to_object(values: Sequence[Any]) -> np.ndarray:
    """Wrap arbitrary values (dicts, lists) in a 1-D object array without inspecting them."""
    return np.fromiter(values, dtype=object, count=len(values))


def category_codes(values: Sequence[Any], categories: Sequence[str], what: str) -> np.ndarray:
    """Map values onto the positions of a fixed vocabulary; ``None`` and unknown values give -1."""
    lookup = {c: i for i, c in enumerate(categories)}
    codes = np.fromiter(map(lookup.get, values, repeat(-1)), dtype=np.int8, count=len(values))
    unknown = (codes < 0).sum()
    if unknown:
        strays = {v for v in values if v is not None and v not in lookup}
        if strays:
            log.warning("unknown %s value(s) %s become missing", what, sorted(map(str, strays))[:5])
    return codes


def to_fixed_category(values: Sequence[Any], dtype: pd.CategoricalDtype, what: str) -> pd.Categorical:
    """Build a categorical of a fixed vocabulary (handle/project states, events)."""
    codes = category_codes(values, list(dtype.categories), what)
    return pd.Categorical.from_codes(codes, dtype=dtype)


def join_did(namespaces: Sequence[Any], names: Sequence[Any]) -> list[Any]:
    """Build ``namespace:name`` strings; a missing part gives ``None``."""
    try:
        return list(map(":".join, zip(namespaces, names)))
    except TypeError:
        return [None if ns is None or n is None else f"{ns}:{n}" for ns, n in zip(namespaces, names)]


def infer_array(values: list[Any]) -> Any:
    """Pick the tightest dtype for a column of JSON values (attribute columns).

    bool -> ``boolean``, int -> ``Int64``, int/float mix -> float64, str -> ``str``;
    anything else (nested objects, mixed types, all missing) stays ``object``.
    """
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if kinds == {bool}:
        return to_bool(values)
    if kinds == {int}:
        try:
            return to_int(values)
        except OverflowError:
            return to_object(values)
    if kinds and kinds <= {int, float}:
        return to_float(values)
    if kinds == {str}:
        return to_str(values)
    return to_object(values)


def attribute_keys(attributes: Sequence[Mapping[str, Any] | None], wanted: bool | Sequence[str]) -> list[str]:
    """Resolve ``expand_attributes``: ``True`` gives every key seen (first-seen order), a list gives itself."""
    if wanted is True:
        return list(dict.fromkeys(chain.from_iterable(a for a in attributes if a)))
    if not wanted:
        return []
    if isinstance(wanted, str):
        return [wanted]
    return list(wanted)


def attribute_columns(
    attributes: Sequence[Mapping[str, Any] | None],
    wanted: bool | Sequence[str],
    prefix: str,
) -> dict[str, Any]:
    """Expand attribute dicts into typed columns named ``prefix + key``."""
    columns: dict[str, Any] = {}
    for key in attribute_keys(attributes, wanted):
        columns[prefix + key] = infer_array([a.get(key) if a else None for a in attributes])
    return columns

