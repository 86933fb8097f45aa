"""The snapshot of a day: features and every segmentation, one row per customer. Pure Ibis."""

from __future__ import annotations

import datetime as dt

import ibis.expr.types as ir

from tenure.analytics.features import Tables, features
from tenure.analytics.lifecycle import lifecycle
from tenure.analytics.rf import rf
from tenure.analytics.rfm import rfm

SEGMENTATIONS = ("lifecycle", "rf", "rfm_segment")
# The columns every snapshot export starts with, in this order.
CORE_COLUMNS = ("customer_id", "as_of", "orders", "purchase_days", "first_purchase", "last_purchase",
                "days_since_last", "spend", "spend_365", "avg_spend", "own_cycle_days",
                "store_cycle_days", "lifecycle", "rf", "r", "f", "m", "rfm", "rfm_segment")


def snapshot(tables: Tables, *, as_of: dt.date, settings) -> ir.Table:
    """Every customer known on `as_of` with features, lifecycle, rf, RFM and custom segments."""
    f = features(tables, as_of=as_of, cycle=settings.cycle)
    f = f.mutate(lifecycle=lifecycle(f, settings.lifecycle), rf=rf(f, settings.rf))
    f = rfm(f, settings.rfm)
    if settings.segments:
        from tenure.analytics.rules import compile_rule

        f = f.mutate(**{name: compile_rule(seg.rule, f, name=name) for name, seg in settings.segments.items()})
    if settings.loyalty.enabled:
        f = with_loyalty(f, tables, as_of, settings.loyalty)
    rest = [c for c in f.columns if c not in CORE_COLUMNS]
    return f.select(*CORE_COLUMNS, *rest)


def with_loyalty(f: ir.Table, tables: Tables, as_of: dt.date, loyalty) -> ir.Table:
    """The snapshot with the customer's spend tier and paid membership on `as_of`."""
    import ibis

    from tenure.analytics.features import purchases
    from tenure.analytics.membership import membership_points
    from tenure.analytics.tiers import tier_points

    points = f.select("customer_id", day=ibis.date(as_of))
    tiers = tier_points(purchases(tables, as_of), points, loyalty).drop("day")
    members = membership_points(tables.events, points, loyalty).drop("day")
    return (f.left_join(tiers, "customer_id").select(~ibis.selectors.endswith("_right"))
            .left_join(members, "customer_id").select(~ibis.selectors.endswith("_right")))


def segment_columns(settings) -> list[str]:
    churn = ["churn_risk"] if settings.clv.enabled else []
    loyalty = ["tier", "membership"] if settings.loyalty.enabled else []
    return [*SEGMENTATIONS, *churn, *loyalty, *settings.segments]
