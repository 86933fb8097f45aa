"""The per-customer summary the models are fitted on, computed in the warehouse: pure Ibis.

Time is counted in whole days between purchase days (several orders on one day are one purchase,
as in the BG/NBD literature); the models convert days to their unit.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from tenure.analytics.features import Tables, end_of


def transactions(tables: Tables, *, start: dt.date | None = None, end: dt.date, include_free: bool = True) -> ir.Table:
    """Completed orders of known customers up to the end of `end` (and after `start` when given).

    `include_free` counts orders of amount 0 (a voucher paid it all) as purchases, as the BG/NBD
    literature counts transactions; the lifecycle features count only amount > 0."""
    o = tables.orders
    keep = (o.ordered_at < end_of(end)) & (o.status == "completed") & o.customer_id.notnull()
    keep &= (o.amount >= 0) if include_free else (o.amount > 0)
    if start is not None:
        keep &= o.ordered_at >= end_of(start)
    return o.filter(keep)


def customer_summary(tables: Tables, *, as_of: dt.date, include_free: bool = True) -> ir.Table:
    """One row per customer with a purchase by `as_of`: x (repeat purchase days), t_x and T (days),
    monetary (mean value of the repeat purchase days; null when x = 0)."""
    # Money stays decimal until the last step: exact sums, the same on every backend.
    days = (transactions(tables, end=as_of, include_free=include_free)
            .group_by("customer_id", day=ibis._.ordered_at.date())
            .aggregate(value=ibis._.amount.sum()))
    per = days.group_by("customer_id").aggregate(
        n=days.count(), first_purchase=days.day.min(), last_purchase=days.day.max(),
        repeat_value=(days.value.sum() - days.value.argmin(days.day)).cast("float64"))
    x = per.n - 1
    return per.select(
        "customer_id",
        x=x.cast("int64"),
        t_x=per.last_purchase.delta(per.first_purchase, unit="day").cast("float64"),
        T=ibis.date(as_of).delta(per.first_purchase, unit="day").cast("float64"),
        monetary=ibis.ifelse(x > 0, per.repeat_value / x.cast("float64"), ibis.null("float64")),
    )


def holdout_purchases(tables: Tables, *, calibration_end: dt.date, days: int, include_free: bool = True) -> ir.Table:
    """Purchase days per customer in the `days` after `calibration_end`, with each day (for tracking)."""
    end = calibration_end + dt.timedelta(days=days)
    t = transactions(tables, start=calibration_end, end=end, include_free=include_free)
    return t.select("customer_id", day=t.ordered_at.date()).distinct()


def summary_frame(tables: Tables, *, as_of: dt.date, include_free: bool = True):
    """customer_summary executed into pandas through Arrow's own conversion: Ibis's to_pandas
    converts column by column (strings included) and costs more than the query at 10M rows."""
    return customer_summary(tables, as_of=as_of, include_free=include_free).to_pyarrow().to_pandas()
