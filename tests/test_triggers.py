"""Every trigger form on hand-made snapshots: who enters on a day, and the span rule (a trigger
fires for what happened between the previous run and this one, so skipped days lose nobody)."""

from __future__ import annotations

import datetime as dt
import json

import ibis
import pandas as pd

from tenure.campaigns import triggers
from tenure.campaigns.definitions import Campaign, Step, Trigger

D = dt.date(2026, 3, 10)


def campaign(**trigger) -> Campaign:
    return Campaign(enabled=True, trigger=Trigger(**trigger), steps=[Step(offset_days=0, template="x")])


SNAP = ibis.memtable(pd.DataFrame({
    "customer_id": ["a", "b", "c", "d", "e", "leap"],
    "orders": [1, 2, 3, 1, 0, 1],
    "last_purchase": [D - dt.timedelta(days=25), D - dt.timedelta(days=26), D - dt.timedelta(days=25),
                      D - dt.timedelta(days=30), None, dt.date(2024, 2, 29)],
    "first_purchase": [dt.date(2025, 3, 10), dt.date(2024, 3, 9), dt.date(2026, 3, 10) - dt.timedelta(days=25),
                       dt.date(2025, 3, 8), None, dt.date(2024, 2, 29)],
    "lifecycle": ["lapsing", "active", "active", "lapsing", "lead", "dormant"],
    "vip": [True, False, True, False, False, False],
}).assign(days_since_last=lambda f: [(D - d).days if d else None for d in f.last_purchase]))
EMPTY = ibis.memtable(pd.DataFrame({"customer_id": ["x"], "occurred_at": [dt.datetime(2000, 1, 1)], "type": ["n"]}))


def who(c: Campaign, *, as_of=D, previous=None, snap=SNAP, changes=None, events=EMPTY, customers=None) -> list[str]:
    expr = triggers.entries("c", c, snap=snap, changes=changes, customers=customers, events=events, as_of=as_of,
                            previous=previous)
    return [] if expr is None else sorted(expr.to_pyarrow().to_pandas().customer_id)


def test_ladder_fires_on_the_day_the_days_are_reached():
    rung = campaign(orders="1-2", days_since_last=25)
    assert who(rung) == ["a"]                                       # b is at 26 (yesterday), c has 3 orders
    assert who(rung, previous=D - dt.timedelta(days=3)) == ["a", "b"]   # a skipped run: 24..26 days crossed
    assert who(campaign(orders="3+", days_since_last=25)) == ["c"]
    assert who(campaign(orders="1", days_since_last=30)) == ["d"]


def test_label_fires_on_transitions_into_it_and_not_on_the_first_run():
    changes = ibis.memtable(pd.DataFrame({
        "customer_id": ["a", "d", "b", "c"], "segmentation": ["lifecycle", "lifecycle", "rf", "vip"],
        "from_label": ["active", "(new)", "recent", "out"], "to_label": ["lapsing", "lapsing", "wandering", "in"]}))
    assert who(campaign(lifecycle="lapsing"), changes=changes, previous=D - dt.timedelta(days=1)) == ["a", "d"]
    assert who(campaign(vip=True), changes=changes, previous=D - dt.timedelta(days=1)) == ["c"]
    assert who(campaign(lifecycle="lapsing"), changes=None) == []  # nothing to compare with yet


def test_anniversaries_and_fixed_dates():
    assert who(campaign(anniversary="first_purchase")) == ["a"]                 # not c: bought this year
    assert who(campaign(anniversary="first_purchase"), previous=D - dt.timedelta(days=2)) == ["a", "b"]
    feb28 = dt.date(2026, 2, 28)                                                 # 2026 is not a leap year
    assert who(campaign(anniversary="first_purchase"), as_of=feb28) == ["leap"]
    assert who(campaign(on="03-10")) == ["a", "b", "c", "d", "e", "leap"]
    assert who(campaign(on="12-24")) == []


def test_events_and_birthdays_read_the_warehouse_tables():
    events = ibis.memtable(pd.DataFrame({
        "customer_id": ["a", "a", "b", "c"],
        "occurred_at": [dt.datetime(2026, 3, 10, 9), dt.datetime(2026, 3, 10, 23, 59), dt.datetime(2026, 3, 9, 8),
                        dt.datetime(2026, 3, 11, 0, 0)],
        "type": ["subscribe", "subscribe", "subscribe", "subscribe"]}))
    assert who(campaign(event="subscribe"), events=events) == ["a"]            # c's is tomorrow
    assert who(campaign(event="subscribe"), events=events, previous=D - dt.timedelta(days=2)) == ["a", "b"]
    customers = ibis.memtable(pd.DataFrame({
        "customer_id": ["a", "b", "late"],
        "created_at": [dt.datetime(2020, 1, 1), None, dt.datetime(2026, 4, 1)],
        "attributes": [json.dumps({"birthday": "1990-03-10"}), json.dumps({"city": "x"}),
                       json.dumps({"birthday": "1985-03-10"})]}), schema={
        "customer_id": "string", "created_at": "timestamp", "attributes": "json"})
    assert who(campaign(anniversary="birthday"), customers=customers) == ["a"]  # late is not a customer yet


def test_still_in_follows_the_trigger():
    inside = triggers.still_in("c", campaign(orders="1-2", days_since_last=25), SNAP).to_pyarrow().to_pandas()
    assert sorted(inside.customer_id) == ["a", "b", "d", "leap"]
    assert triggers.still_in("c", campaign(event="subscribe"), SNAP) is None
