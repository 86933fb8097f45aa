"""The purchase funnel: lead, 1st, 2nd, 3rd and 4th+ purchase, counted on distinct purchase days
(two orders on one day are one purchase), with the conversion between steps. Pure Ibis."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from tenure.analytics.cohorts import UNKNOWN, channels, month_index, month_label
from tenure.analytics.features import Tables, end_of, purchase_days

STEPS = ("lead", "1st purchase", "2nd purchase", "3rd purchase", "4th+ purchase")
GROUPS = ("cohort", "channel")


def customer_steps(tables: Tables, as_of: dt.date) -> ir.Table:
    """One row per customer known on `as_of` (or with a purchase): purchase days `n`, the days from
    created_at to the first purchase day (`d1`) and the gaps before the 2nd, 3rd and 4th (`g2`..`g4`),
    `first_seen` (the earlier of created_at and the first purchase day) and `channel`."""
    c = tables.customers
    known = c.filter(c.created_at.isnull() | (c.created_at < end_of(as_of))).select(
        "customer_id", created=c.created_at.date())
    days = purchase_days(tables, as_of)
    days = days.mutate(k=ibis.row_number().over(group_by="customer_id", order_by="day") + 1)
    habits = days.group_by("customer_id").aggregate(
        n=days.count(),
        first_day=days.day.min(),
        **{f"g{k}": days.gap.max(where=days.k == k) for k in (2, 3, 4)},
    )
    ids = known.select("customer_id").union(habits.select("customer_id"), distinct=True)
    j = (ids.left_join(known, "customer_id").select(~ibis.selectors.endswith("_right"))
         .left_join(habits, "customer_id").select(~ibis.selectors.endswith("_right"))
         .left_join(channels(tables), "customer_id").select(~ibis.selectors.endswith("_right")))
    seen = ibis.least(j.created, j.first_day)  # least() skips nulls on both backends
    return j.select(
        "customer_id", "g2", "g3", "g4",
        n=ibis.coalesce(j.n, 0),
        d1=j.first_day.delta(j.created, unit="day"),
        first_seen=seen,
        channel=ibis.coalesce(j.channel, UNKNOWN),
    )


def funnel(tables: Tables, *, as_of: dt.date, by: str | None = None) -> ir.Table:
    """[cohort|channel], step, step_number, customers, conversion, overall, median_days."""
    if by is not None and by not in GROUPS:
        raise ValueError(f"by must be None, 'cohort' or 'channel', not {by!r}")
    t = customer_steps(tables, as_of)
    if by == "cohort":
        # A lead without a sign-up time and without a purchase has no month: 'unknown'.
        t = t.mutate(cohort=ibis.coalesce(month_label(month_index(t.first_seen)), UNKNOWN))
    keys = [by] if by else []
    null = ibis.null("float64")
    agg = {"s0": t.count()}
    for k in range(1, 5):
        agg[f"s{k}"] = (t.n >= k).cast("int64").sum()
    # Days from sign-up to the first purchase, where sign-up is recorded no later than that purchase.
    agg["m1"] = ibis.ifelse(t.d1 >= 0, t.d1.cast("float64"), null).median()
    for k in (2, 3, 4):  # g_k is null unless the customer reached the k-th purchase day
        agg[f"m{k}"] = t[f"g{k}"].cast("float64").median()
    a = t.group_by(keys).aggregate(**agg) if keys else t.aggregate(**agg)
    a = a.filter(a.s0 > 0)  # an empty shop has no funnel, not a row of zeros
    parts = []
    for k, step in enumerate(STEPS):
        customers = a[f"s{k}"].cast("int64")
        prev = a[f"s{k - 1}"] if k else None
        parts.append(a.select(
            *keys,
            step=ibis.literal(step),
            step_number=ibis.literal(k, "int64"),
            customers=customers,
            conversion=(customers.cast("float64") / prev.cast("float64").nullif(0.0)) if k else null,
            overall=customers.cast("float64") / a.s0.cast("float64"),
            median_days=a[f"m{k}"].cast("float64") if k else null,
        ))
    return ibis.union(*parts).order_by(*keys, "step_number")
