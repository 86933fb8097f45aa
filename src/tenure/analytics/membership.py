"""Paid membership on a day, from the shop's membership events. Pure Ibis.

A start or a renewal pays for one period of the plan named in the event (a month or a year);
the membership is `member` while a paid period (plus `renewal_grace_days`) runs, `cancelled`
when a cancellation came after the last payment but the paid period still runs (benefits last
to its end), `lapsed` after that, and `none` for a customer who never paid.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

LABELS = ("member", "cancelled", "lapsed", "none")
ACTIVE = ("member", "cancelled")  # still holds the plan's benefits


@ibis.udf.scalar.builtin
def get_json_object(json: str, path: str) -> str:
    """Spark SQL's own JSON lookup (a builtin: nothing runs in Python)."""


def _property(column: ir.Value, key: str) -> ir.StringValue:
    """A text property of the events' JSON `properties`. DuckDB holds JSON; the Spark export
    carries it as text (Spark has no JSON type), read with Spark's get_json_object. `key` is an
    identifier (the settings check it), so the path needs no quoting."""
    if column.type().is_json():
        return column[key].str
    return get_json_object(column, f"$.{key}")


def membership_points(events: ir.Table, points: ir.Table, loyalty) -> ir.Table:
    """`points` (customer_id, day) with membership, membership_plan and membership_until (the
    last day paid for). Events after the end of a point's day never count for it."""
    names = loyalty.membership_events
    e = events.filter(events.type.isin([names.start, names.renew, names.cancel]))
    e = e.select("customer_id", "type", "occurred_at",
                 plan=_property(e.properties, names.plan_property))
    j = points.select("customer_id", "day").join(e, "customer_id")
    j = j.filter(j.occurred_at < (j.day + ibis.interval(days=1)).cast("timestamp"))
    paid = j.type.isin([names.start, names.renew])
    last = j.group_by("customer_id", "day").aggregate(
        paid_at=j.occurred_at.max(where=paid),
        plan=j.plan.argmax(ibis.ifelse(paid, j.occurred_at, ibis.null("timestamp"))),
        cancelled_at=j.occurred_at.max(where=j.type == names.cancel))
    yearly = [name for name, plan in loyalty.plans.items() if plan.period == "year"]
    paid_day = last.paid_at.date()
    # A plan the settings do not name is read as monthly.
    until = ibis.ifelse(last.plan.isin(yearly) if yearly else ibis.literal(False),
                        paid_day + ibis.interval(years=1), paid_day + ibis.interval(months=1)) - ibis.interval(days=1)
    cancelled = last.cancelled_at.notnull() & (last.cancelled_at > last.paid_at)
    # A cancelled membership ends with its paid period; an uncancelled one waits for its renewal.
    status = ibis.cases((last.paid_at.isnull(), "none"),
                        (cancelled & (last.day <= until), "cancelled"),
                        (~cancelled & (last.day <= until + ibis.interval(days=loyalty.renewal_grace_days)), "member"),
                        else_="lapsed")
    state = last.select("customer_id", "day", membership=status,
                        membership_plan=ibis.ifelse(last.paid_at.isnull(), ibis.null("string"), last.plan),
                        membership_until=ibis.ifelse(last.paid_at.isnull(), ibis.null("date"), until))
    out = points.select("customer_id", "day").left_join(state, ["customer_id", "day"])
    return out.select("customer_id", "day", membership=ibis.coalesce(out.membership, "none"),
                      membership_plan=out.membership_plan, membership_until=out.membership_until)
