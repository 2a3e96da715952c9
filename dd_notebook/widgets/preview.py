"""What a project made from an MQL query would hold: counts, sizes, datasets, replica availability.

:func:`compute_preview` runs the query once through a MetaCat client, then
asks the DD server's ``file_summary`` extension for the files' replicas and
datasets, and summarises everything with vectorised pandas (a 100,000-file
selection takes about as long as the query itself). Only the first rows are
rendered. On a server without the extension (production), replica
availability is reported as unknown until the project exists, and files are
grouped by namespace instead of dataset.

Availability of one replica, best first:

====================  ==========================================================
``available``         replica available and RSE available
``tape not staged``   tape RSE, replica not available (must be staged first)
``replica unavailable``  disk RSE, replica marked unavailable
``RSE down``          the RSE is not available
``RSE disabled``      the RSE is disabled (the server ignores its replicas)
``no replica``        the file has no replica at all (per file only)
====================  ==========================================================

A file's availability is the best of its replicas'.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..client.errors import EndpointUnavailableError
from ..palette import AVAILABILITY_COLORS, STATE_COLORS
from ._base import html_table, human_bytes

log = logging.getLogger(__name__)

__all__ = ["AVAILABILITY", "AVAILABILITY_COLORS_BY_NAME", "Preview", "compute_preview"]

#: Availability categories, best first.
AVAILABILITY = ("available", "tape not staged", "replica unavailable", "RSE down", "RSE disabled", "no replica")

#: Colour of each category, from the shared palette.
AVAILABILITY_COLORS_BY_NAME: dict[str, str] = {
    "available": AVAILABILITY_COLORS["usable"],
    "tape not staged": AVAILABILITY_COLORS["not staged"],
    "replica unavailable": AVAILABILITY_COLORS["not staged"],
    "RSE down": AVAILABILITY_COLORS["RSE down"],
    "RSE disabled": AVAILABILITY_COLORS["RSE disabled"],
    "no replica": STATE_COLORS["initial"],
}

_NO_REPLICA = AVAILABILITY.index("no replica")
_NO_DATASET = "(in no dataset)"
ROW_COLUMNS = ("namespace", "name", "size", "datasets", "replicas")


@dataclass
class Preview:
    """Summary of the files an MQL query selects, before a project is made from them.

    Attributes
    ----------
    query
        The MQL query.
    file_count
        Files selected.
    total_size
        Sum of the files' sizes in bytes (files without a size count as 0).
    by_dataset
        Columns ``dataset, files, size`` (by namespace, column ``namespace``,
        when the server cannot tell datasets), most files first; among
        datasets with as many files, the one holding fewer files in the
        catalog (the more specific) first.
    by_availability
        Files per availability category (the best of each file's replicas), or
        None when unknown.
    by_rse
        Replicas per RSE (rows) and category (columns), or None when unknown.
    rows
        The first files: ``namespace, name, size, datasets, replicas``.
    replicas_known
        Whether the server told the replicas.
    notes
        Plain sentences about what is unknown.
    """

    query: str
    file_count: int
    total_size: int
    by_dataset: pd.DataFrame
    by_availability: dict[str, int] | None
    by_rse: pd.DataFrame | None
    rows: pd.DataFrame
    replicas_known: bool
    notes: list[str] = field(default_factory=list)

    @property
    def total_size_text(self) -> str:
        """The total size in human units (``1.2 TB``)."""
        return human_bytes(self.total_size)

    @property
    def headline(self) -> str:
        """``"1,234 files, 1.2 TB"``."""
        return f"{self.file_count:,} files, {self.total_size_text}"

    def _repr_html_(self) -> str:
        parts = [f"<div class='dd-preview-summary'><div class='dd-title'>{html.escape(self.headline)}</div>"]
        if not self.file_count:
            parts.append("<div class='dd-note'>the query selected no files: nothing to create</div></div>")
            return "".join(parts)
        parts.append(_availability_html(self))
        frame = self.by_dataset.assign(size=self.by_dataset["size"].map(human_bytes))
        parts.append(html_table(frame, max_rows=20, numeric=("size",)))
        if self.by_rse is not None and len(self.by_rse):
            per_rse = self.by_rse.reset_index().rename(columns={"index": "rse"})
            parts.append("<div class='dd-subtitle'>replicas per RSE</div>" + html_table(per_rse, max_rows=50))
        rows = self.rows.assign(size=self.rows["size"].map(human_bytes))
        parts.append(f"<div class='dd-subtitle'>first {len(rows)} of {self.file_count:,} files</div>"
                     + "<div class='dd-scroll'>"
                     + html_table(rows, max_rows=len(rows), numeric=("size",), css_class="dd-table dd-narrow")
                     + "</div>")
        parts.extend(f"<div class='dd-note'>{html.escape(note)}</div>" for note in self.notes)
        parts.append("</div>")
        return "".join(parts)


def _availability_html(preview: Preview) -> str:
    counts = preview.by_availability
    if counts is None:
        return ("<div class='dd-availability dd-unknown'>replica availability: unknown until the project "
                "exists</div>")
    total = sum(counts.values()) or 1
    segments = "".join(
        f"<div title='{html.escape(k)}: {v:,}' style='width:{100.0 * v / total:.3f}%;"
        f"background:{AVAILABILITY_COLORS_BY_NAME[k]}'></div>" for k, v in counts.items() if v)
    legend = ", ".join(
        f"<span style='color:{AVAILABILITY_COLORS_BY_NAME[k]}'>&#9632;</span> {html.escape(k)}: {v:,}"
        for k, v in counts.items() if v)
    return (f"<div class='dd-availability'><div class='dd-bar' style='display:flex;height:12px;"
            f"border-radius:3px;overflow:hidden;background:#eee'>{segments}</div>"
            f"<div class='dd-note'>files by best replica: {legend}</div></div>")


def _file_columns(records: Iterable[dict[str, Any]]) -> tuple[list[str], list[str], list[Any]]:
    namespaces: list[str] = []
    names: list[str] = []
    sizes: list[Any] = []
    for record in records:
        namespaces.append(record["namespace"])
        names.append(record["name"])
        sizes.append(record.get("size"))
    return namespaces, names, sizes


def _replica_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per replica: ``file`` (position), ``rse``, ``category`` code (index into AVAILABILITY)."""
    replicas = summary.get("replicas") or {}
    files = np.asarray(replicas.get("file", []), dtype=np.int64)
    rse = pd.Series(replicas.get("rse", []), dtype=object)
    available = np.asarray(replicas.get("available", []), dtype=bool)
    states = pd.DataFrame(summary.get("rses") or [], columns=["name", "is_available", "is_tape", "is_enabled"])
    states = states.set_index("name")
    rse_up = rse.map(states["is_available"]).fillna(False).to_numpy(dtype=bool)
    tape = rse.map(states["is_tape"]).fillna(False).to_numpy(dtype=bool)
    enabled = rse.map(states["is_enabled"]).fillna(False).to_numpy(dtype=bool)
    category = np.select(
        [~enabled, ~rse_up, available, tape],
        [AVAILABILITY.index("RSE disabled"), AVAILABILITY.index("RSE down"), AVAILABILITY.index("available"),
         AVAILABILITY.index("tape not staged")],
        default=AVAILABILITY.index("replica unavailable"))
    return pd.DataFrame({"file": files, "rse": rse.to_numpy(dtype=object), "category": category})


def _by_rse(replicas: pd.DataFrame) -> pd.DataFrame:
    labels = np.asarray(AVAILABILITY[:_NO_REPLICA], dtype=object)
    counts = pd.crosstab(replicas["rse"], labels[replicas["category"].to_numpy()])
    counts = counts.reindex(columns=list(labels), fill_value=0)
    counts = counts.loc[:, (counts != 0).any(axis=0)]
    counts.index.name = None
    counts.columns.name = None
    return counts


def _group_sizes(keys: pd.Series, sizes: np.ndarray, column: str) -> pd.DataFrame:
    grouped = pd.DataFrame({column: keys.to_numpy(dtype=object), "files": 1, "size": sizes})
    result = grouped.groupby(column, sort=False).agg(files=("files", "sum"), size=("size", "sum")).reset_index()
    return result.sort_values(["files", column], ascending=[False, True], ignore_index=True)


#: Datasets whose catalog size is looked up to order datasets with equal file counts.
_MAX_SIZE_LOOKUPS = 20


def _catalog_file_count(metacat: Any, dataset: str) -> float:
    """How many files ``dataset`` holds in the catalog; infinity when unknown (treated as a parent)."""
    lookup = getattr(metacat, "get_dataset", None)
    if lookup is None:
        return float("inf")
    try:
        found = lookup(dataset)
    except Exception:  # an unreadable dataset only loses its place in the order
        log.debug("file count of dataset %s unknown", dataset, exc_info=True)
        return float("inf")
    count = (found or {}).get("file_count")
    return float(count) if isinstance(count, (int, float)) else float("inf")


def _specific_first(by_dataset: pd.DataFrame, metacat: Any) -> pd.DataFrame:
    """Order datasets by selected files (most first); among equals, the smallest in the catalog first.

    A parent dataset holding every file (``dune:all``) thus comes after the
    real dataset the files were selected from. Only datasets tied with another
    on the first rows are looked up (at most :data:`_MAX_SIZE_LOOKUPS`).
    """
    head = by_dataset.head(_MAX_SIZE_LOOKUPS)
    tied = head["files"].duplicated(keep=False) & (head["dataset"] != _NO_DATASET)
    if not tied.any():
        return by_dataset
    sizes = pd.Series(float("inf"), index=by_dataset.index)
    sizes[tied[tied].index] = [_catalog_file_count(metacat, name) for name in head.loc[tied, "dataset"]]
    order = by_dataset.assign(_catalog=sizes, _outside=by_dataset["dataset"] == _NO_DATASET)
    order = order.sort_values(["_outside", "files", "_catalog", "dataset"], ascending=[True, False, True, True])
    return order.drop(columns=["_catalog", "_outside"]).reset_index(drop=True)


def _row_texts(keys: np.ndarray, values: np.ndarray, shown: int) -> list[str]:
    """Comma-joined ``values`` per file position for the first ``shown`` files (keys sorted by position)."""
    texts = [""] * shown
    for position, value in zip(keys.tolist(), values.tolist()):
        texts[position] = f"{texts[position]}, {value}" if texts[position] else str(value)
    return texts


def compute_preview(metacat: Any, query: str, client: Any = None, *, max_rows: int = 20) -> Preview:
    """Summarise the files ``query`` selects.

    Parameters
    ----------
    metacat
        A MetaCat client with ``query(mql, with_metadata=...)`` (dd-notebook's
        or upstream's).
    query
        MQL file query.
    client
        A :class:`~dd_notebook.client.DataDispatcherClient`; its server's
        ``file_summary`` extension tells replicas and datasets. None, or a
        server without the extension: replica availability is unknown.
    max_rows
        Files listed in :attr:`Preview.rows`.

    Returns
    -------
    Preview

    Raises
    ------
    dd_notebook.metacat.MetaCatBadRequest
        The query does not parse (the message has the line, column and a caret).
    """
    namespaces, names, sizes = _file_columns(metacat.query(query, with_metadata=False))
    count = len(names)
    size_values = pd.array(sizes, dtype="Int64").fillna(0).to_numpy(dtype=np.int64) if count else np.zeros(0, int)
    dids = [f"{ns}:{n}" for ns, n in zip(namespaces, names)]
    notes: list[str] = []
    summary = None
    if client is not None and count:
        try:
            summary = client.file_summary(dids)
        except EndpointUnavailableError:
            notes.append("replica availability is unknown until the project exists: this Data Dispatcher "
                         "server cannot tell replicas of files outside projects")
    elif client is None and count:
        notes.append("replica availability is unknown: no Data Dispatcher client was given")
    shown = min(max_rows, count)
    rows = pd.DataFrame({"namespace": namespaces[:shown], "name": names[:shown],
                         "size": pd.array(sizes[:shown], dtype="Int64")})
    datasets = (summary or {}).get("datasets")
    if datasets is not None:
        ds_files = np.asarray(datasets["file"], dtype=np.int64)
        ds_names = pd.Series(datasets["dataset"], dtype=object)
        by_dataset = _group_sizes(ds_names, size_values[ds_files], "dataset")
        outside = count - len(np.unique(ds_files))
        if outside:
            extra = pd.DataFrame({"dataset": [_NO_DATASET], "files": [outside],
                                  "size": [int(size_values.sum() - size_values[np.unique(ds_files)].sum())]})
            by_dataset = pd.concat([by_dataset, extra], ignore_index=True)
        by_dataset = _specific_first(by_dataset, metacat)
        first = ds_files < shown
        rows["datasets"] = _row_texts(ds_files[first], ds_names.to_numpy(dtype=object)[first], shown)
    else:
        by_dataset = _group_sizes(pd.Series(namespaces, dtype=object), size_values, "namespace")
        rows["datasets"] = ""
        if count:
            notes.append("dataset membership is unknown on this server: files are grouped by namespace")
    by_availability = by_rse = None
    if summary is not None:
        replicas = _replica_frame(summary)
        best = np.full(count, _NO_REPLICA, dtype=np.int64)
        np.minimum.at(best, replicas["file"].to_numpy(), replicas["category"].to_numpy())
        tally = np.bincount(best, minlength=len(AVAILABILITY))
        by_availability = {name: int(n) for name, n in zip(AVAILABILITY, tally)}
        by_rse = _by_rse(replicas)
        first = replicas[replicas["file"] < shown]
        categories = np.asarray(AVAILABILITY, dtype=object)[first["category"].to_numpy()]
        labels = first["rse"].to_numpy(dtype=object) + " (" + categories + ")"
        rows["replicas"] = _row_texts(first["file"].to_numpy(), labels, shown)
        rows.loc[rows["replicas"] == "", "replicas"] = "no replica"
    else:
        rows["replicas"] = "?"
    return Preview(query=query, file_count=count, total_size=int(size_values.sum()), by_dataset=by_dataset,
                   by_availability=by_availability, by_rse=by_rse, rows=rows[list(ROW_COLUMNS)],
                   replicas_known=summary is not None, notes=notes)
