"""Small summaries of stored snapshots for the CLI (and later the reports): read, never recompute."""

from __future__ import annotations

import datetime as dt

import ibis

from tenure.analytics.transitions import NEW, as_label, matrix
from tenure.errors import TenureError

ALIASES = {"rfm": "rfm_segment"}


def segment_column(ws, by: str) -> str:
    """The snapshot column of a segmentation named by a user (`rfm` is `rfm_segment`), or a
    TenureError listing the segmentations there are."""
    col = ALIASES.get(by, by)
    churn = ["churn_risk"] if ws.settings.clv.enabled else []
    loyalty = ["tier", "membership"] if ws.settings.loyalty.enabled else []
    known = ["lifecycle", "rf", "rfm", *churn, *loyalty, *ws.settings.segments]
    if col not in ("lifecycle", "rf", "rfm_segment", *churn, *loyalty, *ws.settings.segments):
        raise TenureError(f"--by {by!r} is not a segmentation", fix=f"use one of: {', '.join(known)}")
    return col


def segment_summary(ws, *, by: str, as_of: dt.date | None) -> tuple[list[dict], dt.date]:
    col = segment_column(ws, by)
    day = as_of or ws.history.latest()
    t = ws.history.read(day)
    t = t.mutate(label=as_label(t[col]))
    total = t.aggregate(n=t.count(), spend=t.spend.sum()).execute().iloc[0]
    g = t.group_by("label").aggregate(
        customers=t.count(), spend=t.spend.sum(), median_days=t.days_since_last.median(),
        mean_orders=t.orders.mean(),
    ).order_by(ibis.desc("customers")).execute()
    rows = [{"label": r.label, "customers": int(r.customers), "share": r.customers / total.n,
             "revenue_share": (r.spend / total.spend) if total.spend else 0.0,
             "median_days": None if r.median_days != r.median_days else float(r.median_days),
             "mean_orders": float(r.mean_orders)} for r in g.itertuples()]
    return rows, day


def transition_matrix(ws, *, start: dt.date, end: dt.date, by: str):
    col = segment_column(ws, by)
    m = matrix(ws.history.read(start), ws.history.read(end), col).execute()
    cells = {(r.from_label, r.to_label): int(r.customers) for r in m.itertuples()}
    order = {"lifecycle": [*ws.settings.lifecycle.labels.values()],
             "rf": [ws.settings.rf.no_orders, ws.settings.rf.before_first_rung, *(r.name for r in ws.settings.rf.rungs)],
             "rfm_segment": [*(s.name for s in ws.settings.rfm.segments), ws.settings.rfm.no_orders],
             "churn_risk": ["low", "medium", "high", "none", "unknown"]}.get(col, [])
    labels = sorted({*m.from_label, *m.to_label} - {NEW}, key=lambda x: (order.index(x) if x in order else 99, x))
    froms = [x for x in [NEW, *labels] if x in set(m.from_label)]
    tos = [x for x in labels if x in set(m.to_label)]
    return froms, tos, cells


def customer_history(ws, customer_id: str) -> list[dict]:
    t = ws.history.read_all()
    rows = t.filter(t.customer_id == customer_id).order_by("as_of").execute()
    if rows.empty:
        raise TenureError(f"customer {customer_id!r} is in no stored snapshot",
                          fix="check the id, or run `tenure run` after ingesting their data")
    return rows.to_dict("records")
