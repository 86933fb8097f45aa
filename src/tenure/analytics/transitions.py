"""Who moved from which label to which between two snapshots: pure Ibis over snapshot tables."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

NEW = "(new)"  # the from-label of a customer absent from the earlier snapshot


def transitions(before: ir.Table, after: ir.Table, columns: list[str]) -> ir.Table:
    """One row per customer and segmentation whose label changed (or who is new in `after`).

    Custom segments are true/false columns; their labels are 'in' and 'out'. A segmentation the
    earlier snapshot does not have (switched on since) has no transitions yet."""
    columns = [c for c in columns if c in before.columns and c in after.columns]
    parts = []
    b = before.select("customer_id", "as_of", *columns)
    a = after.select("customer_id", "as_of", *columns)
    j = a.left_join(b, "customer_id")
    for col in columns:
        to_label = as_label(j[col])
        from_label = ibis.ifelse(j.as_of_right.isnull(), NEW, as_label(j[f"{col}_right"]))
        changed = j.mutate(from_label=from_label, to_label=to_label)
        changed = changed.filter(changed.from_label.isnull() | (changed.from_label != changed.to_label))
        parts.append(changed.select(
            "customer_id", "from_label", "to_label", segmentation=ibis.literal(col),
            from_date=changed.as_of_right.cast("date"), to_date=changed.as_of.cast("date"),
        ).relocate("segmentation", after="customer_id"))
    return ibis.union(*parts) if len(parts) > 1 else parts[0]


def as_label(value: ir.Value) -> ir.StringValue:
    """A segmentation's value as a label: text as it is, a custom segment's true/false as in/out."""
    if value.type().is_boolean():
        return ibis.ifelse(value, "in", "out")
    return value.cast("string")


def matrix(before: ir.Table, after: ir.Table, column: str) -> ir.Table:
    """Counts of customers by (label in `before`, label in `after`)."""
    b = before.select("customer_id", from_label=as_label(before[column]))
    a = after.select("customer_id", to_label=as_label(after[column]))
    j = a.left_join(b, "customer_id")
    j = j.mutate(from_label=ibis.coalesce(j.from_label, NEW))
    return j.group_by("from_label", "to_label").aggregate(customers=j.customer_id.count())
