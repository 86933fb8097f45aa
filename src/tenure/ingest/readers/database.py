"""A table or query of any database SQLAlchemy reaches (SQLite, PostgreSQL, ...), streamed.

Rows are fetched in chunks and every value is turned into text, as the CSV reader sees them, so
the same validation serves every source. Passwords never appear in messages.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

from tenure.errors import MissingExtraError, SourceError
from tenure.ingest.readers import ReadOptions, Staged, check_names
from tenure.ingest.sql import ident

CHUNK = 50_000


def normalise_url(url: str) -> str:
    # Users write the URL their database documents; Tenure ships the psycopg 3 driver.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def stage(con: duckdb.DuckDBPyConnection, source: str, view: str, options: ReadOptions) -> Staged:
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    try:
        url = sa.make_url(normalise_url(source))
    except ArgumentError:
        raise SourceError(f"{source!r} is not a database URL",
                          fix="write it like postgresql://user@host/db or sqlite:///path/shop.db")
    shown = url.render_as_string(hide_password=True)
    if bool(options.table) == bool(options.query):
        raise SourceError(f"{shown}: say what to read", fix="pass exactly one of --table NAME or --query SQL")
    if url.get_backend_name() == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingExtraError("PostgreSQL support (psycopg)", "postgres")
    try:
        engine = sa.create_engine(url)
    except (NoSuchModuleError, ImportError) as exc:
        raise SourceError(f"{shown}: no driver for this database ({exc})",
                          fix="install the database's SQLAlchemy driver")
    if options.table:
        statement = sa.select(sa.text("*")).select_from(sa.table(options.table))
    else:
        statement = sa.text(options.query)
    what = f"table {options.table}" if options.table else "the query"
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise SourceError(f"cannot connect to {shown}: {_reason(exc)}",
                              fix="check the URL and that the database server is running")
        with conn:
            try:
                _copy(con, conn, statement, view, f"{shown} ({what})")
            except SQLAlchemyError as exc:
                raise SourceError(f"{shown}: cannot read {what}: {_reason(exc)}",
                                  fix="check the table name or the query")
    finally:
        engine.dispose()
    return Staged(view=view, source=f"{shown} ({what})")


def _copy(con: duckdb.DuckDBPyConnection, conn, statement, view: str, shown: str) -> None:
    result = conn.execution_options(stream_results=True).execute(statement)
    names = list(result.keys())
    check_names(shown, names)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(view)} ("
                + ", ".join(f"{ident(n)} VARCHAR" for n in names) + ", _row BIGINT)")
    start = 1
    while rows := result.fetchmany(CHUNK):
        cols = {n: pa.array([_text(r[i]) for r in rows], type=pa.string()) for i, n in enumerate(names)}
        cols["_row"] = pa.array(range(start, start + len(rows)), type=pa.int64())
        con.register(f"{view}_chunk", pa.table(cols))
        con.execute(f"INSERT INTO {ident(view)} SELECT * FROM {ident(view + '_chunk')}")
        con.unregister(f"{view}_chunk")
        start += len(rows)


def _reason(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or ["unknown error"])[0][:200]


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)
