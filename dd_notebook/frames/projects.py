"""Projects, RSEs and the proximity map as DataFrames."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from ._convert import (
    attribute_columns,
    pluck,
    to_bool,
    to_fixed_category,
    to_float,
    to_int,
    to_object,
    to_str,
    to_utc,
)
from ._schema import (
    HANDLE_STATES,
    PROJECT_COLUMNS,
    PROJECT_STATE_DTYPE,
    PROXIMITY_COLUMNS,
    RSE_COLUMNS,
    empty_frame,
)
from .handles import is_columnar


def _project_fields(item: Mapping[str, Any]) -> tuple[Mapping[str, Any], Sequence[Any] | None]:
    """Split a project (dict or columnar form) into its fields and its handle states (``None`` if not listed)."""
    if is_columnar(item):
        return item.get("project") or {}, item["handles"].get("state") or []
    handles = item.get("file_handles")
    return item, None if handles is None else [h.get("state") for h in handles]


def projects_frame(
    projects: Mapping[str, Any] | Iterable[Mapping[str, Any]],
    *,
    expand_attributes: bool | Sequence[str] = False,
    attr_prefix: str = "attr.",
) -> pd.DataFrame:
    """One row per project.

    Parameters
    ----------
    projects
        A project dict, or a list of them (``list_projects``/``search_projects``);
        the columnar form is accepted too.
    expand_attributes
        ``True`` or a list of keys: add project-attribute columns ``attr_prefix + key``.
    attr_prefix
        Prefix of expanded attribute columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``project_id``, ``owner``, ``state`` (categorical), ``active``
        (boolean), ``created_timestamp``/``ended_timestamp`` (datetime64[ns, UTC]),
        ``query``, ``worker_timeout_s``/``idle_timeout_s`` (float seconds),
        ``users``, ``roles``, ``attributes``, and handle counts ``n_handles``,
        ``n_initial``, ``n_reserved``, ``n_done``, ``n_failed`` (Int64, missing
        when the project was fetched without its handles).
    """
    items = [projects] if isinstance(projects, Mapping) else list(projects)
    if not items:
        return empty_frame(PROJECT_COLUMNS)
    split = [_project_fields(item) for item in items]
    fields = [f for f, _ in split]
    counts = [None if states is None else Counter(states) for _, states in split]
    attributes = [f.get("attributes") or {} for f in fields]
    data: dict[str, Any] = {
        "project_id": to_int(pluck(fields, "project_id")),
        "owner": to_str(pluck(fields, "owner")),
        "state": to_fixed_category(pluck(fields, "state"), PROJECT_STATE_DTYPE, "project state"),
        "active": to_bool(pluck(fields, "active")),
        "created_timestamp": to_utc(pluck(fields, "created_timestamp")),
        "ended_timestamp": to_utc(pluck(fields, "ended_timestamp")),
        "query": to_str(pluck(fields, "query")),
        "worker_timeout_s": to_float(pluck(fields, "worker_timeout")),
        "idle_timeout_s": to_float(pluck(fields, "idle_timeout")),
        "users": to_object([list(f.get("users") or []) for f in fields]),
        "roles": to_object([list(f.get("roles") or []) for f in fields]),
        "attributes": to_object(attributes),
        "n_handles": to_int([None if c is None else c.total() for c in counts]),
    }
    for state in HANDLE_STATES:
        data[f"n_{state}"] = to_int([None if c is None else c[state] for c in counts])
    data.update(attribute_columns(attributes, expand_attributes, attr_prefix))
    return pd.DataFrame(data)


def rses_frame(rses: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per RSE (protocol §2.4), flags as nullable ``boolean``, ``preference`` as ``Int64``."""
    items = [rses] if isinstance(rses, Mapping) else list(rses)
    if not items:
        return empty_frame(RSE_COLUMNS)
    builders = {"boolean": to_bool, "Int64": to_int}
    data = {
        column: builders.get(str(dtype), to_str)(pluck(items, column))
        for column, dtype in RSE_COLUMNS.items()
    }
    return pd.DataFrame(data)


def proximity_frame(
    rows: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """The proximity map as a long frame ``cpu, rse, proximity`` (protocol §7.4).

    Parameters
    ----------
    rows
        Rows shaped ``{"cpu": ..., "rse": ..., "proximity": ...}`` (the database
        table), or the configuration shape ``{cpu: {rse: proximity}}``.
    """
    if isinstance(rows, Mapping):
        items: list[Mapping[str, Any]] = [
            {"cpu": cpu, "rse": rse, "proximity": p} for cpu, m in rows.items() for rse, p in m.items()]
    else:
        items = list(rows)
    if not items:
        return empty_frame(PROXIMITY_COLUMNS)
    return pd.DataFrame(
        {
            "cpu": to_str(pluck(items, "cpu")),
            "rse": to_str(pluck(items, "rse")),
            "proximity": to_int(pluck(items, "proximity")),
        }
    )


def proximity_matrix(
    proximity: pd.DataFrame,
    *,
    rses: Sequence[str] | None = None,
    effective: bool = False,
) -> pd.DataFrame:
    """Pivot a proximity frame into a CPU-site x RSE matrix (``Int64``, missing = no row).

    Parameters
    ----------
    proximity
        A frame from :func:`proximity_frame`.
    rses
        RSE names to show as columns (in this order) in addition to those in the map.
    effective
        Fill each empty cell the way the server resolves it (§7.4 steps 3-4): the
        CPU site's own ``DEFAULT`` entry. A cell stays missing when the site has
        none. Server-side configuration overrides are not known here.
    """
    wide = proximity.pivot_table(index="cpu", columns="rse", values="proximity", aggfunc="last", observed=True)
    columns = list(wide.columns)
    for name in rses or ():
        if name not in columns:
            columns.append(name)
    wide = wide.reindex(columns=columns)
    if effective and "DEFAULT" in wide.columns:
        fallback = wide["DEFAULT"]
        wide = wide.apply(lambda column: column.fillna(fallback))
    wide = wide.astype("Int64")
    wide.index.name, wide.columns.name = "cpu", "rse"
    return wide
