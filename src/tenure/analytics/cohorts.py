"""Monthly cohorts: customers grouped by the calendar month of their first purchase, and what each
cohort bought in every month after. Pure Ibis: nothing executes or reads the clock."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from tenure.analytics.features import Tables, purchases

UNKNOWN = "unknown"  # the channel of a customer whose acquisition_channel is empty


def month_index(value: ir.TimestampValue | ir.DateValue) -> ir.IntegerValue:
    """Months since year 0: consecutive calendar months differ by 1, whatever the year."""
    return value.year().cast("int64") * 12 + value.month().cast("int64") - 1


def month_label(index: ir.IntegerValue) -> ir.StringValue:
    """'YYYY-MM' of a month index, built from integers so that every backend writes it alike."""
    year = (index // 12).cast("int64").cast("string")
    month = (index % 12 + 1).cast("int64").cast("string").lpad(2, "0")
    return year.concat("-", month)


def channels(tables: Tables) -> ir.Table:
    c = tables.customers
    return c.select("customer_id", channel=ibis.coalesce(c.acquisition_channel, UNKNOWN))


def first_purchase_month(tables: Tables, as_of: dt.date, *, by_channel: bool = False) -> ir.Table:
    """One row per buyer: `c`, the month index of their first purchase (and their channel)."""
    p = purchases(tables, as_of)
    first = p.group_by("customer_id").aggregate(c=month_index(p.ordered_at).min())
    if not by_channel:
        return first
    j = first.left_join(channels(tables), "customer_id")
    return j.select("customer_id", "c", channel=ibis.coalesce(j.channel, UNKNOWN))


def cohort_retention(tables: Tables, *, as_of: dt.date, by_channel: bool = False) -> ir.Table:
    """cohort, [channel], month, cohort_size, active_customers, retention, revenue,
    revenue_per_customer: one row per cohort and month 0 .. as_of's month, zeros included."""
    keys = ["c", "channel"] if by_channel else ["c"]
    first = first_purchase_month(tables, as_of, by_channel=by_channel)
    p = purchases(tables, as_of)
    p = p.select("customer_id", m=month_index(p.ordered_at), amount=p.amount)
    bought = p.join(first, "customer_id")
    monthly = bought.group_by(*keys, "m").aggregate(
        active_customers=bought.customer_id.nunique(),
        revenue=bought.amount.sum().cast("float64"),
    )
    sizes = first.group_by(keys).aggregate(cohort_size=first.count())
    last = as_of.year * 12 + as_of.month - 1
    # Every month from the cohort's first to as_of's, so that a month nobody bought in shows 0.
    grid = sizes.mutate(month=ibis.range(0, last - sizes.c + 1)).unnest("month")
    grid = grid.mutate(month=grid.month.cast("int64"), m=grid.c + grid.month.cast("int64"))
    j = grid.left_join(monthly, [*keys, "m"])
    active = ibis.coalesce(j.active_customers, 0).cast("int64")
    revenue = ibis.coalesce(j.revenue, 0.0)
    size = j.cohort_size.cast("int64")
    out = j.select(
        cohort=month_label(j.c),
        **({"channel": j.channel} if by_channel else {}),
        month=j.month,
        cohort_size=size,
        active_customers=active,
        retention=active.cast("float64") / size.cast("float64"),
        revenue=revenue,
        revenue_per_customer=revenue / size.cast("float64"),
    )
    return out.order_by("cohort", *(["channel"] if by_channel else []), "month")
