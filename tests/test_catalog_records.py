"""Catalog rows are read by column name: the order of a SELECT list does not change an object."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from dd_notebook.catalog import Catalog
from dd_notebook.server.catalog.records import (
    FileRecords,
    dataset_columns,
    dataset_dict,
    file_columns,
    named_rows,
    namespace_columns,
    namespace_dict,
)


@pytest.fixture
def cat(tmp_path: Path) -> Catalog:
    catalog = Catalog.open(tmp_path / "c.sqlite")
    catalog.create_namespace("ns", owner_user="alice", creator="alice", description="mine")
    catalog.create_dataset("ns", "ds", creator="alice", metadata={"ds.k": 1})
    catalog.declare_files([{"name": "a", "size": 1, "fid": "fa", "metadata": {"core.runs": [1]},
                            "checksums": {"adler32": "0badf00d"}},
                           {"name": "b", "size": 2, "parents": ["fa"]}], namespace="ns", dataset="ns:ds",
                          creator="alice")
    yield catalog
    catalog.close()


def _reversed(columns: str) -> str:
    """The same SELECT list backwards (top-level commas only: subqueries keep theirs)."""
    parts, depth, current = [], 0, ""
    for char in columns:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return ", ".join(reversed([*parts, current.strip()]))


@pytest.mark.parametrize(("with_metadata", "with_provenance"), [(False, False), (True, False), (True, True)])
def test_file_objects_do_not_depend_on_the_column_order(cat, with_metadata, with_provenance):
    columns = file_columns(with_metadata, with_provenance)
    objects = {}
    for select in (columns, _reversed(columns)):
        cursor = cat.conn.execute(f"SELECT {select} FROM mc_files f ORDER BY f.name")
        records = FileRecords(cursor.description)
        rows = cursor.fetchall()
        objects[select] = ([records.dict(row) for row in rows], [orjson.loads(records.json(row)) for row in rows])
    (forward_dicts, forward_json), (backward_dicts, backward_json) = objects.values()
    assert forward_dicts == backward_dicts == forward_json == backward_json
    first = forward_dicts[0]
    assert (first["fid"], first["name"], first["size"], first["retired"]) == ("fa", "a", 1, False)
    assert first["checksums"] == {"adler32": "0badf00d"}
    assert ("metadata" in first) is with_metadata
    if with_provenance:
        assert forward_dicts[1]["parents"] == [{"fid": "fa"}]


def test_dataset_and_namespace_objects_are_read_by_name(cat):
    for columns, build, table in ((dataset_columns(), dataset_dict, "mc_datasets d"),
                                  (namespace_columns(), namespace_dict, "mc_namespaces n")):
        forward = [build(row) for row in named_rows(cat.conn.execute(f"SELECT {columns} FROM {table}"))]
        backward = [build(row) for row in named_rows(cat.conn.execute(f"SELECT {_reversed(columns)} FROM {table}"))]
        assert forward == backward
    assert cat.get_dataset("ns", "ds")["metadata"] == {"ds.k": 1}
    assert cat.get_namespace("ns")["description"] == "mine"
