"""Files: bulk declaration (validated or trusted), lookups by fid / DID, retirement, dataset membership."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..core.transactions import transaction
from . import loads
from .clock import now
from .datasets import add_to_dataset, dataset_id
from .errors import CatalogExists, CatalogInvalidInput, CatalogNotFound
from .file_rows import FileRow, insert_file_rows
from .records import FileRecords, file_columns
from .replicas import Replica, add_replicas, ensure_dd_tables
from .schema import visible
from .validation import check_checksums, check_metadata, check_name, check_size, new_fid, parse_did

__all__ = [
    "add_files",
    "declare_files",
    "get_file",
    "get_files",
    "lookup_ids",
    "retire_file",
]

_MAX_JSON = 1_000_000

@dataclass
class _NewFile:
    fid: str
    namespace: str
    name: str
    creator: str | None
    size: int
    checksums: str | None
    metadata: str
    created: float
    parents: list[Any] = field(default_factory=list)
    replicas: list[Replica] = field(default_factory=list)


def _json(value: Any, what: str) -> str:
    try:
        text = orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise CatalogInvalidInput(f"{what} cannot be stored as JSON: {exc}") from None
    if len(text) > _MAX_JSON:
        raise CatalogInvalidInput(f"{what} is too large ({len(text)} bytes of JSON, limit {_MAX_JSON})")
    return text


def _normalize(index: int, item: Any, namespace: str | None, creator: str | None, stamp: float) -> _NewFile:
    where = f"file #{index}"
    if not isinstance(item, dict):
        raise CatalogInvalidInput(f"{where} must be a JSON object")
    if "did" in item:
        ns, name = parse_did(item["did"], namespace, f"{where} did")
    else:
        ns = check_name(item.get("namespace", namespace), f"namespace of {where}")
        name = check_name(item.get("name"), f"name of {where}")
    fid = check_name(item["fid"], f"fid of {where}") if item.get("fid") is not None else new_fid()
    parents = item.get("parents") or []
    if not isinstance(parents, list):
        raise CatalogInvalidInput(f"parents of {where} must be a list")
    created = item.get("created_timestamp", stamp)
    if isinstance(created, bool) or not isinstance(created, (int, float)):
        raise CatalogInvalidInput(f"created_timestamp of {where} must be a number")
    checksums = check_checksums(item.get("checksums"))
    owner = item.get("creator") or creator
    if owner is not None and not isinstance(owner, str):
        raise CatalogInvalidInput(f"creator of {where} must be a string")
    return _NewFile(fid=fid, namespace=ns, name=name, creator=owner,
                    size=check_size(item.get("size"), f"size of {where}"),
                    checksums=_json(checksums, f"checksums of {where}") if checksums is not None else None,
                    metadata=_json(check_metadata(item.get("metadata"), f"metadata of {where}"),
                                   f"metadata of {where}"),
                    created=float(created), parents=parents,
                    replicas=[_replica(ns, name, r, f"replica of {where}") for r in item.get("replicas") or ()])


def _replica(namespace: str, name: str, spec: Any, what: str) -> Replica:
    """Validate ``{rse, urls | url, path?, available?, preference?}``."""
    if not isinstance(spec, dict) or not isinstance(spec.get("rse"), str) or not spec["rse"]:
        raise CatalogInvalidInput(f"{what} must be an object with an rse name")
    urls = spec.get("urls", [spec["url"]] if spec.get("url") else [])
    if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
        raise CatalogInvalidInput(f"{what}: urls must be a list of strings")
    path, available, preference = spec.get("path"), spec.get("available", True), spec.get("preference", 0)
    if path is not None and not isinstance(path, str):
        raise CatalogInvalidInput(f"{what}: path must be a string")
    if not isinstance(available, bool) or isinstance(preference, bool) or not isinstance(preference, int):
        raise CatalogInvalidInput(f"{what}: available must be true/false and preference an integer")
    return namespace, name, spec["rse"], path, urls, preference, available


def lookup_ids(conn: sqlite3.Connection, fids: Iterable[str] = (),
               dids: Iterable[tuple[str, str]] = ()) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Return internal ids of existing files by fid and by ``(namespace, name)``."""
    by_fid = dict(conn.execute("SELECT m.fid, m.id FROM json_each(?) j JOIN mc_files m ON m.fid = j.value",
                               (orjson.dumps(list(fids)).decode(),)))
    by_did = {(ns, name): file_id for ns, name, file_id in conn.execute(
        "SELECT m.namespace, m.name, m.id FROM json_each(?) j JOIN mc_files m "
        "ON m.namespace = json_extract(j.value, '$[0]') AND m.name = json_extract(j.value, '$[1]')",
        (orjson.dumps([list(d) for d in dids]).decode(),))}
    return by_fid, by_did


def _spec(spec: Any, what: str) -> tuple[str | None, tuple[str, str] | None]:
    """Return ``(fid, None)`` or ``(None, (namespace, name))`` of a file spec."""
    if isinstance(spec, str):
        return check_name(spec, f"{what} fid"), None
    if not isinstance(spec, dict):
        raise CatalogInvalidInput(f"{what} must be an object with fid, did or namespace and name")
    if spec.get("fid") is not None:
        return check_name(spec["fid"], f"{what} fid"), None
    if spec.get("did") is not None:
        return None, parse_did(spec["did"], None, f"{what} did")
    if spec.get("namespace") is not None and spec.get("name") is not None:
        return None, (check_name(spec["namespace"], f"{what} namespace"), check_name(spec["name"], f"{what} name"))
    raise CatalogInvalidInput(f"{what} must have fid, did, or namespace and name")


def _resolve(conn: sqlite3.Connection, specs: Sequence[Any], what: str, local_fids: dict[str, int] | None = None,
             local_dids: dict[tuple[str, str], int] | None = None) -> list[int | None]:
    parsed = [_spec(spec, what) for spec in specs]
    by_fid, by_did = lookup_ids(conn, [f for f, _ in parsed if f], [d for _, d in parsed if d])
    by_fid.update(local_fids or {})
    by_did.update(local_dids or {})
    # _spec gives either a fid or a DID, so the final None is never reached.
    return [by_fid.get(fid) if fid else by_did.get(did) if did is not None else None for fid, did in parsed]


def declare_files(conn: sqlite3.Connection, files: Any, *, namespace: str | None = None,
                  dataset: tuple[str, str] | None = None, creator: str | None = None) -> list[dict[str, Any]]:
    """Validate and declare new files, all or nothing.

    Up to :data:`.loads.LOAD_CHUNK_FILES` files are written in one
    transaction; a bigger load in committed chunks that stay invisible until
    the last one (:mod:`.loads`), so that other writers are not held up.

    Args:
        conn: Catalog connection.
        files: List of ``{namespace?, name | did, size, fid?, checksums?, metadata?, parents?, creator?,
            created_timestamp?, replicas?}``; parents are ``{fid}``, ``{did}``, ``{namespace, name}`` or a
            fid string and may name files of the same batch; replicas are ``{rse, urls | url, path?,
            available?, preference?}`` rows for the DD server's ``replicas`` table.
        namespace: Default namespace of the files.
        dataset: ``(namespace, name)`` of a dataset to add the files to.
        creator: Default creator (the authenticated user).

    Returns:
        The new files (with metadata), in input order.

    Raises:
        CatalogInvalidInput: malformed entry (message names its index).
        CatalogNotFound: unknown namespace, dataset or parent.
        CatalogExists: a DID or fid exists (message lists the DIDs, one per line).
    """
    if not isinstance(files, list):
        raise CatalogInvalidInput("the file list must be a JSON array")
    stamp = now()
    new = [_normalize(i, item, namespace, creator, stamp) for i, item in enumerate(files)]
    if len({(f.namespace, f.name) for f in new}) < len(new) or len({f.fid for f in new}) < len(new):
        raise CatalogInvalidInput("the file list names the same file (DID or fid) twice")
    if any(f.replicas for f in new):
        ensure_dd_tables(conn)
    if len(new) > loads.LOAD_CHUNK_FILES and not conn.in_transaction:
        # checked on committed data without the write lock; only the id range is reserved under it
        target, links = _check_and_link(conn, new, dataset)
        with transaction(conn):
            base = _next_id(conn)
            conn.execute("INSERT INTO mc_loading(first_id, last_id) VALUES (?, ?)", (base + 1, base + len(new)))
        ids = list(range(base + 1, base + 1 + len(new)))
        try:
            loads.load_in_chunks(conn, _rows(new, ids), _placed(links, base), target, [f.replicas for f in new])
        except sqlite3.IntegrityError:
            raise CatalogExists("some of these files were declared by another request meanwhile; "
                                "nothing of this list was declared") from None
        return _by_ids(conn, ids, with_metadata=True, with_provenance=False)
    with transaction(conn):
        target, links = _check_and_link(conn, new, dataset)
        base = _next_id(conn)
        ids = list(range(base + 1, base + 1 + len(new)))
        insert_file_rows(conn, _rows(new, ids), _placed(links, base), target, ids)
        replicas = [r for f in new for r in f.replicas]
        if replicas:
            add_replicas(conn, replicas)
    return _by_ids(conn, ids, with_metadata=True, with_provenance=False)


def _next_id(conn: sqlite3.Connection) -> int:
    """The highest file id in use, counting the ranges of loads still being written."""
    return conn.execute("SELECT max(coalesce((SELECT max(id) FROM mc_files), 0), "
                        "coalesce((SELECT max(last_id) FROM mc_loading), 0))").fetchone()[0]


def _rows(new: list[_NewFile], ids: list[int]) -> list[FileRow]:
    return [(i, f.fid, f.namespace, f.name, f.creator, f.size, f.checksums, f.metadata, f.created)
            for f, i in zip(new, ids)]


def _placed(links: list[tuple[int, int]], base: int) -> list[tuple[int, int]]:
    """Provenance pairs with the batch's own files (negative placeholders ``-1 - k``) given their ids."""
    return [(parent if parent > 0 else base - parent, base - child) for parent, child in links]


def _check_and_link(conn: sqlite3.Connection, new: list[_NewFile], dataset: tuple[str, str] | None
                    ) -> tuple[int | None, list[tuple[int, int]]]:
    """Check namespaces, dataset, duplicates and parents; return the dataset id and the provenance pairs.

    The batch's own files are named ``-1 - k`` (``k`` their position) in the pairs; :func:`_placed`
    gives them their ids once the id range is known.

    Raises:
        CatalogNotFound: an unknown namespace, dataset or parent.
        CatalogExists: a DID or fid exists already.
    """
    for ns in sorted({f.namespace for f in new}):
        if not conn.execute("SELECT 1 FROM mc_namespaces WHERE name = ?", (ns,)).fetchone():
            raise CatalogNotFound(f"namespace {ns} not found")
    target = dataset_id(conn, *dataset) if dataset is not None else None
    by_fid, by_did = lookup_ids(conn, [f.fid for f in new], [(f.namespace, f.name) for f in new])
    if by_did:
        listing = "\n".join(f"  {ns}:{name}" for ns, name in sorted(by_did))
        raise CatalogExists(f"The following files already exist:\n{listing}")
    if by_fid:
        raise CatalogExists(f"file ids already exist: {', '.join(sorted(by_fid))}")
    local_fids = {f.fid: -1 - k for k, f in enumerate(new)}
    local_dids = {(f.namespace, f.name): -1 - k for k, f in enumerate(new)}
    children = [-1 - k for k, f in enumerate(new) for _ in f.parents]
    parents = _resolve(conn, [p for f in new for p in f.parents], "parent", local_fids, local_dids)
    if None in parents:
        missing = -1 - children[parents.index(None)]
        raise CatalogNotFound(f"a parent of file #{missing} ({new[missing].namespace}:{new[missing].name}) "
                              "was not found")
    return target, [(parent, child) for parent, child in zip(parents, children) if parent is not None]


def _by_ids(conn: sqlite3.Connection, ids: list[int], with_metadata: bool,
            with_provenance: bool) -> list[dict[str, Any]]:
    sql = (f"SELECT {file_columns(with_metadata, with_provenance)} FROM json_each(?) j "
           f"JOIN mc_files f ON f.id = j.value WHERE {visible('f')} ORDER BY j.key")
    cursor = conn.execute(sql, (orjson.dumps(ids).decode(),))
    records = FileRecords(cursor.description)
    return [records.dict(row) for row in cursor]


def get_file(conn: sqlite3.Connection, *, fid: str | None = None, namespace: str | None = None,
             name: str | None = None, with_metadata: bool = True, with_provenance: bool = True,
             with_datasets: bool = False) -> dict[str, Any]:
    """Return one file by ``fid`` or by ``namespace`` + ``name``.

    Raises:
        CatalogInvalidInput: neither form given.
        CatalogNotFound: no such file.
    """
    if fid is not None:
        found, _ = lookup_ids(conn, [fid])
        file_id = found.get(fid)
    elif namespace is not None and name is not None:
        _, found_did = lookup_ids(conn, (), [(namespace, name)])
        file_id = found_did.get((namespace, name))
    else:
        raise CatalogInvalidInput("give fid, did, or namespace and name")
    records = _by_ids(conn, [file_id], with_metadata, with_provenance) if file_id is not None else []
    if not records:
        raise CatalogNotFound("File not found")
    record = records[0]
    if with_datasets:
        record["datasets"] = [{"namespace": ns, "name": ds} for ns, ds in conn.execute(
            "SELECT d.namespace, d.name FROM mc_dataset_files df JOIN mc_datasets d ON d.id = df.dataset_id "
            "WHERE df.file_id = ? ORDER BY d.namespace, d.name", (file_id,))]
    return record


def get_files(conn: sqlite3.Connection, specs: Any, *, with_metadata: bool = False,
              with_provenance: bool = False) -> list[dict[str, Any]]:
    """Return the files named by ``specs`` (``{fid}``, ``{did}`` or ``{namespace, name}``); unknown ones are omitted.

    Raises:
        CatalogInvalidInput: ``specs`` is not a list of such objects.
    """
    if not isinstance(specs, list):
        raise CatalogInvalidInput("the lookup list must be a JSON array")
    ids = [i for i in _resolve(conn, specs, "file spec") if i is not None]
    return _by_ids(conn, list(dict.fromkeys(ids)), with_metadata, with_provenance)


def add_files(conn: sqlite3.Connection, dataset: tuple[str, str], specs: Any) -> int:
    """Add existing files to a dataset; return the number newly added.

    Raises:
        CatalogNotFound: unknown dataset or file.
    """
    if not isinstance(specs, list):
        raise CatalogInvalidInput("file_list must be a JSON array")
    with transaction(conn):
        target = dataset_id(conn, *dataset)
        ids = _resolve(conn, specs, "file")
        if None in ids:
            raise CatalogNotFound(f"{ids.count(None)} of the files to add were not found")
        return add_to_dataset(conn, target, [i for i in ids if i is not None])


def retire_file(conn: sqlite3.Connection, *, fid: str | None = None, namespace: str | None = None,
                name: str | None = None, retired: bool = True, by: str | None = None) -> dict[str, Any]:
    """Retire (or un-retire) a file and return it.

    Raises:
        CatalogNotFound: no such file.
    """
    record = get_file(conn, fid=fid, namespace=namespace, name=name, with_metadata=False, with_provenance=False)
    stamp = now() if retired else None
    with transaction(conn):
        conn.execute("UPDATE mc_files SET retired = ?, retired_by = ?, retired_timestamp = ?, updated_by = ?, "
                     "updated_timestamp = ? WHERE fid = ?",
                     (int(retired), by if retired else None, stamp, by, now(), record["fid"]))
    return get_file(conn, fid=record["fid"], with_metadata=False, with_provenance=False)
