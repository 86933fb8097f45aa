"""Lifecycle, RF and RFM on hand-made histories whose labels follow from the definitions, and
invariants (Hypothesis) on random ones. The pure snapshot function runs on in-memory tables."""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenure.analytics.features import Tables
from tenure.analytics.snapshot import snapshot
from tenure.config import Settings

D = dt.date(2025, 6, 30)


def tables(orders: list[tuple], customers: list[str] | None = None, events: list[tuple] = ()) -> Tables:
    """orders: (customer_id, days before D, amount, status)."""
    con = ibis.duckdb.connect()
    ids = sorted({o[0] for o in orders} | set(customers or []))
    cust = pd.DataFrame({"customer_id": ids, "created_at": pd.Timestamp("2020-01-01"),
                         "consent_email": True, "consent_sms": False, "acquisition_channel": "organic"})
    rows = [{"order_id": f"o{i}", "customer_id": c,
             "ordered_at": pd.Timestamp(D) - pd.Timedelta(days=days) + pd.Timedelta(hours=10),
             "status": status, "amount": float(amount)} for i, (c, days, amount, status) in enumerate(orders)]
    ords = pd.DataFrame(rows, columns=["order_id", "customer_id", "ordered_at", "status", "amount"])
    ev = pd.DataFrame([{"customer_id": c, "occurred_at": pd.Timestamp(D) - pd.Timedelta(days=days), "type": t}
                       for c, days, t in events], columns=["customer_id", "occurred_at", "type"])
    import pyarrow as pa

    schemas = {
        "orders": pa.schema([("order_id", pa.string()), ("customer_id", pa.string()),
                             ("ordered_at", pa.timestamp("us")), ("status", pa.string()),
                             ("amount", pa.decimal128(18, 4))]),
        "events": pa.schema([("customer_id", pa.string()), ("occurred_at", pa.timestamp("us")),
                             ("type", pa.string())]),
    }
    ords["amount"] = ords["amount"].map(lambda v: __import__("decimal").Decimal(str(v)))
    # Ibis 12's create_table from an in-memory object emits bad SQL with sqlglot 30 (a DROP VIEW
    # without a name): load through DuckDB's own connection instead.
    frames = {"customers": pa.Table.from_pandas(cust, preserve_index=False),
              **{n: pa.Table.from_pandas(df, schema=schemas[n], preserve_index=False)
                 for n, df in (("orders", ords), ("events", ev))}}
    for name, frame in frames.items():
        con.con.register(f"{name}_src", frame)
        con.con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_src")
    made = {name: con.table(name) for name in frames}
    return Tables(made["customers"], made["orders"], made["events"])


def fixed(cycle: float = 10, **extra) -> Settings:
    return Settings.model_validate({"cycle": {"fixed_days": cycle}, "segments": {}, **extra})


def labels(t: Tables, s: Settings, col: str, as_of: dt.date = D) -> dict[str, object]:
    df = snapshot(t, as_of=as_of, settings=s).execute()
    return dict(zip(df.customer_id, df[col]))


def test_lifecycle_boundaries_with_a_fixed_cycle():
    # C = c = 10 days for everyone (fixed cycle); m = 4.
    t = tables([
        ("new_at_C", 10, 5, "completed"),            # n=1, d=10 <= C
        ("one_time", 11, 5, "completed"),            # n=1, C < d <= 4C
        ("one_time_at_4C", 40, 5, "completed"),      # d = 4C is still one-time
        ("dormant_1", 41, 5, "completed"),           # d > 4c
        ("active", 3, 5, "completed"), ("active", 10, 5, "completed"),        # g = 7 <= c, d <= c
        ("reactivated", 2, 5, "completed"), ("reactivated", 30, 5, "completed"),  # g = 28 > c
        ("lapsing", 15, 5, "completed"), ("lapsing", 20, 5, "completed"),     # c < d <= 4c
        ("zero_value", 1, 0, "completed"),           # amount 0 is no purchase: a lead
        ("cancelled", 1, 50, "cancelled"),           # not completed: a lead
        ("same_day_twice", 5, 5, "completed"), ("same_day_twice", 5, 7, "completed"),  # n = 1, k = 2
    ], customers=["never"])
    got = labels(t, fixed(), "lifecycle")
    assert got == {"new_at_C": "new", "one_time": "one-time", "one_time_at_4C": "one-time",
                   "dormant_1": "dormant", "active": "active", "reactivated": "reactivated",
                   "lapsing": "lapsing", "zero_value": "lead", "cancelled": "lead",
                   "same_day_twice": "new", "never": "lead"}


def test_own_cycle_needs_two_intervals_and_store_cycle_is_pooled_median():
    t = tables([("a", 0, 1, "completed"), ("a", 2, 1, "completed"), ("a", 6, 1, "completed"),  # gaps 2, 4
                ("b", 0, 1, "completed"), ("b", 30, 1, "completed")])                      # gap 30
    df = snapshot(t, as_of=D, settings=Settings.model_validate({"segments": {}})).execute().set_index("customer_id")
    assert df.loc["a", "store_cycle_days"] == 4.0          # median of 2, 4, 30
    assert df.loc["a", "own_cycle_days"] == 3.0            # median of its own 2, 4
    assert df.loc["b", "own_cycle_days"] == 4.0            # one interval: the store cycle
    assert df.loc["a", "last_interval"] == 2 and df.loc["b", "last_interval"] == 30


def test_no_repeat_purchase_falls_back_to_the_setting():
    t = tables([("a", 3, 1, "completed"), ("b", 50, 1, "completed")])
    df = snapshot(t, as_of=D, settings=Settings.model_validate({"segments": {}})).execute()
    assert set(df.store_cycle_days) == {30.0} and set(df.repeat_intervals) == {0}
    assert dict(zip(df.customer_id, df.lifecycle)) == {"a": "new", "b": "one-time"}


@pytest.mark.parametrize(("k", "d", "rung"), [
    (1, 9, "recent"), (1, 10, "new"), (1, 24, "new"), (1, 25, "promising"), (2, 24, "recent"),
    (2, 25, "promising"), (2, 51, "wandering"), (1, 75, "dormant"), (2, 400, "dormant"),
    (3, 19, "recent"), (3, 20, "loyal"), (5, 56, "at-risk"), (9, 113, "lost"), (0, 0, "none"),
])
def test_rf_ladder(k, d, rung):
    orders = [("x", d, 10, "completed")] * k if k else [("x", d, 10, "cancelled")]
    assert labels(tables(orders), fixed(), "rf") == {"x": rung}


def test_rfm_scores_share_ties_and_follow_the_formula():
    # 10 buyers; spend 10..100; two share the best recency.
    orders = [(f"c{i}", 100 - 10 * i if i < 9 else 10, 10 * (i + 1), "completed") for i in range(10)]
    orders += [("c9", 200, 5, "completed")] * 4   # c9: 5 orders, the most
    df = snapshot(tables(orders, customers=["lead"]), as_of=D, settings=fixed()).execute().set_index("customer_id")
    n = 10
    for cid, row in df.drop(index="lead").iterrows():
        worse_r = int((df.drop(index="lead").days_since_last > row.days_since_last).sum())
        assert row.r == min(5, 1 + (5 * worse_r) // n)
    assert df.loc["c8", "r"] == df.loc["c9", "r"] == 5          # tie at 10 days: same score
    assert df.loc["c9", "f"] == 5 and df.loc["c0", "f"] == 1   # 9 buyers with 1 order share F=1
    assert df.loc["c9", "rfm"] == "55" + str(int(df.loc["c9", "m"]))
    assert df.loc["c9", "rfm_segment"] == "champions"
    assert pd.isna(df.loc["lead", "r"]) and df.loc["lead", "rfm_segment"] == "none"


history = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "e", "f"]),
                             st.integers(min_value=-60, max_value=400),
                             st.sampled_from([0, 5, 20, 80]),
                             st.sampled_from(["completed", "completed", "cancelled", "returned"])),
                   min_size=0, max_size=30)
SEGMENTATIONS = ("lifecycle", "rf", "rfm_segment")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=history)
def test_invariants(orders):
    past = [o for o in orders if o[1] >= 0]
    s = Settings.model_validate({"segments": {}})
    base = snapshot(tables(past, customers=["a", "b", "c", "d", "e", "f"]), as_of=D, settings=s).execute()
    # Exactly one row, and one label in each segmentation, per customer; counts add up.
    assert sorted(base.customer_id) == ["a", "b", "c", "d", "e", "f"]
    for col in SEGMENTATIONS:
        assert base[col].notna().all()
        assert base[col].value_counts().sum() == len(base)
    assert set(base.lifecycle) <= {"lead", "new", "one-time", "active", "lapsing", "dormant", "reactivated"}
    buyers = base[base.orders > 0]
    for col in ("r", "f", "m"):
        assert buyers[col].between(1, 5).all() and base[base.orders == 0][col].isna().all()
    # Orders dated after D never change the snapshot of D.
    future = past + [(c, days, 50, "completed") for c, days, *_ in orders if days < 0]  # after D
    later = snapshot(tables(future, customers=["a", "b", "c", "d", "e", "f"]), as_of=D, settings=s).execute()
    pd.testing.assert_frame_equal(base.sort_values("customer_id").reset_index(drop=True),
                                  later.sort_values("customer_id").reset_index(drop=True))
