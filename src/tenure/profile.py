"""One customer as a marketer sees them: facts now, labels over time, orders, messages, consents.

Read from the stored snapshots, the warehouse (read-only) and the operational store; nothing is
computed here that a run has not stored. The API's GET /v1/customers/{id} and the dashboard's
customer page both show this.
"""

from __future__ import annotations

import sqlalchemy as sa

from tenure.privacy import _jsonable, snapshot_rows
from tenure.store import tables as st

FEATURES = ("orders", "purchase_days", "first_purchase", "last_purchase", "days_since_last", "spend",
            "spend_365", "avg_spend", "own_cycle_days", "store_cycle_days", "rfm", "r_score", "f_score",
            "m_score", "purchase_probability_90d", "p_alive", "expected_purchases_90d", "expected_spend",
            "clv_365d", "next_purchase_expected", "consent_email", "last_email_open", "last_email_click")
ORDER_LIMIT = 200


def segmentations(settings, row: dict | None = None) -> list[str]:
    cols = ["lifecycle", "rf", "rfm_segment", "churn_risk", *settings.segments]
    return [c for c in cols if row is None or c in row]


def label_changes(rows: list[dict], columns: list[str]) -> list[dict]:
    """The snapshots where some label changed (the first one included): a timeline, not a dump."""
    out, last = [], None
    for r in rows:
        now = {c: r.get(c) for c in columns}
        if now != last:
            out.append({"as_of": r["as_of"], "labels": now})
            last = now
    return out


def profile(ws, customer_id: str) -> dict | None:
    """None when the customer is in no snapshot, the warehouse or the store."""
    from tenure import warehouse
    from tenure.campaigns.runner import store_in_use

    snaps = snapshot_rows(ws, customer_id)
    con = warehouse.connect(ws.warehouse_path, read_only=True)
    try:
        cur = con.execute("SELECT * EXCLUDE (attributes), CAST(attributes AS VARCHAR) AS attributes "
                          "FROM customers WHERE customer_id = ?", [customer_id])
        record = _first(cur)
        cur = con.execute("SELECT order_id, ordered_at, status, amount, currency, channel FROM orders "
                          f"WHERE customer_id = ? ORDER BY ordered_at DESC LIMIT {ORDER_LIMIT}", [customer_id])
        names = [d[0] for d in cur.description]
        orders = [{n: _jsonable(v) for n, v in zip(names, row)} for row in cur.fetchall()]
    finally:
        con.close()
    store = _store_part(ws.store, customer_id) if store_in_use(ws) else {}
    if not snaps and record is None and not any(store.values()):
        return None
    latest = snaps[-1] if snaps else {}
    cols = segmentations(ws.settings, latest)
    return {
        "customer_id": customer_id,
        "record": record,
        "as_of": latest.get("as_of"),
        "features": {k: latest[k] for k in FEATURES if k in latest},
        "labels": {c: latest.get(c) for c in cols},
        "label_history": label_changes(snaps, cols),
        "orders": orders,
        **store,
    }


def _first(cursor) -> dict | None:
    row = cursor.fetchone()
    if row is None:
        return None
    return {d[0]: _jsonable(v) for d, v in zip(cursor.description, row)}


def _store_part(store, customer_id: str) -> dict:
    o, t = st.outbox, st.tracking_events
    with store.connect() as conn:
        messages = conn.execute(sa.select(o.c.key, o.c.campaign, o.c.step, o.c.channel, o.c.template, o.c.grp,
                                          o.c.due_on, o.c.status, o.c.sent_at, o.c.reason)
                                .where(o.c.customer_id == customer_id).order_by(o.c.due_on, o.c.step)).all()
        events = conn.execute(sa.select(t.c.outbox_key, t.c.type, t.c.occurred_at, t.c.url)
                              .where(t.c.customer_id == customer_id).order_by(t.c.occurred_at)).all()
        consents = conn.execute(sa.select(st.consents.c.channel, st.consents.c.granted, st.consents.c.source,
                                          st.consents.c.recorded_at)
                                .where(st.consents.c.customer_id == customer_id)).all()
        sups = conn.execute(sa.select(st.suppressions.c.scope, st.suppressions.c.reason, st.suppressions.c.created_at,
                                      st.suppressions.c.lifted_at)
                            .where(st.suppressions.c.customer_id == customer_id)).all()

    def rows(result):
        return [{k: _jsonable(v) for k, v in r._mapping.items()} for r in result]

    return {"messages": rows(messages), "engagement": rows(events), "consents": rows(consents),
            "suppressions": rows(sups)}
