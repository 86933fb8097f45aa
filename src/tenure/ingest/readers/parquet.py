"""Parquet: read in place by DuckDB with its own types; `_row` from the file's row number."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tenure.errors import SourceError
from tenure.ingest.readers import ReadOptions, Staged, check_names
from tenure.ingest.sql import ident, lit


def stage(con: duckdb.DuckDBPyConnection, source: str, view: str, options: ReadOptions) -> Staged:
    path = Path(source)
    with open(path, "rb") as fh:
        if fh.read(4) != b"PAR1":
            raise SourceError(f"{path.name} is not a Parquet file (no PAR1 magic bytes)",
                              fix="check the file, or give it the extension of its real format")
    try:
        names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({lit(str(path))})").fetchall()]
    except duckdb.Error as exc:
        raise explain(path.name, exc)
    check_names(path.name, names, ("_row", "file_row_number"))
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP VIEW {ident(view)} AS
            SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _row
            FROM read_parquet({lit(str(path))}, file_row_number = true)"""
        )
    except duckdb.Error as exc:
        raise explain(path.name, exc)
    return Staged(view=view, source=path.name)


def explain(source: str, exc: duckdb.Error) -> SourceError:
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "unreadable")
    return SourceError(f"{source}: cannot read it as Parquet ({first[:160]})", fix="re-export the file")
