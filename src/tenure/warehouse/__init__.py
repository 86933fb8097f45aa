"""The warehouse: where the canonical tables live. Default: an embedded DuckDB file.

Connections are short-lived (opened per command) because a DuckDB file admits one writing
process at a time; a busy file is reported as such, never as a crash.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tenure.errors import WorkspaceError
from tenure.ingest.schema import BOOKKEEPING_DDL, TABLES, create_table_sql


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        text = str(exc)
        if "lock" in text.lower() or "different configuration" in text:
            raise WorkspaceError(f"the warehouse {path.name} is busy: another Tenure process is writing to it",
                                 fix="wait for it to finish and run the command again")
        raise WorkspaceError(f"cannot open the warehouse {path}: {text.splitlines()[0][:160]}")


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in TABLES:
        con.execute(create_table_sql(table))
    for ddl in BOOKKEEPING_DDL.values():
        con.execute(ddl)


def ibis_connection(path: Path):
    """A read-only Ibis connection for analytics (imported lazily: Ibis is slow to import)."""
    import ibis

    con = ibis.duckdb.connect(str(path), read_only=True)
    con.raw_sql("SET enable_progress_bar = false")  # a long query must not draw over the CLI's output
    return con
