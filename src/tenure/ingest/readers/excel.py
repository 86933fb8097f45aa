"""Excel (.xlsx): read with python-calamine (Rust, several times faster than openpyxl).

Cells are turned into text exactly as the CSV reader would see them, so that one validation
path serves every format; dates become ISO timestamps.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa

from tenure.errors import SourceError
from tenure.ingest.readers import ReadOptions, Staged, check_names
from tenure.ingest.sql import ident


def stage(con: duckdb.DuckDBPyConnection, source: str, view: str, options: ReadOptions) -> Staged:
    from python_calamine import CalamineWorkbook

    path = Path(source)
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own types for every kind of broken file
        raise SourceError(f"{path.name} is not a readable .xlsx workbook ({str(exc)[:120]})",
                          fix="save it again as .xlsx from the spreadsheet program")
    names = list(book.sheet_names)
    sheet_name = options.sheet or (names[0] if names else None)
    if sheet_name not in names:
        raise SourceError(
            f"{path.name}: sheet {sheet_name!r} not found; the workbook has: {', '.join(names) or 'no sheets'}",
            fix="pass --sheet with one of those names",
        )
    rows = book.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    rows = [r for r in rows if any(c not in (None, "") for c in r)]
    if not rows:
        raise SourceError(f"{path.name}: sheet {sheet_name!r} is empty", fix="choose another --sheet")
    header = [_text(c) or f"column{i + 1}" for i, c in enumerate(rows[0])]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise SourceError(f"{path.name}: the header repeats the column name(s) {', '.join(dupes)}")
    check_names(path.name, header)
    body = rows[1:]
    columns = {
        name: pa.array([_text(r[i]) if i < len(r) else None for r in body], type=pa.string())
        for i, name in enumerate(header)
    }
    columns["_row"] = pa.array(range(1, len(body) + 1), type=pa.int64())
    table = pa.table(columns)
    con.register(f"{view}_arrow", table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(view)} AS SELECT * FROM {ident(view + '_arrow')}")
    con.unregister(f"{view}_arrow")
    return Staged(view=view, source=f"{path.name}[{sheet_name}]")


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
