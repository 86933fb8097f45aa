"""PySpark gives the same cohorts, funnel, Pareto, Lorenz curve and cycles as DuckDB on a generated
shop: the same rows in the same order, labels and integers equal, floats to 1e-9 relative."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tenure import analyses

pytestmark = pytest.mark.spark
AS_OF = dt.date(2025, 12, 31)


def same(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    assert len(duck) > 0
    # Strings may come back as str or object: compare values, not pandas dtypes.
    pd.testing.assert_frame_equal(duck, spark, check_dtype=False, check_exact=False, rtol=1e-9, atol=0.0)


@pytest.mark.parametrize("name, call", [
    ("cohorts", lambda ws, b: analyses.cohorts(ws, as_of=AS_OF, backend=b)),
    ("cohorts by channel", lambda ws, b: analyses.cohorts(ws, as_of=AS_OF, by_channel=True, backend=b)),
    ("funnel", lambda ws, b: analyses.funnel(ws, as_of=AS_OF, backend=b)),
    ("funnel by cohort", lambda ws, b: analyses.funnel(ws, as_of=AS_OF, by="cohort", backend=b)),
    ("funnel by channel", lambda ws, b: analyses.funnel(ws, as_of=AS_OF, by="channel", backend=b)),
    ("pareto", lambda ws, b: analyses.pareto(ws, as_of=AS_OF, backend=b)),
    ("lorenz", lambda ws, b: analyses.lorenz(ws, as_of=AS_OF, backend=b)),
])
def test_same_frame(shop, name, call):
    same(call(shop, "duckdb"), call(shop, "pyspark"))


def test_same_cycles(shop):
    duck, spark = (analyses.cycles(shop, as_of=AS_OF, backend=b) for b in ("duckdb", "pyspark"))
    same(duck.intervals, spark.intervals)
    same(duck.by_purchase_number, spark.by_purchase_number)
    assert (duck.store_cycle_days, duck.median_days) == (spark.store_cycle_days, spark.median_days)
    assert duck.median_days is not None


def test_same_campaign_entries_and_recipients(shop):
    """The parts of campaigns that read the warehouse's backend: event triggers and the contact
    facts of recipients (labels and picks come from stored snapshots and DuckDB on both)."""
    from tenure.campaigns import recipients, triggers
    from tenure.campaigns.definitions import Campaign, Step, Trigger
    from tenure.warehouse.backends import analytics_tables

    campaign = Campaign(enabled=True, trigger=Trigger(event="subscribe"),
                        steps=[Step(offset_days=0, template="welcome-1")])
    since = AS_OF - dt.timedelta(days=60)
    got = {}
    for backend in ("duckdb", "pyspark"):
        tables = analytics_tables(shop, backend)
        entries = triggers.entries("welcome", campaign, snap=None, changes=None, customers=tables.customers,
                                   events=tables.events, as_of=AS_OF, previous=since)
        frame = entries.to_pyarrow().to_pandas().sort_values("customer_id", ignore_index=True)
        contacts = recipients.recipients(shop, list(frame.customer_id[:50]), tables=tables, today=AS_OF)
        got[backend] = (frame, contacts.drop(columns=["picks"]).sort_values("customer_id", ignore_index=True))
    assert len(got["duckdb"][0]) > 10
    same(got["duckdb"][0], got["pyspark"][0])
    same(got["duckdb"][1], got["pyspark"][1])
