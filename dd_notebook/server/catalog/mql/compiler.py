"""Compile an MQL file query (syntax tree of :mod:`.nodes`) into one parameterised SQL statement.

Each node becomes a :class:`Selection`: a conjunction of :class:`Cond` over the
files table (alias ``f``) plus an optional order, offset and limit. A ``Cond``
has a *probe* form (a boolean tested per row) and, when it can enumerate its
files cheaply, a *driver* form (a sub-select of file ids) with a size estimate.
When a conjunction is turned into SQL, the smallest driver becomes
``f.id IN (driver)``, which SQLite uses to fetch rows by id, and every other
condition is probed on those rows only. Dataset sizes are known from
``mc_datasets.file_count`` and hot-key drivers are estimated from
``mc_meta_stats``; a driver covering more than half of the catalog is not used
(a scan is cheaper than so many lookups by id).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from ..errors import MQLCompilationError
from ..schema import visible
from . import nodes as n
from .datasets import resolve_selectors
from .meta_sql import FILE_TARGET, MetaCompiler
from .params import Params

__all__ = ["CompiledQuery", "Cond", "Selection", "compile_query"]

#: A driver estimated to cover more than this share of all files is not worth an id lookup.
_DRIVER_SHARE = 0.5
_MAX_OFFSET = 2**63 - 1
_ORDER_SQL = {"time": "ORDER BY f.created_timestamp, f.fid", "fid": "ORDER BY f.fid"}


@dataclass(frozen=True)
class Cond:
    """One condition on the files table.

    Attributes:
        probe: SQL boolean over alias ``f``.
        driver: Sub-select of matching file ids, or None.
        estimate: Known number of ids the driver yields, or None.
        count: SQL estimating the driver's size from statistics (when the estimate is not known upfront).
    """

    probe: str
    driver: str | None = None
    estimate: int | None = None
    count: str | None = None


@dataclass
class Selection:
    """Files satisfying ``conds``, in ``order`` (None, "time" or "fid"), then ``offset``/``limit``."""

    conds: list[Cond] = field(default_factory=list)
    order: str | None = None
    limit: int | None = None
    offset: int = 0

    @property
    def bounded(self) -> bool:
        """True when a limit or offset applies (the conds alone do not describe the set)."""
        return self.limit is not None or self.offset > 0


@dataclass(frozen=True)
class CompiledQuery:
    """A compiled file query: ``FROM mc_files f WHERE ...`` tail plus its parameters.

    Use :meth:`select` to get a full statement for a column list.
    """

    where: str
    order: str | None
    limit: str
    params: Mapping[str, object]

    def select(self, columns: str) -> str:
        """Return ``SELECT columns FROM mc_files f WHERE ... [ORDER BY ...] [LIMIT ...]``."""
        order = _ORDER_SQL[self.order] if self.order else ""
        return f"SELECT {columns} FROM mc_files f WHERE {self.where} {order} {self.limit}".rstrip()


class _Compiler:
    def __init__(self, conn: sqlite3.Connection, include_retired: bool, hot_keys: Mapping[str, int]) -> None:
        self.conn = conn
        self.include_retired = include_retired
        self.params = Params()
        self.meta = MetaCompiler(FILE_TARGET, self.params, hot_keys)
        self._total: int | None = None

    # ------------------------------------------------------------ planning
    def total_files(self) -> int:
        if self._total is None:
            self._total = self.conn.execute("SELECT coalesce(max(id), 0) FROM mc_files").fetchone()[0]
        return self._total

    def plan(self, conds: list[Cond]) -> tuple[str, int]:
        """Return the WHERE text of a conjunction (one driver, other probes) and its size estimate."""
        limit = self.total_files()
        best: Cond | None = None
        best_size = int(_DRIVER_SHARE * limit) + 1
        ranked = sorted((c for c in conds if c.driver), key=lambda c: c.estimate is None)
        for cond in ranked:
            size = cond.estimate
            if size is None and cond.count is not None:
                size = self.conn.execute(cond.count, self.params.values).fetchone()[0]
            if size is not None and size < best_size:
                best, best_size = cond, size
        parts = [c.probe for c in conds if c is not best]
        if best is None:
            return (" AND ".join(parts) if parts else "1"), limit
        parts.insert(0, f"f.id IN ({best.driver})")
        return " AND ".join(parts), best_size

    def subselect(self, sel: Selection) -> tuple[str, int]:
        """Return ``SELECT f.id ...`` for a selection and its size estimate."""
        where, size = self.plan(sel.conds)
        order = _ORDER_SQL[sel.order] if sel.order and sel.bounded else ""
        limit = self.limit_sql(sel)
        if sel.limit is not None:
            size = min(size, sel.limit)
        return f"SELECT f.id FROM mc_files f WHERE {where} {order} {limit}".rstrip(), size

    def limit_sql(self, sel: Selection) -> str:
        if not sel.bounded:
            return ""
        limit = self.params.add(-1 if sel.limit is None else sel.limit)
        return f"LIMIT {limit} OFFSET {self.params.add(sel.offset)}"

    def as_cond(self, sel: Selection) -> Cond:
        """Express a whole selection as one condition (probe + driver)."""
        if not sel.bounded and len(sel.conds) == 1:
            return sel.conds[0]
        select, size = self.subselect(sel)
        if sel.bounded:
            return Cond(f"f.id IN ({select})", select, size)
        probe = "(" + " AND ".join(c.probe for c in sel.conds) + ")" if sel.conds else "1"
        return Cond(probe, select, size)

    # ------------------------------------------------------------ nodes
    def selection(self, node: n.FileQuery) -> Selection:
        method = getattr(self, "_" + type(node).__name__.lower().rstrip("_"), None)
        if method is None:
            raise MQLCompilationError(f"unsupported query element {type(node).__name__}")
        return method(node)

    def _retired(self) -> list[Cond]:
        return [] if self.include_retired else [Cond("f.retired = 0")]

    def _allfiles(self, node: n.AllFiles) -> Selection:
        return Selection(self._retired())

    def _datasetfiles(self, node: n.DatasetFiles) -> Selection:
        ids, size = resolve_selectors(self.conn, node.selectors)
        if not ids:
            return Selection([Cond("0", "SELECT NULL WHERE 0", 0)])
        if len(ids) == 1:
            match = f"dataset_id = {self.params.add(ids[0])}"
        else:
            match = f"dataset_id IN (SELECT value FROM json_each({self.params.add(_json_list(ids))}))"
        driver = f"SELECT file_id FROM mc_dataset_files WHERE {match}"
        probe = f"EXISTS(SELECT 1 FROM mc_dataset_files df WHERE df.{match} AND df.file_id = f.id)"
        return Selection([Cond(probe, driver, size), *self._retired()])

    def _filelist(self, node: n.FileList) -> Selection:
        listed = self.params.add(_json_list([list(did) for did in node.dids]))
        driver = ("SELECT m.id FROM json_each({0}) j JOIN mc_files m ON m.namespace = json_extract(j.value, '$[0]')"
                  " AND m.name = json_extract(j.value, '$[1]')").format(listed)
        return Selection([Cond(f"f.id IN ({driver})", driver, len(node.dids))], order="fid")

    def _fidlist(self, node: n.FidList) -> Selection:
        listed = self.params.add(_json_list(list(node.fids)))
        driver = f"SELECT m.id FROM json_each({listed}) j JOIN mc_files m ON m.fid = j.value"
        return Selection([Cond(f"f.id IN ({driver})", driver, len(node.fids))], order="fid")

    def _where(self, node: n.Where) -> Selection:
        sel = self.selection(node.child)
        if sel.bounded:
            sel = Selection([self.as_cond(sel)], order=sel.order)
        items = node.expr.items if isinstance(node.expr, n.And) else (node.expr,)
        for item in items:
            driver = self.meta.driver(item)
            probe = self.meta.predicate(item)
            sel.conds.append(Cond(probe, driver.select, None, driver.count) if driver else Cond(probe))
        return sel

    def _limit(self, node: n.Limit) -> Selection:
        sel = self.selection(node.child)
        sel.limit = node.count if sel.limit is None else min(sel.limit, node.count)
        return sel

    def _skip(self, node: n.Skip) -> Selection:
        sel = self.selection(node.child)
        if sel.bounded and sel.order not in (None, "time"):
            sel = Selection([self.as_cond(sel)])
        sel.order = sel.order or "time"
        sel.offset = min(_MAX_OFFSET, sel.offset + node.count)
        if sel.limit is not None:
            sel.limit = max(0, sel.limit - node.count)
        return sel

    def _ordered(self, node: n.Ordered) -> Selection:
        sel = self.selection(node.child)
        if sel.bounded and sel.order != "time":
            sel = Selection([self.as_cond(sel)])
        sel.order = "time"
        return sel

    def _union(self, node: n.Union_) -> Selection:
        conds = [self.as_cond(self.selection(child)) for child in node.children]
        if len(conds) == 1:
            return Selection(conds)
        probe = "(" + " OR ".join(c.probe for c in conds) + ")"
        selects = [c.driver or f"SELECT f.id FROM mc_files f WHERE {c.probe}" for c in conds]
        estimate = sum(c.estimate if c.estimate is not None else self.total_files() for c in conds)
        # each member in its own sub-select: SQLite allows no LIMIT/ORDER BY on compound members
        return Selection([Cond(probe, " UNION ".join(f"SELECT * FROM ({select})" for select in selects),
                               estimate)])

    def _join(self, node: n.Join) -> Selection:
        conds: list[Cond] = []
        for child in node.children:
            sel = self.selection(child)
            conds.extend([self.as_cond(sel)] if sel.bounded else sel.conds)
        return Selection(conds)

    def _minus(self, node: n.Minus) -> Selection:
        left = self.selection(node.left)
        if left.bounded:
            left = Selection([self.as_cond(left)], order=left.order)
        right = self.as_cond(self.selection(node.right))
        left.conds.append(Cond(f"(NOT {right.probe})"))
        return left

    def _provenance(self, child: n.FileQuery, want: str, have: str) -> Selection:
        inner, size = self.subselect(self.selection(child))
        driver = f"SELECT pc.{want} FROM mc_provenance pc WHERE pc.{have} IN ({inner})"
        return Selection([Cond(f"f.id IN ({driver})", driver, size), Cond("f.retired = 0")])

    def _parents(self, node: n.Parents) -> Selection:
        return self._provenance(node.child, "parent_id", "child_id")

    def _children(self, node: n.Children) -> Selection:
        return self._provenance(node.child, "child_id", "parent_id")

    def _unsupported(self, node: n.Unsupported) -> Selection:
        raise MQLCompilationError(f"{node.what} are not supported by this catalog")


def _json_list(items: list) -> str:
    return orjson.dumps(items).decode()


def compile_query(conn: sqlite3.Connection, tree: n.FileQuery, *, include_retired: bool = False,
                  hot_keys: Mapping[str, int] | None = None, limit: int | None = None) -> CompiledQuery:
    """Compile a parsed file query for execution on ``conn``.

    Args:
        conn: Catalog connection (datasets are resolved and drivers estimated through it).
        tree: Root node from :func:`dd_notebook.catalog.mql.parse`.
        include_retired: Keep retired files in ``files`` / ``files from`` results.
        hot_keys: Indexed metadata keys (``mc_meta_keys``); None disables inverted-index drivers.
        limit: Extra cap on the number of files, applied last.

    Raises:
        MQLCompilationError: unsupported construct, unknown attribute, invalid regex, ...
        CatalogNotFound: a dataset named in ``files from`` does not exist.
    """
    compiler = _Compiler(conn, include_retired, hot_keys or {})
    try:
        sel = compiler.selection(n.Limit(tree, limit) if limit is not None else tree)
        where, _ = compiler.plan(sel.conds)
        where = f"({where}) AND {visible('f')}"  # files of a load still being written are not there yet
        limit_sql = compiler.limit_sql(sel)
    except RecursionError:
        raise MQLCompilationError("query is nested too deeply") from None
    return CompiledQuery(where, sel.order, limit_sql, dict(compiler.params.values))

