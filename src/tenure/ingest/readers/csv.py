"""CSV and CSV.gz: DuckDB's parallel reader, every column as text, checked header first.

The header is read in Python first so that a missing column, a wrong delimiter or a file that
is not UTF-8 is reported before anything is parsed, with what was expected and what was found.
"""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import duckdb

from tenure.errors import SourceError
from tenure.ingest.readers import ReadOptions, Staged, check_names
from tenure.ingest.sql import ident, lit

_OTHER_DELIMITERS = {";": ";", "\t": "\\t", "|": "|", ",": ","}


def stage(con: duckdb.DuckDBPyConnection, source: str, view: str, options: ReadOptions) -> Staged:
    path = Path(source)
    delimiter = options.delimiter or ("\t" if ".tsv" in path.name.lower() else ",")
    header = read_header(path, options.encoding)
    try:
        names = [n.strip() for n in next(csv.reader([header], delimiter=delimiter), [])]
    except csv.Error as exc:
        raise SourceError(f"{path.name}: the header line cannot be read as CSV ({exc})",
                          fix="check that the file is a CSV export")
    if "\x00" in header:
        raise SourceError(f"{path.name} is binary, not CSV text", fix="check the file")
    if not any(names):
        raise SourceError(f"{path.name}: the first line is empty; expected a header row of column names")
    if len(names) == 1:
        hint = next((shown for d, shown in _OTHER_DELIMITERS.items() if d != delimiter and d in header), None)
        if hint:
            raise SourceError(
                f"{path.name}: expected {delimiter!r}-separated columns but the header is one column "
                f"{header[:60]!r}; it looks {hint!r}-separated",
                fix=f"pass --delimiter '{hint}'",
            )
    names = [n or f"column{i + 1}" for i, n in enumerate(names)]  # as spreadsheets name them
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SourceError(f"{path.name}: the header repeats the column name(s) {', '.join(dupes)}")
    check_names(path.name, names)
    columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
    encoding = options.encoding.lower().replace("_", "-")
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {ident(view)} AS
        SELECT *, row_number() OVER () AS _row FROM read_csv({lit(str(path))},
            header = true, delim = {lit(delimiter)}, quote = '"', escape = '"',
            columns = {columns}, auto_detect = false, strict_mode = true,
            encoding = {lit(encoding)}, compression = 'auto')"""
    )
    return Staged(view=view, source=path.name)


def read_header(path: Path, encoding: str = "utf-8") -> str:
    """The first line of a (possibly gzipped) text file, decoded, without BOM and line end."""
    try:
        opener = gzip.open if _is_gzip(path) else open
        with opener(path, "rb") as fh:
            raw = fh.readline(1 << 20)
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path.name}: cannot read it ({exc})", fix="check that the file is complete")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        raise SourceError(
            f"{path.name} is not {encoding.upper()} text (first line)",
            fix="re-export it as UTF-8, or pass --encoding latin-1",
        )
    except LookupError:
        raise SourceError(f"unknown encoding {encoding!r}", fix="use utf-8, utf-16 or latin-1")
    return text.lstrip("\ufeff").rstrip("\r\n")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


_LINE = re.compile(r"CSV Error on Line: (\d+)")
_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")


def explain(source: str, exc: duckdb.Error) -> SourceError:
    """Turn DuckDB's multi-line CSV error into one line naming the problem and the fix."""
    text = str(exc)
    line = _LINE.search(text)
    where = f"{source} line {line.group(1)}" if line else source
    counts = _COUNTS.search(text)
    if counts:
        expected, found = counts.groups()
        return SourceError(
            f"{where}: expected {expected} fields, found {found}; the file looks truncated or "
            "its delimiter is not the one given",
            fix="re-export the file, or pass --delimiter",
        )
    if "unterminated quote" in text:
        return SourceError(f"{where}: a quoted value is never closed; the file looks truncated",
                           fix="re-export the file")
    if "unicode" in text.lower() or "utf-8" in text.lower():
        return SourceError(f"{where}: not UTF-8 text", fix="re-export it as UTF-8, or pass --encoding latin-1")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "unreadable")
    return SourceError(f"{where}: cannot read it as CSV ({first[:160]})", fix="check the file's format")
