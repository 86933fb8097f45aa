"""RFM scores and named segments, relative to the shop's own buyers.

Among the N customers with a completed order, a value's score is min(5, 1 + floor(5w/N)) where
w counts the customers with a strictly worse value, so ties always share a score. Worse means
more days since the last purchase (R), fewer completed orders (F), less spend (M).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tenure.analytics.settings import RFMSettings

BINS = 5


def rfm(f: ir.Table, settings: RFMSettings) -> ir.Table:
    """`f` plus r, f, m, rfm and rfm_segment (scores null for customers without purchases)."""
    buyers = f.filter(f.orders > 0).select("customer_id", "days_since_last", "orders", "spend")
    everyone = ibis.window()

    def score(worse: ir.IntegerColumn) -> ir.IntegerValue:
        # ibis.rank() is the 0-based minimum rank: the number of rows strictly before this one.
        total = buyers.customer_id.count().over(everyone)
        return ibis.least(BINS, 1 + (BINS * worse / total).floor()).cast("int8")

    scored = buyers.select(
        "customer_id",
        r=score(ibis.rank().over(order_by=ibis.desc(buyers.days_since_last))),
        f=score(ibis.rank().over(order_by=buyers.orders)),
        m=score(ibis.rank().over(order_by=buyers.spend)),
    )
    segment = ibis.cases(
        *[((scored.r.between(s.r[0], s.r[1])) & (scored.f.between(s.f[0], s.f[1])), s.name)
          for s in settings.segments],
        else_="other",  # a buyer whose scores no configured segment covers
    )
    scored = scored.mutate(
        rfm=scored.r.cast("string") + scored.f.cast("string") + scored.m.cast("string"),
        rfm_segment=segment,
    )
    out = f.left_join(scored, "customer_id").select(~ibis.selectors.endswith("_right"))
    return out.mutate(rfm_segment=ibis.coalesce(out.rfm_segment, settings.no_orders))
