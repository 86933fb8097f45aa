"""The cycle-based lifecycle stage (DOMAIN.md), from the features of one customer.

With n purchase days, d days since the last, g the last interval, c the own cycle and C the
store cycle (m = dormant_cycles, 4 by default):
lead: no completed order; dormant: d > m*c; n = 1: new if d <= C, one-time if C < d <= m*C;
n >= 2: reactivated if d <= c and g > c, active if d <= c and g <= c, lapsing if c < d <= m*c.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tenure.analytics.settings import LifecycleSettings


def lifecycle(f: ir.Table, settings: LifecycleSettings) -> ir.StringValue:
    name = settings.labels
    m = float(settings.dormant_cycles)
    n, d, g, c, C = f.purchase_days, f.days_since_last, f.last_interval, f.own_cycle_days, f.store_cycle_days
    return ibis.cases(
        (n == 0, name["lead"]),
        (d > m * c, name["dormant"]),
        ((n == 1) & (d <= C), name["new"]),
        (n == 1, name["one_time"]),
        ((d <= c) & (g > c), name["reactivated"]),
        (d <= c, name["active"]),
        else_=name["lapsing"],
    )
