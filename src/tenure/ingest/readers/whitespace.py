"""Whitespace-separated text (CDNOW's format): fields split on runs of blanks.

DuckDB's CSV reader wants a single-character delimiter, so each line is read whole and split
with a regular expression. A first line whose first field is not a number is a header.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tenure.errors import SourceError
from tenure.ingest.readers import ReadOptions, Staged, check_names
from tenure.ingest.readers.csv import read_header
from tenure.ingest.sql import ident, lit


def stage(con: duckdb.DuckDBPyConnection, source: str, view: str, options: ReadOptions) -> Staged:
    path = Path(source)
    first = read_header(path, options.encoding).split()
    if not first:
        raise SourceError(f"{path.name}: the first line is empty; expected whitespace-separated fields")
    has_header = not first[0].replace(".", "", 1).isdigit()
    names = list(options.names) or (first if has_header else [f"c{i + 1}" for i in range(len(first))])
    check_names(path.name, names, ("_row", "_fields"))
    picks = ", ".join(f"f[{i + 1}] AS {ident(n)}" for i, n in enumerate(names))
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {ident(view)} AS
        SELECT {picks}, len(f) AS _fields, row_number() OVER () AS _row
        FROM (SELECT string_split_regex(trim(line), '\\s+') AS f
              FROM read_csv({lit(str(path))}, header = {str(has_header).lower()}, delim = '\\x1f',
                            quote = '', escape = '', columns = {{'line': 'VARCHAR'}},
                            auto_detect = false, encoding = {lit(options.encoding)})
              WHERE trim(line) <> '')"""
    )
    return Staged(view=view, source=path.name)
