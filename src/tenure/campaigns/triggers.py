"""Who meets each campaign's trigger on a day: Ibis expressions over the stored snapshot, its
transitions and the events. Nothing here executes.

A trigger fires between the previous run and this one, `(previous, as_of]`, so a day that was
skipped is not lost: the ladder rule fires when `last_purchase + N` falls in the span, a date
trigger when the date does, an event trigger for events in it. With no earlier run the span is
the day itself. A label trigger fires on the transitions into the label since the previous
stored snapshot; on the very first run there is nothing to compare with, so none fire.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from tenure.analytics.features import end_of
from tenure.analytics.transitions import as_label
from tenure.campaigns.definitions import Campaign


def span_days(as_of: dt.date, previous: dt.date | None) -> list[dt.date]:
    start = previous or as_of - dt.timedelta(days=1)
    return [start + dt.timedelta(days=i) for i in range(1, (as_of - start).days + 1)]


def _ladder_holds(snap: ir.Table, campaign: Campaign) -> ir.BooleanValue:
    low, high = campaign.trigger.order_range()
    holds = (snap.orders >= low) & (snap.days_since_last >= campaign.trigger.days_since_last)
    return holds & (snap.orders <= high) if high is not None else holds


def _month_day_in(day_col: ir.DateValue, days: list[dt.date]) -> ir.BooleanValue:
    """True when the month and day of `day_col` is one of `days` (Feb 29 is kept on Feb 28 of
    a common year, so a leap-day customer still has an anniversary)."""
    conds = []
    for d in days:
        conds.append((day_col.month() == d.month) & (day_col.day() == d.day))
        is_leap = d.year % 4 == 0 and (d.year % 100 != 0 or d.year % 400 == 0)
        if d.month == 2 and d.day == 28 and not is_leap:
            conds.append((day_col.month() == 2) & (day_col.day() == 29))
    out = conds[0]
    for c in conds[1:]:
        out |= c
    return out


def entries(name: str, campaign: Campaign, *, snap: ir.Table, changes: ir.Table | None,
            customers: ir.Table, events: ir.Table, as_of: dt.date, previous: dt.date | None) -> ir.Table | None:
    """(campaign, customer_id, trigger) of those who meet `campaign`'s trigger in (previous, as_of];
    None when it cannot fire (a label trigger on the first run)."""
    t = campaign.trigger
    days = span_days(as_of, previous)
    if t.kind == "ladder":
        last_day = ibis.date(days[0] - dt.timedelta(days=1))  # the day before the span
        crossed = snap.last_purchase.delta(last_day, unit="day") + t.days_since_last > 0
        who = snap.filter(_ladder_holds(snap, campaign), crossed).select("customer_id")
    elif t.kind == "label":
        if changes is None:
            return None
        c = changes
        who = c.filter(c.segmentation == t.segmentation, c.to_label == t.label).select("customer_id")
    elif t.kind == "anniversary" and t.anniversary == "first_purchase":
        fp = snap.first_purchase
        who = snap.filter(fp.notnull(), fp.year() < as_of.year, _month_day_in(fp, days)).select("customer_id")
    elif t.kind == "anniversary":  # birthday: an ISO date in the customers' attributes
        # Read from the warehouse's customers, not the snapshot (another engine): known by as_of.
        born = customers.attributes["birthday"].str.cast("date")
        known = customers.created_at.isnull() | (customers.created_at < end_of(as_of))
        who = customers.filter(known, born.notnull(), _month_day_in(born, days)).select("customer_id").distinct()
    elif t.kind == "on":
        month, day = (int(p) for p in t.on.split("-"))
        if not any(d.month == month and d.day == day for d in days):
            return None
        who = snap.select("customer_id")
    else:
        e = events
        since = end_of(days[0] - dt.timedelta(days=1))
        fired = e.filter(e.type == t.event, e.occurred_at >= since, e.occurred_at < end_of(as_of))
        who = fired.select("customer_id").distinct()  # an event up to as_of makes its customer known
    return who.select("customer_id", campaign=ibis.literal(name), trigger=ibis.literal(t.describe()))


def still_in(name: str, campaign: Campaign, snap: ir.Table) -> ir.Table | None:
    """(campaign, customer_id) of those who still meet a label or ladder trigger; None for others."""
    t = campaign.trigger
    if t.kind == "ladder":
        who = snap.filter(_ladder_holds(snap, campaign))
    elif t.kind == "label":
        who = snap.filter(as_label(snap[t.segmentation]) == t.label)
    else:
        return None
    return who.select("customer_id", campaign=ibis.literal(name))


def union(parts: list[ir.Table | None]) -> ir.Table | None:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return ibis.union(*parts) if len(parts) > 1 else parts[0]
