"""`tenure campaigns report`: load what attribution needs from the store and the warehouse."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from tenure.campaigns.attribution import conversions, report
from tenure.store.tables import enrollments, outbox, tracking_events


def _frame(conn, query) -> pd.DataFrame:
    result = conn.execute(query)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _local(utc: pd.Series, zone: str) -> pd.Series:
    """UTC timestamps of the store as the warehouse's wall-clock time in the shop's zone."""
    ts = pd.to_datetime(utc)
    return ts.dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)


def campaign_report(ws, *, as_of: dt.date, campaign: str | None = None) -> pd.DataFrame:
    """Per campaign and step: the funnel, conversions and revenue; per campaign, treatment versus
    holdout with the uplift's 95% interval and the incremental revenue. Orders count up to the
    end of `as_of` (an enrollment whose window is still open may yet convert)."""
    zone = ws.settings.workspace.timezone
    e, o, t = enrollments, outbox, tracking_events
    with ws.store.connect() as conn:
        q_e = sa.select(e.c.campaign, e.c.customer_id, e.c.entered_on, e.c.grp)
        q_m = sa.select(o.c.key, o.c.campaign, o.c.customer_id, o.c.entered_on, o.c.step, o.c.due_on, o.c.status,
                        o.c.sent_at)
        if campaign:
            q_e, q_m = q_e.where(e.c.campaign == campaign), q_m.where(o.c.campaign == campaign)
        enrolled, messages = _frame(conn, q_e), _frame(conn, q_m)
        events = _frame(conn, sa.select(t.c.outbox_key.label("key"), t.c.type, t.c.occurred_at)
                        .where(t.c.type.in_(("open", "click"))))
    if enrolled.empty:
        return pd.DataFrame()
    messages["sent_at"] = _local(messages.sent_at, zone)
    end = pd.Timestamp(as_of + dt.timedelta(days=1))
    orders = ws.table("orders")
    ids = pd.DataFrame({"customer_id": enrolled.customer_id.unique()})
    import ibis

    mine = orders.semi_join(ibis.memtable(ids), "customer_id")
    orders = mine.select("customer_id", "order_id", "ordered_at", "status",
                         amount=mine.amount.cast("float64")).to_pyarrow().to_pandas()
    orders = orders[orders.ordered_at < end]
    from tenure.campaigns import sunset

    windows = {n: c.conversion_window_days for n, c in ws.settings.campaigns.items()}
    windows[sunset.NAME] = ws.settings.sunset.reaction_days
    for name in set(enrolled.campaign) - set(windows):  # a campaign removed from tenure.toml since
        windows[name] = 7
    conv = conversions(enrolled, messages, orders, windows)
    return report(enrolled, messages, events, conv)
