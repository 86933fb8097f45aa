"""PySpark gives the same snapshot as DuckDB, customer by customer and column by column.

Labels, integers, booleans and dates must be equal (nulls in the same places); floats equal to
1e-9 relative. The snapshot is the whole pipeline: features, store cycle, lifecycle, RF, RFM and
the default custom segments (a quantile over a window among them).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys

import duckdb
import numpy as np
import pytest

from tenure.analytics.features import purchases
from tests.conftest import NOW, write

pytestmark = pytest.mark.spark


# The predictions come from an iterative fit whose stopping point depends on the order in which
# each backend hands over the (identical) summary rows: they agree to about 1e-9, not to the bit.
FITTED = {"p_alive", "purchase_probability_90d", "expected_purchases_90d", "expected_spend", "clv_365d"}


def assert_same_snapshot(duck, spark) -> int:
    """Execute both snapshot expressions and compare them customer by customer; returns rows."""
    assert duck.schema() == spark.schema()
    a = duck.execute().sort_values("customer_id").reset_index(drop=True)
    b = spark.execute().sort_values("customer_id").reset_index(drop=True)
    assert len(a) == len(b) > 0
    assert a.customer_id.is_unique and list(a.customer_id) == list(b.customer_id)
    for name, dtype in duck.schema().items():
        x, y = a[name], b[name]
        nulls = x.isna()
        same = nulls == y.isna()
        if dtype.is_floating():
            rtol = 1e-6 if name in FITTED else 1e-9
            same &= nulls | np.isclose(x.astype("float64"), y.astype("float64"), rtol=rtol, atol=0.0)
        else:
            same &= nulls | (x.astype(object) == y.astype(object))
        bad = a.customer_id[~same]
        assert bad.empty, (f"{name} differs for {len(bad)} customers, e.g. {bad.iloc[0]}: "
                           f"duckdb {x[~same].iloc[0]!r}, pyspark {y[~same].iloc[0]!r}")
    return len(a)


# -- the backend itself -----------------------------------------------------------------------
def test_import_tenure_does_not_load_pyspark():
    code = "import sys, tenure, tenure.warehouse.spark; assert 'pyspark' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_pyspark_names_the_extra(monkeypatch):
    from tenure.errors import MissingExtraError
    from tenure.warehouse import spark

    monkeypatch.setattr(spark, "_session", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'tenure\[pyspark\]'"):
        spark.session("local[2]")


def test_missing_java_is_one_line(monkeypatch):
    from tenure.errors import TenureError
    from tenure.warehouse import spark

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(TenureError, match="Java 17") as err:
        spark._java()
    assert "\n" not in str(err.value)


def test_naive_timestamps_are_not_shifted(ws, spark_session):
    from tenure.warehouse import spark

    assert spark_session.sql("SELECT TIMESTAMP '2011-12-09 12:50:00' AS t").first().t == dt.datetime(2011, 12, 9, 12, 50)
    src = write(ws.root / "in" / "orders.csv",
                "order_id,customer_id,ordered_at,amount\n"
                "A1,c1,2011-12-09 12:50:00,10\nA2,c1,2011-12-09 23:59:59,20\nA3,c1,2011-12-10 00:00:00,30\n")
    ws.ingest("orders", [src], now=NOW)
    want = [dt.datetime(2011, 12, 9, 12, 50), dt.datetime(2011, 12, 9, 23, 59, 59), dt.datetime(2011, 12, 10)]
    tables = spark.tables(ws)
    # Whatever the session's zone, TIMESTAMP_NTZ values and literals are wall clock.
    for zone in ("UTC", "America/Los_Angeles", "Asia/Tokyo"):
        spark_session.conf.set("spark.sql.session.timeZone", zone)
        try:
            got = tables.orders.order_by("order_id").ordered_at.execute()
            assert [t.to_pydatetime() for t in got] == want, zone
            # The end of 9 December is midnight after it: 23:59:59 counts, 00:00:00 does not.
            assert purchases(tables, dt.date(2011, 12, 9)).count().execute() == 2, zone
        finally:
            spark_session.conf.set("spark.sql.session.timeZone", "UTC")


def test_export_is_reused_until_the_warehouse_changes(ws, spark_session):
    from tenure.warehouse import spark

    src = write(ws.root / "in" / "a.csv", "order_id,customer_id,ordered_at,amount\nA1,c1,2024-01-02 10:00:00,10\n")
    ws.ingest("orders", [src], now=NOW)
    first = spark.tables(ws)
    exported = ws.root / "spark" / "orders.parquet"
    stamp = exported.stat().st_mtime_ns
    assert spark.tables(ws) is first and exported.stat().st_mtime_ns == stamp
    assert first.orders.count().execute() == 1

    src = write(ws.root / "in" / "b.csv", "order_id,customer_id,ordered_at,amount\nB1,c2,2024-01-03 10:00:00,5\n")
    ws.ingest("orders", [src], now=NOW)
    again = spark.tables(ws)
    assert exported.stat().st_mtime_ns != stamp
    assert again.orders.count().execute() == 2
    assert sorted(again.customers.customer_id.execute()) == ["c1", "c2"]


# -- parity ------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_of", [dt.date(2024, 6, 30), dt.date(2025, 12, 31)])
def test_generated_shop_same_snapshot(shop, as_of):
    rows = assert_same_snapshot(shop.snapshot(as_of=as_of, backend="duckdb"),
                                shop.snapshot(as_of=as_of, backend="pyspark"))
    assert rows == {dt.date(2024, 6, 30): 1058, dt.date(2025, 12, 31): 3000}[as_of]


@pytest.mark.realdata
def test_cdnow_same_snapshot(cdnow):
    as_of = dt.date(1998, 7, 1)
    rows = assert_same_snapshot(cdnow.snapshot(as_of=as_of, backend="duckdb"),
                                cdnow.snapshot(as_of=as_of, backend="pyspark"))
    assert rows == 23_570


def test_run_on_pyspark_stores_the_duckdb_snapshot(shop, tmp_path):
    as_of = dt.date(2025, 3, 31)
    on_duckdb = shop.run(as_of=as_of, backend="duckdb")
    kept = tmp_path / "duckdb.parquet"
    shutil.move(shop.history.path(as_of), kept)
    on_spark = shop.run(as_of=as_of, backend="pyspark")
    stored = shop.history.path(as_of)
    assert stored.is_file()  # one Parquet file, not Spark's folder of part files
    fitted_spark, fitted_duck = on_spark.models.bgnbd.params, on_duckdb.models.bgnbd.params
    assert fitted_spark == pytest.approx(fitted_duck, rel=1e-6)
    on_spark.models = on_duckdb.models = None
    assert on_spark == on_duckdb

    con = duckdb.connect()
    a, b = f"read_parquet('{kept}')", f"read_parquet('{stored}')"
    assert con.execute(f"DESCRIBE SELECT * FROM {a}").fetchall() == con.execute(f"DESCRIBE SELECT * FROM {b}").fetchall()
    assert con.execute(f"SELECT count(*) FROM {a}").fetchone() == con.execute(f"SELECT count(*) FROM {b}").fetchone()
    # Exactly the same rows (money sums are decimals cast once, medians are halves: no rounding),
    # but for the fitted predictions, equal to 1e-6 (see FITTED).
    exact = ", ".join(c for (c, *_) in con.execute(f"DESCRIBE SELECT * FROM {a}").fetchall() if c not in FITTED)
    assert con.execute(f"SELECT count(*) FROM (SELECT {exact} FROM {a} EXCEPT ALL SELECT {exact} FROM {b})").fetchone() == (0,)
    worst = con.execute(f"SELECT max(abs(x.clv_365d - y.clv_365d) / y.clv_365d) FROM {a} x JOIN {b} y USING (customer_id)").fetchone()[0]
    assert worst < 1e-6
    assert con.execute(f"SELECT count(*) FROM (SELECT {exact} FROM {b} EXCEPT ALL SELECT {exact} FROM {a})").fetchone() == (0,)


# -- loyalty -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def loyal(shop, tmp_path_factory):
    """The same generated shop with the loyalty programme on (tiers, membership, points)."""
    from tenure import Workspace

    ws = Workspace.init(tmp_path_factory.mktemp("loyal") / "shop", timezone="Europe/London", currency="GBP",
                        loyalty=True)
    for entity in ("customers", "orders", "order_items", "events"):
        ws.ingest(entity, [shop.root.parent / "input" / f"{entity}.parquet"], now=NOW)
    return ws


def test_loyalty_snapshot_columns_are_the_same(loyal):
    as_of = dt.date(2025, 12, 31)
    duck = loyal.snapshot(as_of=as_of, backend="duckdb")
    assert {"tier", "tier_spend", "spend_to_next_tier", "membership", "membership_plan"} <= set(duck.columns)
    assert assert_same_snapshot(duck, loyal.snapshot(as_of=as_of, backend="pyspark")) == 3000
    # Not a comparison of empty columns: every default tier and a membership label other than none.
    counts = duck.execute()
    assert set(counts.tier) == {"bronze", "silver", "gold"}
    assert {"member", "none"} <= set(counts.membership)


def test_loyalty_accrual_reads_the_same_history(loyal):
    """What `tenure run` accrues from: orders with their multipliers, event and sign-up credits."""
    from tenure.loyalty.accrual import Sources
    from tenure.warehouse.backends import analytics_tables

    as_of, settings = dt.date(2025, 12, 31), loyal.settings.loyalty
    duck = Sources.read(analytics_tables(loyal, "duckdb"), as_of, settings)
    spark = Sources.read(analytics_tables(loyal, "pyspark"), as_of, settings)
    a, b = (s.orders.reset_index(drop=True) for s in (duck, spark))
    assert len(a) > 8000 and (a.multiplier > 1).any()  # tier and plan multipliers are in play
    assert list(a.columns) == list(b.columns)
    for name in a.columns:
        assert list(a[name]) == list(b[name]), name
    assert len(duck.credits) > 500 and {c.reason for c in duck.credits} >= {"review", "referral"}
    assert sorted(duck.credits, key=lambda c: c.key) == sorted(spark.credits, key=lambda c: c.key)
