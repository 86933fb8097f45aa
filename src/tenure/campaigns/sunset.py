"""The sunset policy (DOMAIN.md): contacts who have not opened or clicked an email for
`sunset.inactive_days` get one reactivation offer; those who neither open, click nor buy within
`sunset.reaction_days` are suppressed for marketing, those who do go back to the normal flow.

The offer is an enrollment in the built-in campaign `sunset` (one email, no holdout: the policy
is a hygiene rule, not an experiment), so it goes through the same outbox, checks and channels
as every campaign. Each offer and its outcome is a row of `sunset_offers`; a suppression it
creates is an ordinary one (reason `sunset`) that `tenure suppressions lift` reverses.
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import sqlalchemy as sa

from tenure.campaigns import engine, state
from tenure.campaigns.definitions import Campaign, Step, Trigger
from tenure.store.tables import sunset_offers, suppressions

NAME = "sunset"


def campaign(settings) -> Campaign:
    s = settings.sunset
    return Campaign(enabled=s.enabled, description="Sunset policy: one offer to contacts inactive for "
                    f"{s.inactive_days} days", trigger=Trigger(event="sunset_policy"),
                    steps=[Step(offset_days=0, channel="email", template=s.template)],
                    conversion_window_days=s.reaction_days, holdout_share=0.0, priority=10,
                    reentry_after_days=s.inactive_days, skip_when_left=False)


def candidates(snap: ibis.Table, *, as_of: dt.date, inactive_days: int) -> ibis.Table:
    """Consented contacts known for `inactive_days` with no open or click in that time."""
    quiet = lambda days: days.isnull() | (days > inactive_days)  # noqa: E731
    since = ibis.date(as_of - dt.timedelta(days=inactive_days))
    return snap.filter(snap.consent_email.fill_null(False), quiet(snap.days_since_open), quiet(snap.days_since_click),
                       snap.first_seen.isnull() | (snap.first_seen <= since)).select("customer_id")


def run(ws, as_of: dt.date, *, snap, now_utc: dt.datetime) -> dict[str, int]:
    """Resolve the offers whose time is up, then make new ones; returns counts."""
    settings, store = ws.settings, ws.store
    counts = resolve(store, snap, as_of=as_of, reaction_days=settings.sunset.reaction_days, now_utc=now_utc)
    who = candidates(snap, as_of=as_of, inactive_days=settings.sunset.inactive_days).to_pyarrow().to_pandas()
    with store.connect() as conn:
        busy = {r[0] for r in conn.execute(sa.select(sunset_offers.c.customer_id).where(
            sa.or_(sunset_offers.c.state == "offered",
                   sunset_offers.c.offered_on > as_of - dt.timedelta(days=settings.sunset.inactive_days))))}
        busy |= {r[0] for r in conn.execute(sa.select(suppressions.c.customer_id).where(
            suppressions.c.lifted_at.is_(None), suppressions.c.scope.in_(("all", "marketing", "email"))))}
    who = who[~who.customer_id.isin(busy)]
    offer = {NAME: campaign(settings)}
    entries = who.assign(campaign=NAME, trigger=f"no open or click for {settings.sunset.inactive_days} days")
    new = engine.enroll(entries, state.past_enrollments(store, [NAME], entries.customer_id), offer, as_of)
    state.write_enrollments(store, new, engine.schedule(new, offer), now_utc)
    with store.begin() as conn:
        if len(new):
            conn.execute(sunset_offers.insert(), [{"customer_id": c, "offered_on": as_of, "state": "offered"}
                                                  for c in new.customer_id])
    counts["offered"] = len(new)
    return counts


def resolve(store, snap, *, as_of: dt.date, reaction_days: int, now_utc: dt.datetime) -> dict[str, int]:
    o = sunset_offers
    with store.connect() as conn:
        open_offers = pd.DataFrame(conn.execute(sa.select(o.c.id, o.c.customer_id, o.c.offered_on)
                                                .where(o.c.state == "offered")).fetchall(),
                                   columns=["id", "customer_id", "offered_on"])
    counts = {"reacted": 0, "suppressed": 0}
    if open_offers.empty:
        return counts
    facts = (snap.semi_join(ibis.memtable(open_offers[["customer_id"]]), "customer_id")
             .select("customer_id", "last_email_open", "last_email_click", "last_purchase")
             .to_pyarrow().to_pandas())
    m = open_offers.merge(facts, on="customer_id", how="left")
    offered = pd.to_datetime(m.offered_on)
    reacted = ((pd.to_datetime(m.last_email_open) > offered) | (pd.to_datetime(m.last_email_click) > offered)
               | (pd.to_datetime(m.last_purchase) > offered))
    expired = (pd.Timestamp(as_of) - offered).dt.days >= reaction_days
    with store.begin() as conn:
        for row in m[reacted].itertuples():
            conn.execute(o.update().where(o.c.id == row.id).values(state="reacted", resolved_on=as_of))
        for row in m[~reacted & expired].itertuples():
            conn.execute(o.update().where(o.c.id == row.id).values(state="suppressed", resolved_on=as_of))
            conn.execute(suppressions.insert().values(
                customer_id=row.customer_id, scope="marketing", reason="sunset", created_at=now_utc,
                source=f"no reaction to the offer of {row.offered_on}"))
    counts["reacted"], counts["suppressed"] = int(reacted.sum()), int((~reacted & expired).sum())
    return counts
