"""The facts a message needs about its recipient, read once per dispatch for everyone due:
contact details and consent (customers), the latest snapshot's labels and figures, and
personal product picks. Reading them once keeps the warehouse closed while messages go out.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

CONTACT = ["customer_id", "name", "email", "phone", "consent_email", "consent_sms", "timezone"]
FROM_SNAPSHOT = ["lifecycle", "rf", "rfm", "rfm_segment", "churn_risk", "orders", "spend", "avg_spend",
                 "days_since_last", "first_purchase", "last_purchase", "clv_365d", "p_alive",
                 "purchase_probability_90d", "expected_purchases_90d",
                 "tier", "next_tier", "spend_to_next_tier", "membership"]


def recipients(ws, customer_ids: list[str], *, tables, today: dt.date) -> pd.DataFrame:
    ids = pd.DataFrame({"customer_id": sorted(set(customer_ids))})
    c = tables.customers
    from tenure.warehouse.backends import frame_table

    wanted = frame_table(c, ids)
    contact = c.semi_join(wanted, "customer_id").select(*CONTACT).to_pyarrow().to_pandas()
    out = ids.merge(contact.drop_duplicates("customer_id"), on="customer_id", how="left")
    dates = [d for d in ws.history.dates() if d <= today]
    if dates:
        snap = ws.history.read(dates[-1])
        cols = [col for col in FROM_SNAPSHOT if col in snap.columns]
        facts = snap.semi_join(ibis.memtable(ids), "customer_id").select("customer_id", *cols)
        out = out.merge(facts.to_pyarrow().to_pandas(), on="customer_id", how="left")
        out["first_name"] = out.name.fillna("").str.split().str[0].replace("", None)
    out["picks"] = _picks(ws, ids, today)
    if ws.settings.loyalty.enabled:
        out["points_balance"], out["points_expiring_30d"] = _points(ws, list(ids.customer_id), today)
    return out


def _points(ws, ids: list[str], today: dt.date) -> tuple[list[int], list[int]]:
    """Each customer's points balance today and the points that expire in the next 30 days."""
    from tenure.loyalty import ledger

    balances, expiring = [], []
    loyalty = ws.settings.loyalty
    with ws.store.connect() as conn:
        for cid in ids:
            state = ledger.state(conn, cid, today=today, settings=loyalty)
            balances.append(state.balance)
            expiring.append(state.expiring(today, today + dt.timedelta(days=30)))
    return balances, expiring


def _picks(ws, ids: pd.DataFrame, today: dt.date) -> list[list[dict]]:
    n = ws.settings.messaging.picks
    empty = [[] for _ in range(len(ids))]
    if not n:
        return empty
    from tenure.campaigns.picks import personal_picks

    # Items live only in the embedded warehouse (Spark exports customers, orders and events).
    items, orders = ws.table("order_items"), ws.table("orders")
    wanted = ibis.memtable(ids)
    picks = personal_picks(items, orders, as_of=today, customers=wanted, n=n).to_pyarrow().to_pandas()
    if picks.empty:
        return empty
    picks = picks.sort_values(["customer_id", "rank"])
    grouped = {cid: [{"sku": s, "name": nm} for s, nm in zip(g.sku, g.name)] for cid, g in picks.groupby("customer_id")}
    return [grouped.get(cid, []) for cid in ids.customer_id]
