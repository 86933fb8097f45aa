"""Open the operational store and bring its schema to the latest migration.

This is the one module that knows the store's dialects: SQLite needs its pragmas and an explicit
BEGIN IMMEDIATE (pysqlite's own transaction handling defers the write lock, so two writers can
deadlock on upgrade); PostgreSQL serialises concurrent migrations with an advisory lock.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from tenure.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 727_001  # an arbitrary constant: the advisory lock id of Tenure's migrations


def create(url: str) -> sa.Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg://...), schema not yet checked."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            # WAL: readers never block the writer; NORMAL is durable at each checkpoint and
            # never corrupts: a power cut can lose the last commits, a killed process cannot.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            # A 64 MB page cache instead of 2 MB: bulk enrollment touches five indexes of the outbox.
            cur.execute("PRAGMA cache_size=-65536")
            # ANALYZE samples instead of reading whole tables: statistics in milliseconds.
            cur.execute("PRAGMA analysis_limit=1000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            from tenure.errors import MissingExtraError

            raise MissingExtraError("the PostgreSQL driver (psycopg)", "postgres")
        return sa.create_engine(url, pool_pre_ping=True)
    raise StoreError(f"store.url {redact(url)!r} is neither sqlite:/// nor postgresql+psycopg://",
                     fix="leave store.url empty for the workspace's SQLite file")


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show nothing of it
        return "<unparsable URL>"


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision` in one transaction; safe when two processes start at once."""
    from alembic import command

    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            command.upgrade(_alembic_config(conn), revision)
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot migrate the operational store at {redact(str(engine.url))}: "
                         f"{str(exc.orig).splitlines()[0]}", fix="check store.url and that the database is up")


def downgrade(engine: sa.Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), revision)


def insert_ignore(conn, table: sa.Table, rows: list[dict]) -> int:
    """Insert rows, skipping those whose unique key is already stored; returns the rows inserted.

    This is how a rerun of a day, or two runs at once, write the same enrollments and messages
    once: the unique keys decide, not a check-then-insert that could race."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # RETURNING counts what was inserted: an executemany's rowcount is -1 on psycopg.
    stmt = insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
    return sum(len(conn.execute(stmt, rows[i:i + 50_000]).all()) for i in range(0, len(rows), 50_000))


def bulk_insert_ignore(conn, table: sa.Table, frame) -> int:
    """`insert_ignore` for a large DataFrame: the rows go to the driver as tuples of text and
    numbers, not through SQLAlchemy's per-row parameter processing (a million rows in seconds,
    not minutes). SQLite: one executemany of INSERT OR IGNORE. PostgreSQL: COPY into a
    temporary table, then one INSERT ... ON CONFLICT DO NOTHING (whose row count is exact)."""
    if len(frame) == 0:
        return 0
    columns = list(frame.columns)
    rows = list(zip(*(_driver_values(frame[c], table.c[c].type) for c in columns)))
    names = ", ".join(columns)
    if conn.dialect.name != "postgresql":
        marks = ", ".join("?" * len(columns))
        return conn.exec_driver_sql(f"INSERT OR IGNORE INTO {table.name} ({names}) VALUES ({marks})", rows).rowcount
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(f"CREATE TEMP TABLE _bulk_{table.name} ON COMMIT DROP AS "
                       f"SELECT {names} FROM {table.name} WITH NO DATA")
        with cursor.copy(f"COPY _bulk_{table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM _bulk_{table.name} "
                       "ON CONFLICT DO NOTHING")
        inserted = cursor.rowcount
        cursor.execute(f"DROP TABLE _bulk_{table.name}")
        return inserted
    finally:
        cursor.close()


def _driver_values(column, kind) -> list:
    """A column as the text SQLAlchemy would store (dates ISO, times with microseconds, booleans
    0/1), so rows written in bulk read back exactly like rows written one by one."""
    import pandas as pd

    if isinstance(kind, sa.DateTime):
        text = pd.to_datetime(column).dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    elif isinstance(kind, sa.Date):
        text = pd.to_datetime(column).dt.strftime("%Y-%m-%d")
    elif isinstance(kind, sa.Boolean):
        return [None if v is None else int(bool(v)) for v in column.astype(object).tolist()]
    elif isinstance(kind, sa.Integer):
        return [None if pd.isna(v) else int(v) for v in column.tolist()]
    else:
        text = column
    return [None if v is None or v is pd.NA or v != v else str(v) for v in text.astype(object).tolist()]


def analyze(conn, *names: str) -> None:
    """Fresh planner statistics after a bulk write. Without them SQLite sorts every due message
    to claim a batch in customer order (150 ms a claim at 400k rows) instead of walking the
    (status, customer_id) index (2 ms)."""
    for name in names:
        conn.exec_driver_sql(f"ANALYZE {name}")


def skip_locked(select: sa.Select) -> sa.Select:
    """Rows another dispatcher has locked are skipped on PostgreSQL; SQLite has one writer at a
    time (BEGIN IMMEDIATE), so there is nothing to skip."""
    return select.with_for_update(skip_locked=True)


def upsert_consent(conn, *, customer_id: str, channel: str, granted: bool, source: str, recorded_at) -> None:
    """Set a customer's consent on a channel (one row per customer and channel; the latest wins)."""
    from tenure.store.tables import consents

    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    values = {"customer_id": customer_id, "channel": channel, "granted": granted, "source": source,
              "recorded_at": recorded_at}
    stmt = insert(consents).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["customer_id", "channel"],
                                            set_={k: stmt.excluded[k] for k in ("granted", "source", "recorded_at")}))
