"""Send what is due, each message once: claim, re-check, mark in flight, send, record.

The outbox row of a message moves pending -> claimed -> in_flight -> sent | failed | pending
(retry later), each move a committed transaction, so a dispatcher killed at any point leaves a
state the next one reads exactly:
- `claimed` by a dead worker: nothing left the machine; it goes back to pending and is sent.
- `in_flight` by a dead worker: the provider may or may not have it (the kill fell between
  handing the message over and recording the answer). It becomes `unknown` and is not sent again,
  unless `messaging.resend_unknown` (then it is resent with the same Message-ID).
Claims are atomic (UPDATE ... RETURNING; SKIP LOCKED on PostgreSQL), so two dispatchers never
hold the same message. docs/campaigns.md says all this for users.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections import Counter
from collections.abc import Callable

import pandas as pd
import sqlalchemy as sa

from tenure.campaigns import engine
from tenure.channels.base import Channel, Message, Outcome
from tenure.store import Store
from tenure.store.engine import skip_locked
from tenure.store.tables import delivery_attempts, outbox

CLAIM_COLUMNS = ("id", "key", "campaign", "customer_id", "entered_on", "step", "channel", "template", "marketing",
                 "priority", "due_on", "attempts")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(worker: str | None) -> bool:
    if not worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's worker: only its lease can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def recover(store: Store, *, now: dt.datetime, lease_minutes: int, resend_unknown: bool) -> Counter:
    """Release what dead dispatchers held; see the module docstring."""
    o = outbox
    counts: Counter = Counter()
    expired = now - dt.timedelta(minutes=lease_minutes)
    with store.begin() as conn:
        held = conn.execute(sa.select(o.c.id, o.c.status, o.c.worker, o.c.claimed_at)
                            .where(o.c.status.in_(("claimed", "in_flight")))).fetchall()
        for row in held:
            if _alive(row.worker) and row.claimed_at and row.claimed_at > expired:
                continue
            if row.status == "claimed" or resend_unknown:
                conn.execute(o.update().where(o.c.id == row.id).values(status="pending", worker=None))
                counts["released"] += 1
            else:
                conn.execute(o.update().where(o.c.id == row.id).values(
                    status="unknown", reason="dispatcher stopped while sending: may or may not have arrived"))
                counts["unknown"] += 1
            conn.execute(delivery_attempts.update().where(delivery_attempts.c.outbox_id == row.id,
                                                          delivery_attempts.c.finished_at.is_(None))
                         .values(finished_at=now, outcome="unknown", detail="dispatcher stopped"))
    return counts


def claim(store: Store, *, worker: str, now: dt.datetime, today: dt.date, limit: int) -> pd.DataFrame:
    """Up to `limit` due messages in customer order, plus the rest of the last customer's, so
    that one dispatcher weighs all of a customer's messages of the day together (priority, cap)."""
    o = outbox
    due = sa.and_(o.c.status == "pending", o.c.due_on <= today,
                  sa.or_(o.c.not_before.is_(None), o.c.not_before <= now))
    # Customer order alone: the (status, customer_id) index yields it without a sort.
    first = skip_locked(sa.select(o.c.id).where(due).order_by(o.c.customer_id).limit(limit))
    take = o.update().values(status="claimed", worker=worker, claimed_at=now).returning(*(o.c[c] for c in CLAIM_COLUMNS))
    with store.begin() as conn:
        rows = conn.execute(take.where(o.c.id.in_(first.scalar_subquery()))).fetchall()
        if rows:
            last = max(r.customer_id for r in rows)
            rest = skip_locked(sa.select(o.c.id).where(due, o.c.customer_id == last))
            rows += conn.execute(take.where(o.c.id.in_(rest.scalar_subquery()))).fetchall()
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def recent_sends(store: Store, customer_ids: list[str], *, now: dt.datetime, days: int) -> pd.DataFrame:
    o = outbox
    since = now - dt.timedelta(days=days)
    out = []
    with store.connect() as conn:
        for start in range(0, len(customer_ids), 5000):
            q = (sa.select(o.c.customer_id, sa.func.count().label("sent"))
                 .where(o.c.customer_id.in_(customer_ids[start:start + 5000]), o.c.marketing.is_(True),
                        o.c.status.in_(("sent", "in_flight", "unknown")), o.c.sent_at >= since)
                 .group_by(o.c.customer_id))
            out += conn.execute(q).fetchall()
    return pd.DataFrame(out, columns=["customer_id", "sent"])


class Dispatcher:
    def __init__(self, store: Store, *, channels: dict[str, Callable[[], Channel]],
                 contacts: Callable[[list[str]], pd.DataFrame], compose: Callable[[dict, dict], Message],
                 settings, zone: str, worker: str | None = None) -> None:
        self.store, self.factories, self.contacts, self.compose = store, channels, contacts, compose
        self.settings, self.zone = settings, zone
        self.worker = worker or worker_id()
        self.open: dict[str, Channel] = {}
        # Outcomes not yet committed: each is written in the same transaction that marks the next
        # message in flight (one commit per message, not two), or at the end of a batch. A kill
        # in between leaves that one message `in_flight`, as it would have anyway.
        self._unwritten: list[tuple[int, dict, int | None, Outcome]] = []

    def run(self, *, now: dt.datetime, today: dt.date, limit: int | None = None) -> Counter:
        """Send everything due by `now` (UTC) and `today` (the shop's day); returns counts by outcome."""
        s = self.settings
        counts = recover(self.store, now=now, lease_minutes=s.lease_minutes, resend_unknown=s.resend_unknown)
        try:
            while limit is None or counts.total() < limit:
                batch = claim(self.store, worker=self.worker, now=now, today=today, limit=s.batch_size)
                if batch.empty:
                    break
                self._batch(batch, now=now, today=today, counts=counts)
                self._write_outcomes(now)
        finally:
            self._write_outcomes(now)
            for channel in self.open.values():
                channel.close()
            self.open.clear()
        return counts

    def _batch(self, batch: pd.DataFrame, *, now, today, counts: Counter) -> None:
        s = self.settings
        ids = sorted(set(batch.customer_id))
        contacts = self.contacts(ids)
        recent = recent_sends(self.store, ids, now=now, days=s.frequency_cap_days)
        plan = engine.decide(batch, contacts, recent, now=now, today=today, cap=s.frequency_cap,
                             max_lateness_days=s.max_lateness_days, quiet_hours=s.quiet_hours,
                             default_zone=self.zone)
        plan = plan.merge(batch, on="id")
        o = outbox
        with self.store.begin() as conn:
            for row in plan[plan.action != "send"].itertuples():
                if row.action == "defer":
                    values = {"status": "pending", "worker": None, "not_before": row.not_before.to_pydatetime()}
                else:
                    values = {"status": row.action, "reason": row.reason}
                conn.execute(o.update().where(o.c.id == row.id, o.c.worker == self.worker).values(**values))
                counts[row.action] += 1
        facts = contacts.set_index("customer_id").to_dict("index") if len(contacts) else {}
        for row in plan[plan.action == "send"].to_dict("records"):
            counts[self._send(row, facts.get(row["customer_id"], {}), now)] += 1

    def _send(self, row: dict, contact: dict, now: dt.datetime) -> str:
        o = outbox
        try:
            message = self.compose(row, contact)
        except Exception as exc:  # a template that fails on this customer's data: record, go on
            return self._finish(row, Outcome("failed", f"could not compose: {exc}"), now, attempt=None)
        if message.channel in engine.PERSONAL and not message.recipient:
            return self._finish(row, Outcome("failed", "no address"), now, attempt=None, status="no_address")
        channel = self._channel(row["channel"])
        attempt: dict = {}

        def in_flight() -> None:
            with self.store.begin() as conn:
                self._write_outcomes(now, conn)
                moved = conn.execute(o.update().where(o.c.id == row["id"], o.c.status == "claimed",
                                                      o.c.worker == self.worker).values(status="in_flight"))
                if moved.rowcount == 1:
                    attempt["id"] = conn.execute(delivery_attempts.insert().values(
                        outbox_id=row["id"], worker=self.worker, started_at=now)).inserted_primary_key[0]
            if "id" not in attempt:  # our claim was released meanwhile (the outcomes above are kept)
                raise _Lost()

        try:
            outcome = channel.send(message, in_flight)
        except _Lost:
            return "lost_claim"
        return self._finish(row, outcome, now, attempt=attempt.get("id"))

    def _finish(self, row: dict, outcome: Outcome, now: dt.datetime, *, attempt, status: str | None = None) -> str:
        o, s = outbox, self.settings
        tries = int(row["attempts"]) + 1
        if outcome.status == "sent":
            values = {"status": "sent", "sent_at": now, "provider_id": outcome.provider_id, "reason": None}
        elif outcome.status == "unknown" and not s.resend_unknown:
            values = {"status": "unknown", "reason": outcome.detail[:500]}
        elif outcome.status in ("retry", "unknown") and tries < s.max_attempts:
            wait = dt.timedelta(minutes=s.retry_minutes * 2 ** (tries - 1))
            values = {"status": "pending", "worker": None, "not_before": now + wait, "reason": outcome.detail[:500]}
        else:
            values = {"status": status or "failed", "reason": outcome.detail[:500]}
        self._unwritten.append((row["id"], {"attempts": tries, **values}, attempt, outcome))
        return "retry" if values["status"] == "pending" else values["status"]

    def _write_outcomes(self, now: dt.datetime, conn=None) -> None:
        if not self._unwritten:
            return
        if conn is None:
            with self.store.begin() as own:
                return self._write_outcomes(now, own)
        o = outbox
        for outbox_id, values, attempt, outcome in self._unwritten:
            conn.execute(o.update().where(o.c.id == outbox_id).values(**values))
            if attempt is not None:
                conn.execute(delivery_attempts.update().where(delivery_attempts.c.id == attempt).values(
                    finished_at=now, outcome=outcome.status, detail=outcome.detail[:1000]))
        self._unwritten.clear()

    def _channel(self, name: str) -> Channel:
        if name not in self.open:
            channel = self.factories[name]()
            channel.open()
            self.open[name] = channel
        return self.open[name]


class _Lost(Exception):
    """The claim on a message was released (lease expired) before it could be marked in flight."""
