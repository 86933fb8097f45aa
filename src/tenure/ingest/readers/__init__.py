"""Readers: each turns one source into a temporary DuckDB view with its own columns and `_row`.

Every reader has the same shape, `stage(con, source, view, options) -> Staged`, so a new
format is copy, rename, fill. `_row` is the 1-based data row number in the source (the header
is not counted), so a quarantined row can be found again in the original file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from tenure.errors import SourceError


@dataclass(frozen=True)
class ReadOptions:
    delimiter: str | None = None
    encoding: str = "utf-8"
    sheet: str | None = None
    table: str | None = None
    query: str | None = None
    fmt: str | None = None          # force a reader: csv, parquet, excel, whitespace, database
    names: tuple[str, ...] = ()     # column names for header-less formats (whitespace)


@dataclass
class Staged:
    view: str                        # temporary view holding the source's rows and `_row`
    source: str                      # what to call it in messages (file name, redacted URL)
    columns: dict[str, str] = field(default_factory=dict)  # source column -> DuckDB type


def check_names(source: str, names, reserved: tuple[str, ...] = ("_row",)) -> None:
    """Refuse a source column named like a column its reader adds (`_row`, ...): it would hide
    the row number or be overwritten by it."""
    taken = [n for n in reserved if n in set(names)]
    if taken:
        raise SourceError(f"{source}: has a column named {taken[0]!r}, a name Tenure keeps for its own use",
                          fix=f"rename that column in the source (for example to {taken[0].strip('_')}_source)")


def is_url(source: str) -> bool:
    return "://" in source


def reader_for(source: str, options: ReadOptions) -> str:
    if options.fmt:
        return options.fmt
    if is_url(source):
        return "database"
    name = source.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".xlsx", ".xlsm")):
        return "excel"
    if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")):
        return "csv"
    raise SourceError(
        f"{Path(source).name}: cannot tell the format from the name",
        fix="use a .csv, .csv.gz, .tsv, .parquet or .xlsx file, or a database URL",
    )


def stage(con: duckdb.DuckDBPyConnection, source: str, view: str, options: ReadOptions) -> Staged:
    kind = reader_for(source, options)
    if kind != "database":
        _check_file(source)
    if kind == "csv":
        from tenure.ingest.readers import csv as mod
    elif kind == "parquet":
        from tenure.ingest.readers import parquet as mod
    elif kind == "excel":
        from tenure.ingest.readers import excel as mod
    elif kind == "whitespace":
        from tenure.ingest.readers import whitespace as mod
    elif kind == "database":
        from tenure.ingest.readers import database as mod
    else:
        raise SourceError(f"unknown format {kind!r}", fix="use csv, parquet, excel, whitespace or database")
    staged = mod.stage(con, source, view, options)
    staged.columns = describe(con, view)
    return staged


def describe(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    rows = con.execute(f'DESCRIBE "{view}"').fetchall()
    return {name: typ for name, typ, *_ in rows if name != "_row"}


def _check_file(source: str) -> None:
    path = Path(source)
    if not path.exists():
        raise SourceError(f"{source}: no such file", fix="check the path")
    if path.is_dir():
        raise SourceError(f"{source} is a folder", fix="name the files inside it")
    if path.stat().st_size == 0:
        raise SourceError(f"{path.name} is empty (0 bytes)", fix="export the data again")
