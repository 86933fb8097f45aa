"""The warehouse: where the canonical tables live. Default: an embedded DuckDB file.

Connections are short-lived (opened per command) because a DuckDB file admits one writing
process at a time; a busy file is reported as such, never as a crash.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

from tenure.errors import WorkspaceError
from tenure.ingest.schema import BOOKKEEPING_DDL, TABLES, create_table_sql


# A DuckDB file admits one writing process and no reader beside it. Writers already take turns
# (the workspace lock), so what a writer meets is a reader: the server answering a request, a
# report. Those hold the file for moments, so a writer waits for them rather than fail the run.
WRITE_WAIT_S = 30.0


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + (0.0 if read_only else WRITE_WAIT_S)
    pause = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            text = str(exc)
            if not ("lock" in text.lower() or "different configuration" in text):
                raise WorkspaceError(f"cannot open the warehouse {path}: {text.splitlines()[0][:160]}")
            if time.monotonic() < deadline:
                time.sleep(pause)
                pause = min(pause * 2, 0.5)
                continue
            if read_only:
                raise WorkspaceError(f"the warehouse {path.name} is busy: another Tenure process is writing to it",
                                     fix="wait for it to finish and run the command again")
            raise WorkspaceError(f"the warehouse {path.name} is busy: another process kept it open for "
                                 f"{WRITE_WAIT_S:g} s (a Tenure process writing to it, or a long read)",
                                 fix="wait for it to finish and run the command again")


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
