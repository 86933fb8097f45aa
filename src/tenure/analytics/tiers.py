"""Spend tiers: a customer's tier on a day, from the spend of their completed orders over a
rolling window, kept for a grace period after the spend last reached it. Pure Ibis.

Tiers are computed for a table of points `(customer_id, day)`: the snapshot asks for every
customer on its as-of day, the points ledger for each order's customer on the day before it
(the tier an order earns its multiplier at). One definition serves both.

Spend over the window as a function of the day rises on order days and falls when an order
leaves the window, so its largest value over the grace span `[day - grace, day]` is reached on
the span's first day or on an order day inside it: those are the only candidates computed.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir


def _tier_of(spend: ir.FloatingValue, tiers) -> ir.StringValue:
    """The highest tier whose min_spend the spend reaches (the first tier starts at 0)."""
    out = ibis.literal(tiers[0].name)
    for t in tiers[1:]:
        out = ibis.ifelse(spend >= t.min_spend, t.name, out)
    return out


def tier_points(purchases: ir.Table, points: ir.Table, loyalty) -> ir.Table:
    """`points` (customer_id, day) with tier, tier_spend (spend over the window up to `day`),
    next_tier and spend_to_next_tier. `purchases` are completed orders (customer_id,
    ordered_at, amount); orders after a point's day never count for it."""
    window, grace = loyalty.tier_window_days, loyalty.tier_grace_days
    p = points.select("customer_id", "day")
    o = purchases.select("customer_id", o_day=purchases.ordered_at.date(),
                         amount=purchases.amount.cast("float64"))
    starts = p.select("customer_id", "day", cand=p.day - ibis.interval(days=grace))
    today = p.select("customer_id", "day", cand=p.day)
    inside = p.join(o, "customer_id")
    inside = inside.filter(inside.o_day > inside.day - ibis.interval(days=grace), inside.o_day <= inside.day)
    cands = ibis.union(starts, today, inside.select("customer_id", "day", cand=inside.o_day), distinct=True)
    j = cands.join(o, "customer_id")
    j = j.filter(j.o_day <= j.cand, j.o_day > j.cand - ibis.interval(days=window))
    spent = j.group_by("customer_id", "day", "cand").aggregate(spend=j.amount.sum())
    best = spent.group_by("customer_id", "day").aggregate(
        qualifying=spent.spend.max(), current=spent.spend.max(where=spent.cand == spent.day))
    out = p.left_join(best, ["customer_id", "day"]).select(~ibis.selectors.endswith("_right"))
    current = ibis.coalesce(out.current, 0.0)
    tier = _tier_of(ibis.coalesce(out.qualifying, 0.0), loyalty.tiers)
    next_name, next_min = ibis.null("string"), ibis.null("float64")
    for low, high in zip(loyalty.tiers, loyalty.tiers[1:]):
        next_name = ibis.ifelse(tier == low.name, high.name, next_name)
        next_min = ibis.ifelse(tier == low.name, ibis.literal(float(high.min_spend)), next_min)
    gap = next_min - current
    return out.select(
        "customer_id", "day", tier=tier, tier_spend=current, next_tier=next_name,
        spend_to_next_tier=ibis.cases((next_min.isnull(), ibis.null("float64")), (gap > 0, gap.round(2)),
                                      else_=ibis.literal(0.0)))
