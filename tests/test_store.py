"""The operational store: migrations from empty and from the previous version, on SQLite and
PostgreSQL, match the tables the code uses; concurrent first opens migrate once."""

from __future__ import annotations

import datetime as dt
import multiprocessing

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tenure.store import engine as store_engine
from tenure.store import open_store, tables


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("pg_url")


def diff(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), tables.metadata)


def test_from_empty_the_schema_equals_the_tables_the_code_uses(url):
    store = open_store(url)
    assert store_engine.current_revision(store.engine) == store_engine.head_revision() == "0002"
    assert diff(store.engine) == []
    if store.dialect == "sqlite":
        with store.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_from_the_previous_version_data_is_kept(url):
    eng = store_engine.create(url)
    store_engine.migrate(eng, "0001")
    now = dt.datetime(2026, 1, 1)
    with eng.begin() as conn:
        conn.execute(tables.enrollments.insert().values(campaign="c", customer_id="u", entered_on=now.date(),
                                                       grp="treatment", trigger="t", created_at=now))
        conn.execute(tables.suppressions.insert().values(customer_id="u", scope="marketing", reason="manual",
                                                        created_at=now))
        assert "sunset_offers" not in sa.inspect(conn).get_table_names()
    store = open_store(url)  # upgrades automatically
    assert diff(store.engine) == []
    with store.connect() as conn:
        assert conn.execute(sa.select(tables.enrollments.c.customer_id)).scalars().all() == ["u"]
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.suppressions)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.sunset_offers)).scalar() == 0
    store_engine.downgrade(store.engine, "0001")  # and back: the downgrade path works too
    with store.connect() as conn:
        assert "sunset_offers" not in sa.inspect(conn).get_table_names()
        assert conn.execute(sa.select(tables.enrollments.c.customer_id)).scalars().all() == ["u"]


def _open(url: str) -> str:
    return store_engine.current_revision(open_store(url).engine)


def test_two_processes_opening_a_new_store_at_once_migrate_it_once(url):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        revisions = pool.map(_open, [url, url])
    assert revisions == ["0002", "0002"]
    assert diff(open_store(url).engine) == []


def test_a_bad_url_is_a_clear_error(tmp_path):
    from tenure.errors import StoreError

    with pytest.raises(StoreError, match="neither sqlite"):
        open_store("mysql://user:secret@host/db")
    with pytest.raises(StoreError) as err:
        open_store("postgresql+psycopg://user:secret@127.0.0.1:9/db")
    assert "secret" not in str(err.value) and "***" in str(err.value)
