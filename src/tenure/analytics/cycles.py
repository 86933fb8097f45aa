"""Purchase cycles: the intervals between a customer's consecutive purchase days, as a
distribution and by the purchase they lead to. The store cycle itself is features.store_cycle."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from tenure.analytics.features import Tables, purchase_days

LAST = 5  # the 5th purchase day and every later one share a row: "5th+"
LABELS = {2: "2nd", 3: "3rd", 4: "4th", 5: "5th+"}


def intervals(tables: Tables, as_of: dt.date) -> ir.Table:
    """One row per repeat purchase day: `gap` (days since the previous one) and `n`, its number."""
    d = purchase_days(tables, as_of)
    d = d.mutate(n=ibis.row_number().over(group_by="customer_id", order_by="day") + 1)
    return d.filter(d.gap.notnull()).select("customer_id", "gap", n=d.n.cast("int64"))


def interval_distribution(tables: Tables, *, as_of: dt.date) -> ir.Table:
    """days, intervals: how many intervals between consecutive purchase days last `days` days."""
    g = intervals(tables, as_of)
    out = g.group_by(days=g.gap.cast("int64")).aggregate(intervals=g.count().cast("int64"))
    return out.order_by("days")


def cycle_by_purchase_number(tables: Tables, *, as_of: dt.date) -> ir.Table:
    """purchase_number ('2nd' .. '5th+'), n (2..5), intervals, median_days, mean_days of the
    interval that leads to the n-th purchase day."""
    g = intervals(tables, as_of)
    g = g.mutate(n=ibis.least(g.n, LAST), days=g.gap.cast("float64"))
    out = g.group_by("n").aggregate(intervals=g.count().cast("int64"), median_days=g.days.median(),
                                    mean_days=g.days.mean())
    label = ibis.cases(*((out.n == k, text) for k, text in LABELS.items()))
    return out.select(purchase_number=label, n=out.n.cast("int64"), intervals=out.intervals,
                      median_days=out.median_days.cast("float64"),
                      mean_days=out.mean_days.cast("float64")).order_by("n")


def interval_summary(tables: Tables, *, as_of: dt.date) -> ir.Table:
    """One row: intervals (count), median_days (pooled, null without a repeat purchase)."""
    g = intervals(tables, as_of)
    return g.aggregate(intervals=g.count().cast("int64"), median_days=g.gap.cast("float64").median())
