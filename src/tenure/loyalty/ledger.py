"""The points ledger in the operational store: reading balances and history, redeeming and
adjusting. A balance is always the sum of the customer's entries.

Redemptions and adjustments lock the customer's row of loyalty_accounts first (SELECT ... FOR
UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already lets one writer in at a time), settle
the expiries that are due, then check the balance and write, all in one transaction: fifty
concurrent redemptions against a balance that covers ten leave exactly ten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from tenure.errors import LoyaltyError
from tenure.loyalty.simulate import ADJUST, REDEEM, Entry, Result, simulate
from tenure.store.engine import insert_ignore
from tenure.store.tables import loyalty_accounts, loyalty_ledger

L = loyalty_ledger.c
MAX_POINTS = 10**12  # far beyond any real balance; refuses absurd numbers before the database does


@dataclass(frozen=True)
class Outcome:
    entry: Entry
    balance: int
    replayed: bool  # the idempotency key was seen before with the same request: nothing new written


def _entry(row) -> Entry:
    return Entry(key=row.key, customer_id=row.customer_id, kind=row.kind, points=int(row.points),
                 effective_on=row.effective_on, reason=row.reason, source=row.source, source_id=row.source_id,
                 expires_on=row.expires_on, derived=bool(row.derived), reward=row.reward, seq=int(row.id))


def entries(conn, customer_id: str) -> list[Entry]:
    rows = conn.execute(sa.select(loyalty_ledger).where(L.customer_id == customer_id).order_by(L.id))
    return [_entry(r) for r in rows]


def all_entries(conn, *, derived: bool | None = None) -> dict[str, list[Entry]]:
    """Every entry, by customer (oldest first); only derived or only recorded ones when asked."""
    q = sa.select(loyalty_ledger).order_by(L.id)
    if derived is not None:
        q = q.where(L.derived == derived)
    out: dict[str, list[Entry]] = {}
    for r in conn.execute(q):
        out.setdefault(r.customer_id, []).append(_entry(r))
    return out


def balance(conn, customer_id: str) -> int:
    total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(L.points), 0))
                         .where(L.customer_id == customer_id)).scalar_one()
    return int(total)


def balances(conn) -> dict[str, int]:
    rows = conn.execute(sa.select(L.customer_id, sa.func.sum(L.points)).group_by(L.customer_id))
    return {cid: int(total) for cid, total in rows}


def state(conn, customer_id: str, *, today: dt.date, settings) -> Result:
    """The customer's lots today (what expires when), from the ledger alone."""
    return simulate(customer_id, fixed=entries(conn, customer_id), as_of=today, expires=settings.expires_on)


def _row(e: Entry, now: dt.datetime, digest: str | None = None) -> dict:
    return {"key": e.key, "customer_id": e.customer_id, "kind": e.kind, "points": e.points,
            "effective_on": e.effective_on, "expires_on": e.expires_on, "reason": e.reason[:500],
            "source": e.source, "source_id": e.source_id, "derived": e.derived, "reward": e.reward,
            "request_digest": digest, "created_at": now}


def append(conn, new: list[Entry], *, now: dt.datetime) -> int:
    """Write entries; one whose key is already stored is skipped (a rerun writes nothing twice)."""
    return insert_ignore(conn, loyalty_ledger, [_row(e, now) for e in new])


def ensure_accounts(conn, customer_ids, *, now: dt.datetime) -> None:
    insert_ignore(conn, loyalty_accounts, [{"customer_id": c, "created_at": now} for c in sorted(set(customer_ids))])


def _lock(conn, customer_id: str, now: dt.datetime) -> None:
    ensure_accounts(conn, [customer_id], now=now)
    conn.execute(sa.select(loyalty_accounts.c.customer_id)
                 .where(loyalty_accounts.c.customer_id == customer_id).with_for_update())


def _settle(conn, customer_id: str, *, today: dt.date, now: dt.datetime, settings) -> int:
    """Write the expiries due by `today`; returns the balance after them."""
    append(conn, state(conn, customer_id, today=today, settings=settings).new, now=now)
    return balance(conn, customer_id)


def _digest(**request) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _replay(conn, key: str, digest: str, customer_id: str) -> Outcome | None:
    row = conn.execute(sa.select(loyalty_ledger).where(L.key == key)).first()
    if row is None:
        return None
    if row.request_digest != digest:
        raise LoyaltyError("this idempotency key was already used for a different request",
                           fix="send a new key for a new request (or repeat the first request unchanged)",
                           reason="key_reused")
    return Outcome(_entry(row), balance(conn, customer_id), replayed=True)


def _check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > 200:
        raise LoyaltyError("an idempotency key is required (1 to 200 characters)",
                           fix="send a unique key per redemption, e.g. a UUID, and repeat it on a retry")
    return key


def redeem(store, *, customer_id: str, idempotency_key: str, today: dt.date, now: dt.datetime, settings,
           reward: str | None = None, points: int | None = None, source: str = "api") -> Outcome:
    """Take a reward's cost (or `points`) from the balance; refused when the balance is short."""
    key = _check_key(idempotency_key)
    if (reward is None) == (points is None):
        raise LoyaltyError("name either a reward or a number of points to redeem", fix="send one of them")
    if reward is not None:
        if reward not in settings.rewards:
            raise LoyaltyError(f"unknown reward {reward!r} (rewards: {', '.join(sorted(settings.rewards)) or 'none'})",
                               fix="use a reward named in [loyalty.rewards] of tenure.toml")
        cost, what = settings.rewards[reward].cost, f"reward {reward!r} costs"
    else:
        if isinstance(points, bool) or not isinstance(points, int) or points <= 0 or points > MAX_POINTS:
            raise LoyaltyError(f"points to redeem must be a positive whole number, not {points!r}",
                               fix="send e.g. points = 500")
        cost, what = points, "the redemption needs"
    digest = _digest(customer_id=customer_id, reward=reward, points=points)

    def entry(available: int) -> Entry:
        if cost > available:
            raise LoyaltyError(f"customer {customer_id} has {available} points; {what} {cost}",
                               fix="redeem less, or a cheaper reward", reason="insufficient")
        label = f"reward {reward}" if reward is not None else f"{cost} points"
        return Entry(f"redeem:{key}", customer_id, REDEEM, -cost, today, f"redeemed {label}", source, key,
                     derived=False, reward=reward)

    return _write_once(store, customer_id, digest, entry, today=today, now=now, settings=settings)


def _write_once(store, customer_id: str, digest: str, make, *, today: dt.date, now: dt.datetime,
                settings) -> Outcome:
    """Write the entry `make(available balance)` returns (or raises against), once per key: lock
    the customer, answer a repeated key from the ledger, settle the expiries due, then write."""
    key = make(MAX_POINTS).key  # the key does not depend on the balance
    try:
        with store.begin() as conn:
            _lock(conn, customer_id, now)
            replay = _replay(conn, key, digest, customer_id)
            if replay:
                return replay
            available = _settle(conn, customer_id, today=today, now=now, settings=settings)
            e = make(available)
            conn.execute(loyalty_ledger.insert().values(**_row(e, now, digest)))  # make() builds it derived=False
            return Outcome(e, available + e.points, replayed=False)
    except sa.exc.IntegrityError:  # the same key, for another customer, committed meanwhile
        with store.connect() as conn:
            replay = _replay(conn, key, digest, customer_id)
        if replay:
            return replay
        raise


def adjust(store, *, customer_id: str, points: int, reason: str, today: dt.date, now: dt.datetime, settings,
           idempotency_key: str | None = None, source: str = "admin") -> Outcome:
    """An admin's correction: add points (a new lot, expiring like earned points) or take them
    (never below zero). A reason is required; it is kept on the entry."""
    if isinstance(points, bool) or not isinstance(points, int) or points == 0 or abs(points) > MAX_POINTS:
        raise LoyaltyError(f"an adjustment must be a non-zero whole number of points, not {points!r}",
                           fix="e.g. 250 to add points, -250 to take them")
    reason = " ".join((reason or "").split())
    if not reason:
        raise LoyaltyError("an adjustment needs a reason", fix="say why, e.g. --reason 'goodwill: late delivery'")
    key = _check_key(idempotency_key) if idempotency_key is not None else uuid.uuid4().hex
    digest = _digest(customer_id=customer_id, points=points, reason=reason)

    def entry(available: int) -> Entry:
        if available + points < 0:
            raise LoyaltyError(f"customer {customer_id} has {available} points; cannot take {-points}",
                               fix=f"take at most {available}", reason="insufficient")
        expires = settings.expires_on(today) if points > 0 else None
        return Entry(f"adjust:{key}", customer_id, ADJUST, points, today, reason[:500], source, key,
                     expires_on=expires, derived=False)

    return _write_once(store, customer_id, digest, entry, today=today, now=now, settings=settings)


def history(conn, customer_id: str, *, limit: int = 200) -> list[dict]:
    """The customer's entries, newest first."""
    rows = conn.execute(sa.select(loyalty_ledger).where(L.customer_id == customer_id)
                        .order_by(L.effective_on.desc(), L.id.desc()).limit(limit))
    return [{"kind": r.kind, "points": int(r.points), "effective_on": r.effective_on, "expires_on": r.expires_on,
             "reason": r.reason, "source": r.source, "source_id": r.source_id, "reward": r.reward,
             "created_at": r.created_at} for r in rows]


def liability(conn, *, today: dt.date, settings) -> dict:
    """Outstanding points on `today` and their value; points expiring in the 30 days after it."""
    per = all_entries(conn)
    outstanding = expiring = holders = 0
    soon = today + dt.timedelta(days=30)
    for cid, items in per.items():
        result = simulate(cid, fixed=items, as_of=today, expires=settings.expires_on)
        total = result.balance  # entries up to `today`, with the expiries due by then
        outstanding += total
        expiring += result.expiring(today, soon)
        holders += total > 0
    return {"outstanding_points": outstanding, "value": round(outstanding * settings.point_value, 2),
            "customers_with_points": holders, "expiring_30d": expiring,
            "expiring_30d_value": round(expiring * settings.point_value, 2), "point_value": settings.point_value}
