"""The R x F grid of a snapshot: buyers by recency and frequency score, with their revenue."""

from __future__ import annotations

import ibis.expr.types as ir


def rfm_grid(snapshot: ir.Table) -> ir.Table:
    """r, f, customers, revenue_share (of the buyers' spend), mean_m, mean_spend; buyers only
    (r is null for a customer without a completed order). Cells without customers are absent."""
    b = snapshot.filter(snapshot.r.notnull())
    g = b.group_by("r", "f").aggregate(customers=b.count().cast("int64"), spend=b.spend.cast("float64").sum(),
                                       mean_m=b.m.cast("float64").mean(),
                                       mean_spend=b.spend.cast("float64").mean())
    # The total as a window over the cells, not a scalar aggregate (Ibis would merge it per group).
    total = g.spend.sum().over()
    return g.select(r=g.r.cast("int64"), f=g.f.cast("int64"), customers=g.customers,
                    revenue_share=g.spend / total.nullif(0.0), mean_m=g.mean_m,
                    mean_spend=g.mean_spend).order_by("r", "f")
