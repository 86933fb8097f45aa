"""Campaigns inside `tenure run`: enroll who met a trigger, skip what no longer applies, and send
what is due. The reads and writes around the pure engine; `dispatch` is also `tenure dispatch`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from tenure.campaigns import engine, state, triggers
from tenure.store.tables import consents, outbox


@dataclass
class CampaignResult:
    entered: dict[str, int] = field(default_factory=dict)     # campaign -> new enrollments
    messages: int = 0                                         # outbox rows written
    skipped: int = 0
    ended: int = 0
    dispatched: Counter = field(default_factory=Counter)      # outcome -> messages
    sunset: dict[str, int] = field(default_factory=dict)      # offered, reacted, suppressed


def enabled(settings) -> dict:
    """The enabled campaigns of tenure.toml."""
    return {n: c for n, c in settings.campaigns.items() if c.enabled}


def active(settings) -> dict:
    """Everything that enrolls: the enabled campaigns and, when on, the sunset policy's offer."""
    from tenure.campaigns import sunset

    out = enabled(settings)
    if settings.sunset.enabled:
        out[sunset.NAME] = sunset.campaign(settings)
    return out


def check(ws) -> None:
    """Refuse bad templates before anything is enrolled or sent."""
    from tenure.campaigns.validate import check_templates

    check_templates(ws.settings, ws.templates)


def utc(local: dt.datetime, zone: str) -> dt.datetime:
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.timezone.utc).replace(tzinfo=None)


def enroll_day(ws, as_of: dt.date, *, tables, now_utc: dt.datetime) -> CampaignResult:
    """Enroll the day's entries of every enabled campaign and advance open enrollments."""
    result = CampaignResult()
    campaigns = enabled(ws.settings)
    if not active(ws.settings):
        return result
    store, history = ws.store, ws.history
    snap = history.read(as_of)
    previous = history.previous(as_of)
    moves = history.transitions_path(as_of)
    changes = history.con.read_parquet(moves) if previous and moves.exists() else None
    entries = day_entries(campaigns, snap=snap, changes=changes, tables=tables, as_of=as_of, previous=previous)
    new = engine.enroll(entries, state.past_enrollments(store, list(campaigns), entries.customer_id), campaigns, as_of)
    messages = engine.schedule(new, campaigns)
    _, result.messages = state.write_enrollments(store, new, messages, now_utc)
    result.entered = {n: int(k) for n, k in new.campaign.value_counts().items()}
    if ws.settings.sunset.enabled:
        from tenure.campaigns import sunset

        result.sunset = sunset.run(ws, as_of, snap=snap, now_utc=now_utc)
        result.entered[sunset.NAME] = result.sunset["offered"]
    campaigns = active(ws.settings)
    opened = state.open_messages(store)
    opened = opened[opened.campaign.isin(list(campaigns))]
    if len(opened):
        import ibis

        ids = ibis.memtable(pd.DataFrame({"customer_id": opened.customer_id.unique()}))
        mine = snap.semi_join(ids, "customer_id")
        purchases = mine.select("customer_id", "last_purchase").to_pyarrow().to_pandas()
        who = triggers.union([triggers.still_in(n, c, mine) for n, c in campaigns.items()])
        inside = (who.to_pyarrow().to_pandas() if who is not None
                  else pd.DataFrame(columns=["customer_id", "campaign"]))
        skips, ended = engine.advance(opened, purchases, inside, campaigns)
        state.apply_advance(store, skips, ended, as_of)
        result.skipped, result.ended = len(skips), len(ended)
    return result


def day_entries(campaigns: dict, *, snap, changes, tables, as_of: dt.date, previous: dt.date | None) -> pd.DataFrame:
    """campaign, customer_id, trigger: who met each campaign's trigger in (previous, as_of]."""
    # One query per engine rather than per campaign: the stored snapshot and its transitions are
    # read by an in-memory DuckDB, events and customers by the warehouse's backend.
    from_snapshot, from_warehouse = [], []
    for name, campaign in campaigns.items():
        expr = triggers.entries(name, campaign, snap=snap, changes=changes, customers=tables.customers,
                                events=tables.events, as_of=as_of, previous=previous)
        uses_warehouse = campaign.trigger.kind == "event" or campaign.trigger.anniversary == "birthday"
        (from_warehouse if uses_warehouse else from_snapshot).append(expr)
    queries = [triggers.union(part) for part in (from_snapshot, from_warehouse)]
    frames = [q.to_pyarrow().to_pandas() for q in queries if q is not None]
    if not frames:
        return pd.DataFrame(columns=["customer_id", "campaign", "trigger"])
    return pd.concat(frames, ignore_index=True)


def store_in_use(ws) -> bool:
    """True when the workspace has an operational store already (never create one just to look)."""
    from tenure.store import SQLITE_FILE, URL_ENV

    return bool(os.environ.get(URL_ENV) or ws.settings.store.url or (ws.root / SQLITE_FILE).exists())


def retire_disabled(store, settings) -> int:
    """Pending messages of a campaign that is switched off (or gone from tenure.toml) are skipped."""
    on = list(active(settings))
    with store.begin() as conn:
        return conn.execute(outbox.update().where(outbox.c.status == "pending", outbox.c.campaign.not_in(on))
                            .values(status="skipped", reason="campaign disabled")).rowcount


def dispatch(ws, *, now_local: dt.datetime, tables=None, limit: int | None = None) -> Counter:
    """Send what is due by `now_local` (wall-clock time in the workspace zone)."""
    from tenure.campaigns.dispatcher import Dispatcher

    settings, store = ws.settings, ws.store
    zone = settings.workspace.timezone
    now = utc(now_local, zone)
    today = now_local.date()
    retire_disabled(store, settings)
    stale = today - dt.timedelta(days=settings.messaging.max_lateness_days)
    with store.begin() as conn:  # in bulk first: a backfill leaves many old messages, none to be sent
        expired = conn.execute(outbox.update().where(outbox.c.status == "pending", outbox.c.due_on < stale).values(
            status="expired", reason=f"more than {settings.messaging.max_lateness_days} day(s) late")).rowcount
    with store.connect() as conn:
        due_ids = [r[0] for r in conn.execute(sa.select(outbox.c.customer_id).distinct().where(
            outbox.c.status.in_(("pending", "claimed", "in_flight")), outbox.c.due_on <= today))]
    if not due_ids:
        from tenure.campaigns.dispatcher import recover

        counts = recover(store, now=now, lease_minutes=settings.messaging.lease_minutes,
                         resend_unknown=settings.messaging.resend_unknown)
        counts["expired"] += expired
        return counts
    from tenure.campaigns.recipients import recipients

    if tables is None:
        from tenure.warehouse.backends import analytics_tables

        tables = analytics_tables(ws)
    facts = recipients(ws, due_ids, tables=tables, today=today)
    dispatcher = Dispatcher(store, channels=channel_factories(ws, now), contacts=lambda ids: _contacts(store, facts, ids),
                            compose=_composer(ws, today), settings=settings.messaging, zone=zone)
    counts = dispatcher.run(now=now, today=today, limit=limit)
    counts["expired"] += expired
    return counts


def _contacts(store, facts: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """The batch's contact facts with the store's consents and suppressions applied (they
    change between runs: an unsubscribe must stop the next message)."""
    part = facts[facts.customer_id.isin(ids)].copy()
    with store.connect() as conn:
        supp = state.active_suppressions(conn, ids)
        rows = conn.execute(sa.select(consents.c.customer_id, consents.c.channel, consents.c.granted)
                            .where(consents.c.customer_id.in_(ids))).fetchall()
    for cid, channel, granted in rows:
        part.loc[part.customer_id == cid, f"consent_{channel}"] = bool(granted)
    part["suppressed"] = part.customer_id.map(lambda c: supp.get(c, set()))
    return part


def _composer(ws, today: dt.date):
    from tenure.campaigns.compose import compose

    settings = ws.settings
    secret, templates = ws.secret, ws.templates
    known = {**settings.campaigns, **active(settings)}

    def build(row: dict, contact: dict):
        campaign = known.get(row["campaign"])
        if campaign is None:
            raise ValueError(f"campaign {row['campaign']!r} is no longer defined in tenure.toml")
        return compose(key=row["key"], campaign_name=row["campaign"], campaign=campaign,
                       step_index=int(row["step"]), customer={"customer_id": row["customer_id"], **contact},
                       picks=contact.get("picks") or [], due_on=row["due_on"],
                       currency=settings.workspace.currency, templates=templates,
                       public_url=settings.messaging.public_url, secret=secret,
                       unsubscribe_mailto=settings.email.unsubscribe_mailto, locale=settings.workspace.locale)
    return build


def channel_factories(ws, now: dt.datetime) -> dict:
    s = ws.settings

    def email():
        from tenure.channels.email import EmailChannel

        return EmailChannel(s.email, password=os.environ.get(s.email.password_env) if s.email.password_env else None)

    def sms():
        from tenure.channels.sms import SmsChannel

        return SmsChannel(s.sms, token=os.environ.get(s.sms.password_env) if s.sms.password_env else None)

    def webhook():
        from tenure.channels.webhook import WebhookChannel

        return WebhookChannel(s.webhook, secret=os.environ.get(s.webhook.secret_env) if s.webhook.secret_env else None)

    def task():
        from tenure.channels.task import TaskChannel

        secret_env = getattr(s.tasks, "secret_env", "")
        return TaskChannel(insert_task=lambda row: state.insert_task(ws.store, row, now), settings=s.tasks,
                           secret=os.environ.get(secret_env) if secret_env else None, webhook=s.webhook)

    return {"email": email, "sms": sms, "webhook": webhook, "task": task}
