"""The RF trigger ladder (DOMAIN.md): a rung by completed orders k and days since last d.

A customer's rung is the one with the largest day threshold <= d among the rungs whose order
group holds k; a buyer below every such threshold is `before_first_rung`, a customer without a
completed order `no_orders`.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tenure.analytics.settings import RFSettings


def rf(f: ir.Table, settings: RFSettings) -> ir.StringValue:
    k, d = f.orders, f.days_since_last
    # Highest threshold first: the first rung that holds k and whose days are reached wins.
    cases = []
    for rung in sorted(settings.rungs, key=lambda r: -r.days):
        holds = k >= rung.min_orders
        if rung.max_orders:
            holds &= k <= rung.max_orders
        cases.append((holds & (d >= rung.days), rung.name))
    return ibis.cases((k == 0, settings.no_orders), *cases, else_=settings.before_first_rung)
