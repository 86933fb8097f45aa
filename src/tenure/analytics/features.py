"""Per-customer features as of a date: pure Ibis, one row per customer known on that date.

Only orders and events up to the end of `as_of` count (timestamps are wall-clock in the shop's
zone, so the end of the day is midnight after it). Nothing here executes or reads the clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from tenure.analytics.settings import CycleSettings

EMAIL_OPEN, EMAIL_CLICK = "email_open", "email_click"


@dataclass(frozen=True)
class Tables:
    """The canonical tables of one backend, as Ibis tables."""

    customers: ir.Table
    orders: ir.Table
    events: ir.Table


def end_of(as_of: dt.date) -> ir.TimestampScalar:
    """Midnight after `as_of`: timestamps are wall-clock, so 'up to the end of D' is '< this'."""
    return ibis.timestamp(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))


def purchases(tables: Tables, as_of: dt.date) -> ir.Table:
    """Completed orders up to the end of `as_of`: status completed and amount > 0."""
    o = tables.orders
    return o.filter(o.ordered_at < end_of(as_of), o.status == "completed", o.amount > 0,
                    o.customer_id.notnull())


def purchase_days(tables: Tables, as_of: dt.date) -> ir.Table:
    """One row per customer and distinct purchase day, with the interval since the previous one."""
    days = purchases(tables, as_of).select("customer_id", day=ibis._.ordered_at.date()).distinct()
    prev = days.day.lag().over(ibis.window(group_by="customer_id", order_by="day"))
    return days.mutate(gap=days.day.delta(prev, unit="day"))


def store_cycle(tables: Tables, as_of: dt.date, cycle: CycleSettings) -> ir.Table:
    """C, as a one-row table: the median of every customer's intervals between consecutive
    purchase days, pooled; a configured number of days instead, or the fallback when there is
    no repeat purchase (`repeat_intervals` = 0 says so).

    A one-row table joined explicitly, not a scalar: Ibis would otherwise merge the pooled
    median with the per-customer median of the same column."""
    gaps = purchase_days(tables, as_of)
    stats = gaps.aggregate(repeat_intervals=gaps.gap.count(), pooled=gaps.gap.median().cast("float64"))
    if cycle.fixed_days:
        value = ibis.literal(float(cycle.fixed_days))
    else:
        value = ibis.coalesce(stats.pooled, ibis.literal(float(cycle.fallback_days)))
    return stats.select("repeat_intervals", store_cycle_days=value)


def features(tables: Tables, *, as_of: dt.date, cycle: CycleSettings) -> ir.Table:
    end = end_of(as_of)
    day = ibis.date(as_of)
    year_ago = ibis.timestamp(dt.datetime.combine(as_of - dt.timedelta(days=364), dt.time()))

    bought = purchases(tables, as_of).group_by("customer_id").aggregate(
        orders=ibis._.count(),
        spend=ibis._.amount.sum().cast("float64"),
        spend_365=ibis._.amount.sum(where=ibis._.ordered_at >= year_ago).cast("float64"),
    )
    days = purchase_days(tables, as_of)
    habits = days.group_by("customer_id").aggregate(
        purchase_days=ibis._.count(),
        first_purchase=ibis._.day.min(),
        last_purchase=ibis._.day.max(),
        intervals=ibis._.gap.count(),
        own_median=ibis._.gap.median().cast("float64"),
        # The last interval: the gap on the latest purchase day (max_by picks that day's row).
        last_interval=ibis._.gap.argmax(ibis._.day),
    )
    ev = tables.events.filter(tables.events.occurred_at < end)
    engaged = ev.group_by("customer_id").aggregate(
        last_email_open=ev.occurred_at.max(where=ev.type == EMAIL_OPEN).date(),
        last_email_click=ev.occurred_at.max(where=ev.type == EMAIL_CLICK).date(),
    )
    c = tables.customers
    known = c.filter(c.created_at.isnull() | (c.created_at < end)).select(
        "customer_id", "consent_email", "consent_sms", "acquisition_channel",
        first_seen=c.created_at.date())
    joined = (known.left_join(bought, "customer_id").select(~ibis.selectors.endswith("_right"))
              .left_join(habits, "customer_id").select(~ibis.selectors.endswith("_right"))
              .left_join(engaged, "customer_id").select(~ibis.selectors.endswith("_right")))
    joined = joined.cross_join(store_cycle(tables, as_of, cycle))
    t = joined.mutate(
        orders=ibis.coalesce(joined.orders, 0),
        purchase_days=ibis.coalesce(joined.purchase_days, 0),
        spend=ibis.coalesce(joined.spend, 0.0),
        spend_365=ibis.coalesce(joined.spend_365, 0.0),
        days_since_last=day.delta(joined.last_purchase, unit="day"),
        tenure_days=day.delta(joined.first_purchase, unit="day"),
        days_since_open=day.delta(joined.last_email_open, unit="day"),
        days_since_click=day.delta(joined.last_email_click, unit="day"),
    )
    own = ibis.ifelse(t.intervals >= cycle.min_own_intervals, t.own_median, t.store_cycle_days)
    return t.mutate(
        avg_spend=ibis.ifelse(t.orders > 0, t.spend / t.orders, ibis.null("float64")),
        own_cycle_days=ibis.ifelse(t.purchase_days > 0, own, ibis.null("float64")),
        as_of=day,
    ).drop("own_median")
