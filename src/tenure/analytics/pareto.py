"""How concentrated revenue is: the share the top customers bring (Pareto) and the Lorenz curve.
Revenue = completed orders with amount > 0 up to the end of as_of. Pure Ibis."""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from tenure.analytics.features import Tables, purchases

SHARES = (0.01, 0.05, 0.10, 0.20, 0.50)
# ceil(share * N) computed in floating point: 0.07 * 100 is 7.000000000000001, which is 7 customers.
EPS = 1e-9


def revenue_by_customer(tables: Tables, as_of: dt.date) -> ir.Table:
    p = purchases(tables, as_of)
    return p.group_by("customer_id").aggregate(revenue=p.amount.sum().cast("float64"))


def _ranked(tables: Tables, as_of: dt.date, *, descending: bool) -> ir.Table:
    """Buyers with `rank` (1 = most, or least, revenue), `n` buyers and `total` revenue.
    Ties may rank either way: every cumulative share below depends only on the values."""
    r = revenue_by_customer(tables, as_of)
    order = ibis.desc("revenue") if descending else ibis.asc("revenue")
    return r.mutate(rank=ibis.row_number().over(order_by=[order, "customer_id"]) + 1,
                    n=r.count().over(), total=r.revenue.sum().over())


def pareto(tables: Tables, *, as_of: dt.date, shares=SHARES) -> ir.Table:
    """top_share, customers (ceil(top_share * N)), revenue_share of those top customers."""
    r = _ranked(tables, as_of, descending=True)
    r = r.mutate(**{f"k{i}": (r.n.cast("float64") * float(s) - EPS).ceil().cast("int64")
                    for i, s in enumerate(shares)})
    a = r.aggregate(
        total=r.revenue.sum(),
        **{f"k{i}": r[f"k{i}"].max() for i in range(len(shares))},
        **{f"top{i}": r.revenue.sum(where=r.rank <= r[f"k{i}"]) for i in range(len(shares))},
    )
    a = a.filter(a.total.notnull() & (a.total > 0))
    parts = [a.select(top_share=ibis.literal(float(s), "float64"), customers=a[f"k{i}"].cast("int64"),
                      revenue_share=ibis.coalesce(a[f"top{i}"], 0.0) / a.total)
             for i, s in enumerate(shares)]
    return ibis.union(*parts).order_by("top_share")


def lorenz(tables: Tables, *, as_of: dt.date, points: int = 100) -> ir.Table:
    """customer_share (0, 1/points, ..., 1) and revenue_share: the revenue of the bottom
    floor(customer_share * N) customers, sorted ascending by revenue, over the total."""
    r = _ranked(tables, as_of, descending=False)
    # The first point whose bottom floor(p * N / points) customers include this one: ceil(rank * points / N).
    r = r.mutate(p=((r.rank * points + r.n - 1) // r.n).cast("int64"))
    buckets = r.group_by("p").aggregate(revenue=r.revenue.sum(), total=r.total.max())
    grid = ibis.memtable({"p": list(range(points + 1))}, schema={"p": "int64"})
    g = grid.left_join(buckets, "p").select("p", "total", revenue=ibis.coalesce(ibis._.revenue, 0.0))
    g = g.mutate(cum=g.revenue.sum().over(order_by="p", rows=(None, 0)),
                 total=g.total.max().over())
    g = g.filter(g.total > 0)  # no buyers, no curve
    # The last point is everyone: exactly 1, whatever order the floating-point sums ran in.
    share = ibis.ifelse(g.p == points, 1.0, g.cum / g.total)
    return g.select(customer_share=g.p.cast("float64") / points, revenue_share=share).order_by("customer_share")
