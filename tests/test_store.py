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
    assert store_engine.current_revision(store.engine) == store_engine.head_revision() == "0005"
    assert diff(store.engine) == []
    if store.dialect == "sqlite":
        with store.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.parametrize("previous", ["0001", "0002", "0003"])
def test_from_the_previous_version_data_is_kept(url, previous):
    eng = store_engine.create(url)
    store_engine.migrate(eng, previous)
    now = dt.datetime(2026, 1, 1)
    with eng.begin() as conn:
        conn.execute(tables.enrollments.insert().values(campaign="c", customer_id="u", entered_on=now.date(),
                                                       grp="treatment", trigger="t", created_at=now))
        conn.execute(tables.suppressions.insert().values(customer_id="u", scope="marketing", reason="manual",
                                                        created_at=now))
        assert ("sunset_offers" in sa.inspect(conn).get_table_names()) == (previous != "0001")
        assert "inbox" not in sa.inspect(conn).get_table_names()
    store = open_store(url)  # upgrades automatically
    assert diff(store.engine) == []
    with store.connect() as conn:
        assert conn.execute(sa.select(tables.enrollments.c.customer_id)).scalars().all() == ["u"]
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.suppressions)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.sunset_offers)).scalar() == 0
    store_engine.downgrade(store.engine, "0001")  # and back: the downgrade path works too
    with store.connect() as conn:
        assert "sunset_offers" not in sa.inspect(conn).get_table_names()
        assert "api_keys" not in sa.inspect(conn).get_table_names()
        assert conn.execute(sa.select(tables.enrollments.c.customer_id)).scalars().all() == ["u"]


def _open(url: str) -> str:
    return store_engine.current_revision(open_store(url).engine)


def test_two_processes_opening_a_new_store_at_once_migrate_it_once(url):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        revisions = pool.map(_open, [url, url])
    assert revisions == ["0005", "0005"]
    assert diff(open_store(url).engine) == []


def test_a_bad_url_is_a_clear_error(tmp_path):
    from tenure.errors import StoreError

    with pytest.raises(StoreError, match="neither sqlite"):
        open_store("mysql://user:secret@host/db")
    with pytest.raises(StoreError) as err:
        open_store("postgresql+psycopg://user:secret@127.0.0.1:9/db")
    assert "secret" not in str(err.value) and "***" in str(err.value)


def test_bulk_insert_ignore_counts_and_reads_back_like_a_typed_insert(url):
    import pandas as pd

    from tenure.store.engine import bulk_insert_ignore, insert_ignore

    store = open_store(url)
    now = dt.datetime(2026, 3, 10, 12, 30, 5, 123456)
    rows = pd.DataFrame({"key": ["k1", "k2", "k3"], "campaign": "c", "customer_id": ["a", "b", "c"],
                         "entered_on": dt.date(2026, 3, 10), "step": [0, 1, 2], "channel": "email",
                         "template": "t", "grp": ["treatment", "holdout", "treatment"],
                         "marketing": [True, False, True], "priority": 5,
                         "due_on": [dt.date(2026, 3, 10), dt.date(2026, 3, 11), None],
                         "status": "pending", "created_at": now})
    rows.loc[2, "due_on"] = dt.date(2026, 3, 12)
    with store.begin() as conn:
        assert bulk_insert_ignore(conn, tables.outbox, rows) == 3
    with store.begin() as conn:  # again, plus one new: only the new one counts
        more = pd.concat([rows, rows.head(1).assign(key="k4", customer_id="d")], ignore_index=True)
        assert bulk_insert_ignore(conn, tables.outbox, more) == 1
    with store.begin() as conn:  # the typed, row-by-row path for comparison
        typed = rows.head(1).assign(key="k5").to_dict("records")
        assert insert_ignore(conn, tables.outbox, typed) == 1
    o = tables.outbox
    with store.connect() as conn:
        got = {r.key: r for r in conn.execute(sa.select(o))}
    assert got["k2"].due_on == dt.date(2026, 3, 11) and got["k2"].marketing is False
    assert got["k1"].created_at == now == got["k5"].created_at
    assert (got["k1"].entered_on, got["k1"].marketing, got["k1"].step) == (got["k5"].entered_on, True, 0)
    with store.connect() as conn:  # comparisons in SQL see bulk and typed rows alike
        n = conn.execute(sa.select(sa.func.count()).select_from(o).where(o.c.created_at >= now,
                                                                          o.c.due_on <= dt.date(2026, 3, 10))).scalar()
    assert n == 3  # k1, k4, k5


def test_past_enrollments_of_todays_entrants_only(url):
    import pandas as pd

    from tenure.campaigns import state

    store = open_store(url)
    now = dt.datetime(2026, 3, 10, 12)
    rows = pd.DataFrame({"campaign": ["c", "c", "c", "other"], "customer_id": ["a", "a", "b", "a"],
                         "entered_on": [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 2, 1),
                                        dt.date(2026, 3, 1)], "grp": "treatment", "trigger": "t"})
    state.write_enrollments(store, rows, pd.DataFrame(columns=["key"]), now)
    got = state.past_enrollments(store, ["c"], pd.Series(["a", "a", "zz"]))
    assert got.values.tolist() == [["c", "a", dt.date(2026, 2, 1), True]]
    every = state.past_enrollments(store, ["c", "other"])
    assert sorted(map(tuple, every[["campaign", "customer_id"]].values)) == [("c", "a"), ("c", "b"), ("other", "a")]
    assert state.past_enrollments(store, ["c"], pd.Series([], dtype=object)).empty
