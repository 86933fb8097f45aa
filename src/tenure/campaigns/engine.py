"""The campaign engine: pure functions of (state, today's entries and facts, now) -> actions.

Tables in, tables out (pandas), no I/O and no clock: tests give small frames of events and
compare the frames of actions; the runner reads state from the store and writes actions back.

    enroll    today's trigger entries + past enrollments      -> new enrollments (with group)
    schedule  new enrollments                                  -> outbox rows, one per step
    advance   open messages + purchases + who is still in      -> skipped messages, ended enrollments
    decide    a claimed batch + contact facts + recent sends   -> send / defer / a final status
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from tenure.campaigns import keys
from tenure.campaigns.definitions import Campaign

ENROLLMENT_COLUMNS = ["campaign", "customer_id", "entered_on", "grp", "trigger"]
OUTBOX_COLUMNS = ["key", "campaign", "customer_id", "entered_on", "step", "channel", "template", "grp",
                  "marketing", "priority", "due_on", "status"]
PERSONAL = ("email", "sms")  # channels that reach a person: consent, address and quiet hours apply


def _per_campaign(campaign: pd.Series, values: dict, default) -> pd.Series:
    """A campaign setting per row. Not Series.map: on Arrow-backed text (what a query returns)
    it keeps the text type for the result."""
    return pd.Series([values.get(c, default) for c in campaign], index=campaign.index)


def enroll(entries: pd.DataFrame, past: pd.DataFrame, campaigns: dict[str, Campaign],
           as_of: dt.date) -> pd.DataFrame:
    """New enrollments of `as_of`.

    entries: campaign, customer_id, trigger (who met a trigger today);
    past: campaign, customer_id, last_entered_on, active (their latest enrollment, if any).
    A customer enters unless enrolled and still active, or enrolled before and the campaign's
    re-entry rule (never, or after N days) says no."""
    e = entries.drop_duplicates(["campaign", "customer_id"])
    e = e[e.campaign.isin([n for n, c in campaigns.items() if c.enabled])]
    m = e.merge(past, on=["campaign", "customer_id"], how="left")
    reentry = _per_campaign(m.campaign, {n: c.reentry_after_days for n, c in campaigns.items()}, 0)
    since = (pd.Timestamp(as_of) - pd.to_datetime(m.last_entered_on)).dt.days
    allowed = m.last_entered_on.isna() | (~m.active.fillna(False).astype(bool) & (reentry > 0) & (since >= reentry))
    out = m.loc[allowed, ["campaign", "customer_id", "trigger"]].copy()
    out["entered_on"] = as_of
    out["grp"] = "treatment"
    for name, part in out.groupby("campaign", sort=False):
        out.loc[part.index, "grp"] = keys.groups(name, part.customer_id, campaigns[name].holdout_share)
    return out[ENROLLMENT_COLUMNS].reset_index(drop=True)


def schedule(enrollments: pd.DataFrame, campaigns: dict[str, Campaign]) -> pd.DataFrame:
    """One outbox row per enrollment and step; a holdout's rows are `held_out` (never sent, but
    dated: attribution anchors the holdout's conversions on the day it would have been sent)."""
    steps = pd.DataFrame([
        {"campaign": n, "step": i, "offset": s.offset_days, "channel": s.channel, "template": s.template,
         "marketing": c.marketing, "priority": c.priority}
        for n, c in campaigns.items() for i, s in enumerate(c.steps)])
    if enrollments.empty or steps.empty:
        return pd.DataFrame(columns=OUTBOX_COLUMNS)
    rows = enrollments.merge(steps, on="campaign")
    rows["due_on"] = (pd.to_datetime(rows.entered_on) + pd.to_timedelta(rows.offset, unit="D")).dt.date
    rows["status"] = np.where(rows.grp == "holdout", "held_out", "pending")
    rows["key"] = keys.message_keys(rows)
    return rows[OUTBOX_COLUMNS].reset_index(drop=True)


def advance(open_messages: pd.DataFrame, purchases: pd.DataFrame, still_in: pd.DataFrame,
            campaigns: dict[str, Campaign]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Messages to skip and enrollments that end, before anything due is sent.

    open_messages: key, campaign, customer_id, entered_on, status (pending or held_out rows of
    active enrollments); purchases: customer_id, last_purchase (date); still_in: campaign,
    customer_id of those who still meet their campaign's trigger (label and ladder triggers).
    Returns (skips: key, reason; ended: campaign, customer_id, entered_on, end_reason)."""
    m = open_messages.merge(purchases, on="customer_id", how="left")
    bought = pd.to_datetime(m.last_purchase) > pd.to_datetime(m.entered_on)
    exit_on = _per_campaign(m.campaign, {n: c.exit_on_purchase for n, c in campaigns.items()}, True).astype(bool)
    converted = bought & exit_on
    follows = _per_campaign(m.campaign, {n: c.skip_when_left and c.trigger.kind in ("label", "ladder")
                                         for n, c in campaigns.items()}, False).astype(bool)
    inside = m.set_index(["campaign", "customer_id"]).index.isin(
        still_in.set_index(["campaign", "customer_id"]).index)
    left = follows & ~inside & ~converted
    pending = m.status == "pending"
    skips = pd.concat([m.loc[converted & pending, ["key"]].assign(reason="converted"),
                       m.loc[left & pending, ["key"]].assign(reason="left segment")], ignore_index=True)
    ended = (m.loc[converted, ["campaign", "customer_id", "entered_on"]].drop_duplicates()
             .assign(end_reason="purchased"))
    return skips, ended.reset_index(drop=True)


def decide(batch: pd.DataFrame, contacts: pd.DataFrame, recent: pd.DataFrame, *, now: dt.datetime,
           today: dt.date, cap: int, max_lateness_days: int, quiet_hours: str,
           default_zone: str) -> pd.DataFrame:
    """What to do with each claimed message: `send`, `defer` (quiet hours: with not_before in
    UTC) or a final status with its reason.

    batch: id, campaign, customer_id, channel, marketing, priority, due_on, step;
    contacts: customer_id, email, phone, consent_email, consent_sms, timezone, suppressed (a
    set of scopes: all, marketing, email, sms); recent: customer_id, sent (marketing messages
    sent within the cap's window before now). `now` is UTC (naive)."""
    m = batch.merge(contacts, on="customer_id", how="left").merge(recent, on="customer_id", how="left")
    m["sent"] = m.sent.fillna(0).astype(int)
    scopes = m.suppressed.apply(lambda s: s if isinstance(s, (set, frozenset)) else set())
    personal = m.channel.isin(PERSONAL)
    action = pd.Series("send", index=m.index, dtype=object)
    reason = pd.Series("", index=m.index, dtype=object)

    def final(mask, status, why):
        hit = mask & (action == "send")
        action[hit] = status
        reason[hit] = why

    final(pd.to_datetime(m.due_on) < pd.Timestamp(today - dt.timedelta(days=max_lateness_days)),
          "expired", f"more than {max_lateness_days} day(s) late")
    final(scopes.apply(lambda s: "all" in s), "suppressed", "suppressed")
    final(m.marketing.astype(bool) & scopes.apply(lambda s: "marketing" in s), "suppressed", "suppressed for marketing")
    final(pd.Series([c in s for c, s in zip(m.channel, scopes)], index=m.index), "suppressed", "channel suppressed")
    for channel in PERSONAL:
        on = m.channel == channel
        consent = m[f"consent_{channel}"].fillna(False).astype(bool)
        final(on & m.marketing.astype(bool) & ~consent, "no_consent", f"no consent to {channel}")
        address = m["email" if channel == "email" else "phone"]
        final(on & (address.isna() | (address.astype(str).str.strip() == "")), "no_address", f"no {channel} address")
    not_before = pd.Series(pd.NaT, index=m.index, dtype="datetime64[us]")
    if quiet_hours:
        wait = _quiet_until(m.timezone, now, quiet_hours, default_zone)
        hold = personal & wait.notna() & (action == "send")
        action[hold] = "defer"
        reason[hold] = "quiet hours"
        not_before[hold] = wait[hold]
    if cap:
        # Highest priority first; within it, the earlier step. The cap counts what was already
        # sent in the window plus what this batch sends before the message.
        eligible = (action == "send") & m.marketing.astype(bool)
        order = m[eligible].sort_values(["customer_id", "priority", "due_on", "step"],
                                        ascending=[True, False, True, True])
        rank = order.groupby("customer_id").cumcount()
        over = (rank + order.sent) >= cap
        action[over[over].index] = "capped"
        reason[over[over].index] = f"frequency cap of {cap}"
    out = m[["id"]].copy()
    out["action"], out["reason"], out["not_before"] = action, reason, not_before
    return out


def _quiet_until(zones: pd.Series, now: dt.datetime, span: str, default_zone: str) -> pd.Series:
    """For each customer's zone: the UTC end of the quiet hours if `now` falls in them, else NaT."""
    start, end = (dt.time.fromisoformat(p) for p in span.split("-"))
    utc = now.replace(tzinfo=dt.timezone.utc)
    out = {}
    for zone in zones.fillna(default_zone).unique():
        try:
            tz = ZoneInfo(zone)
        except Exception:  # an unknown zone from a source file: the shop's zone instead
            tz = ZoneInfo(default_zone)
        local = utc.astimezone(tz)
        t = local.time()
        quiet = (start <= t or t < end) if start > end else (start <= t < end)
        if not quiet:
            out[zone] = pd.NaT
            continue
        day = local.date() if t < end else local.date() + dt.timedelta(days=1)
        resume = dt.datetime.combine(day, end, tzinfo=tz).astimezone(dt.timezone.utc).replace(tzinfo=None)
        out[zone] = pd.Timestamp(resume)
    filled = zones.fillna(default_zone)
    return pd.Series([out[z] for z in filled], index=zones.index, dtype="datetime64[us]")
