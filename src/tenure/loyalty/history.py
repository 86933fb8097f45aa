"""What history says customers earned: points for orders (with the tier and membership
multipliers of their day), for events (reviews, referrals, ...) and for signing up; and which
orders that earned are now cancelled or returned. Read from the warehouse with Ibis."""

from __future__ import annotations

import datetime as dt

import ibis

from tenure.analytics.features import Tables, end_of
from tenure.analytics.membership import ACTIVE, membership_points
from tenure.analytics.tiers import tier_points
from tenure.loyalty.simulate import Credit


def _day(value) -> dt.date:
    """A date from pandas (which may hand back a Timestamp) as a plain date."""
    return value.date() if isinstance(value, dt.datetime) else value


def _money(amount: float, currency: str | None) -> str:
    return f"{amount:,.2f} {currency or ''}".strip()


def orders_frame(tables: Tables, as_of: dt.date, loyalty):
    """Orders of known customers up to `as_of` (from `starts_on`), with amount > 0, their status
    and the points multiplier of their day: the tier held the day before the order times the
    membership plan's multiplier on the day."""
    o = tables.orders
    o = o.filter(o.customer_id.notnull(), o.amount > 0, o.ordered_at < end_of(as_of))
    if loyalty.starts_on:
        o = o.filter(o.ordered_at >= ibis.timestamp(dt.datetime.combine(loyalty.starts_on, dt.time())))
    o = o.mutate(day=o.ordered_at.date())
    completed = o.filter(o.status == "completed")
    points = o.select("customer_id", "day").distinct()
    before = points.mutate(day=points.day - ibis.interval(days=1))
    tiers = tier_points(completed, before, loyalty).mutate(day=ibis._.day + ibis.interval(days=1))
    members = membership_points(tables.events, points, loyalty)
    tier_mult = ibis.literal(1.0)
    for t in loyalty.tiers:
        tier_mult = ibis.ifelse(tiers.tier == t.name, t.points_multiplier, tier_mult)
    plan_mult = ibis.literal(1.0)
    for name, plan in loyalty.plans.items():
        plan_mult = ibis.ifelse(members.membership.isin(ACTIVE) & (members.membership_plan == name),
                                plan.points_multiplier, plan_mult)
    tiers = tiers.select("customer_id", "day", "tier", tier_mult=tier_mult)
    members = members.select("customer_id", "day", plan_mult=plan_mult)
    j = (o.left_join(tiers, ["customer_id", "day"]).select(~ibis.selectors.endswith("_right"))
         .left_join(members, ["customer_id", "day"]).select(~ibis.selectors.endswith("_right")))
    frame = j.select("order_id", "customer_id", "day", "status", "currency", "tier",
                     amount=j.amount.cast("float64"),
                     multiplier=ibis.coalesce(j.tier_mult, 1.0) * ibis.coalesce(j.plan_mult, 1.0)).to_pandas()
    frame["day"] = [_day(d) for d in frame["day"]]
    return frame.sort_values(["day", "order_id"], kind="stable")


def order_credits(orders, loyalty) -> dict[str, Credit]:
    """order_id -> its credit, for every order in `orders` (completed or not: a cancelled order
    that earned before needs its credit to be taken back)."""
    out = {}
    for r in orders.itertuples(index=False):
        pts = loyalty.points_for(r.amount, r.multiplier)
        mult = f" x{r.multiplier:g}" if r.multiplier != 1 else ""
        out[r.order_id] = Credit(f"earn:order:{r.order_id}", r.customer_id, pts, r.day,
                                 f"order {r.order_id}: {_money(r.amount, r.currency)}{mult}", "order", r.order_id)
    return out


def event_credits(tables: Tables, as_of: dt.date, loyalty) -> list[Credit]:
    if not loyalty.event_points:
        return []
    e = tables.events
    e = e.filter(e.type.isin(list(loyalty.event_points)), e.occurred_at < end_of(as_of), e.event_id.notnull())
    if loyalty.starts_on:
        e = e.filter(e.occurred_at >= ibis.timestamp(dt.datetime.combine(loyalty.starts_on, dt.time())))
    frame = e.select("event_id", "customer_id", "type", day=e.occurred_at.date()).to_pandas()
    return [Credit(f"earn:event:{r.event_id}", r.customer_id, loyalty.event_points[r.type], _day(r.day),
                   f"{r.type.replace('_', ' ')}", "event", r.event_id) for r in frame.itertuples(index=False)]


def signup_credits(tables: Tables, as_of: dt.date, loyalty) -> list[Credit]:
    if not loyalty.signup_points:
        return []
    c = tables.customers
    c = c.filter(c.origin == "customers", c.created_at.notnull(), c.created_at < end_of(as_of))
    if loyalty.starts_on:
        c = c.filter(c.created_at >= ibis.timestamp(dt.datetime.combine(loyalty.starts_on, dt.time())))
    frame = c.select("customer_id", day=c.created_at.date()).to_pandas()
    return [Credit(f"earn:signup:{r.customer_id}", r.customer_id, loyalty.signup_points, _day(r.day), "signed up",
                   "signup", r.customer_id) for r in frame.itertuples(index=False)]
