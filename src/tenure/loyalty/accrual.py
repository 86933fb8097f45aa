"""Accrual in `tenure run`, and `tenure loyalty rebuild`: both replay history through
`simulate`, so the daily run and a rebuild cannot disagree about what was earned.

The warehouse holds an order's present status, not when it changed: the day a run first sees
an order that earned points as cancelled or returned is the day its points are reversed (at most
what the customer still has then). That reversal is an observation a rebuild keeps as it is;
earnings and expiries it recomputes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from tenure.loyalty import history, ledger
from tenure.loyalty.simulate import EARN, REVERSE, Credit, Entry, Reversal, simulate


@dataclass
class Accrual:
    entries: int = 0                                   # entries written
    by_kind: dict[str, int] = field(default_factory=dict)
    customers: int = 0                                 # customers with entries in the ledger


@dataclass(frozen=True)
class Sources:
    """What history holds up to a day: orders (history.orders_frame) and other credits."""

    orders: object                 # pandas DataFrame: order_id, customer_id, day, status, currency, amount, multiplier
    credits: list[Credit]          # events and sign-ups

    @classmethod
    def read(cls, tables, as_of: dt.date, loyalty) -> Sources:
        return cls(history.orders_frame(tables, as_of, loyalty),
                   [*history.event_credits(tables, as_of, loyalty), *history.signup_credits(tables, as_of, loyalty)])


def _history(sources: Sources, as_of: dt.date, loyalty, stored: dict[str, list[Entry]]):
    """(credits by customer, reversals by customer) that history implies up to `as_of`."""
    credits = history.order_credits(sources.orders, loyalty)
    earned = {e.key for items in stored.values() for e in items if e.kind == EARN}
    reversed_on = {e.key.removeprefix("reverse:"): e.effective_on
                   for items in stored.values() for e in items if e.kind == REVERSE}
    by_customer: dict[str, list[Credit]] = defaultdict(list)
    reversals: dict[str, list[Reversal]] = defaultdict(list)
    for r in sources.orders.itertuples(index=False):
        credit = credits[r.order_id]
        if r.status == "completed":
            by_customer[r.customer_id].append(credit)
        elif credit.key in earned or credit.key in reversed_on:  # it earned once: take it back
            by_customer[r.customer_id].append(credit)
            reversals[r.customer_id].append(Reversal(credit.key, r.customer_id, reversed_on.get(credit.key, as_of),
                                                     f"order {r.order_id} {r.status}", r.order_id))
    for credit in sources.credits:
        if credit.on <= as_of:
            by_customer[credit.customer_id].append(credit)
    return by_customer, reversals


def replay(sources: Sources, as_of: dt.date, loyalty, *, fixed: dict[str, list[Entry]],
           observed: dict[str, list[Entry]]) -> dict[str, list[Entry]]:
    """New entries per customer: history up to `as_of` replayed over the `fixed` entries.
    `observed` is what the ledger saw (earns and reversal days) beyond `fixed`."""
    credits, reversals = _history(sources, as_of, loyalty, observed)
    out = {}
    for cid in sorted(set(credits) | set(reversals) | set(fixed)):
        result = simulate(cid, fixed=fixed.get(cid, []), credits=credits.get(cid, []),
                          reversals=reversals.get(cid, []), as_of=as_of, expires=loyalty.expires_on)
        if result.new:
            out[cid] = result.new
    return out


def accrue(ws, as_of: dt.date, *, tables, now: dt.datetime) -> Accrual:
    """Write what the warehouse's history up to `as_of` earned, reversed and expired."""
    loyalty = ws.settings.loyalty
    return accrue_sources(ws.store, Sources.read(tables, as_of, loyalty), as_of, loyalty=loyalty, now=now)


def accrue_sources(store, sources: Sources, as_of: dt.date, *, loyalty, now: dt.datetime) -> Accrual:
    """Write what `sources` earned, reversed and expired up to `as_of`; a rerun writes nothing.

    One transaction that locks every account first, so a redemption waits for it (and the
    expiries computed here cannot race one)."""
    import sqlalchemy as sa

    from tenure.store.tables import loyalty_accounts

    with store.begin() as conn:
        ledger.ensure_accounts(conn, {*sources.orders.customer_id, *(c.customer_id for c in sources.credits)},
                               now=now)
        conn.execute(sa.select(loyalty_accounts.c.customer_id).order_by(loyalty_accounts.c.customer_id)
                     .with_for_update()).all()
        stored = ledger.all_entries(conn)
        new = replay(sources, as_of, loyalty, fixed=stored, observed=stored)
        flat = [e for items in new.values() for e in items]
        written = ledger.append(conn, flat, now=now)
        customers = conn.execute(sa.select(sa.func.count()).select_from(loyalty_accounts)).scalar_one()
    kinds: dict[str, int] = defaultdict(int)
    for e in flat:
        kinds[e.kind] += 1
    return Accrual(entries=written, by_kind=dict(kinds), customers=int(customers))


@dataclass
class Rebuild:
    as_of: dt.date
    derived_before: int
    derived_after: int
    differences: list[tuple[str, int | None, int | None]]  # (key, points stored, points recomputed)
    balances_changed: int
    applied: bool


def rebuild(ws, as_of: dt.date, *, tables, now: dt.datetime, apply: bool = False) -> Rebuild:
    """Recompute every derived entry from the warehouse's history; see `rebuild_sources`."""
    loyalty = ws.settings.loyalty
    return rebuild_sources(ws.store, Sources.read(tables, as_of, loyalty), as_of, loyalty=loyalty, now=now,
                           apply=apply)


def rebuild_sources(store, sources: Sources, as_of: dt.date, *, loyalty, now: dt.datetime,
                    apply: bool = False) -> Rebuild:
    """Recompute every derived entry from history and the recorded entries, and compare with the
    ledger. With `apply`, replace the derived entries by the recomputed ones in one transaction.

    Kept as they are: what people recorded (redemptions, adjustments) and the reversals, which
    hold the day a cancellation was first seen and what could be taken back then (the warehouse
    keeps an order's status, not when it changed, nor what was spent before that moment)."""
    import sqlalchemy as sa

    from tenure.store.tables import loyalty_accounts, loyalty_ledger

    with store.begin() as conn:
        conn.execute(sa.select(loyalty_accounts.c.customer_id).with_for_update()).all()
        stored = ledger.all_entries(conn)
        kept = {cid: [e for e in items if not e.derived or e.kind == REVERSE] for cid, items in stored.items()}
        recomputed = replay(sources, as_of, loyalty, fixed=kept, observed=stored)
        # Only what `as_of` covers: a redemption made after it may have written later expiries.
        old = {e.key: e for items in stored.values() for e in items
               if e.derived and e.kind != REVERSE and e.effective_on <= as_of}
        fresh = {e.key: e for items in recomputed.values() for e in items}
        diffs = [(k, old[k].points if k in old else None, fresh[k].points if k in fresh else None)
                 for k in sorted(set(old) | set(fresh))
                 if k not in old or k not in fresh or old[k].points != fresh[k].points]
        before = defaultdict(int)
        for e in old.values():
            before[e.customer_id] += e.points
        after = defaultdict(int)
        for e in fresh.values():
            after[e.customer_id] += e.points
        changed = sum(1 for cid in set(before) | set(after) if before[cid] != after[cid])
        if apply and diffs:
            conn.execute(loyalty_ledger.delete().where(loyalty_ledger.c.derived == sa.true(),
                                                       loyalty_ledger.c.kind != REVERSE,
                                                       loyalty_ledger.c.effective_on <= as_of))
            ledger.append(conn, list(fresh.values()), now=now)
    return Rebuild(as_of, len(old), len(fresh), diffs, changed, applied=apply and bool(diffs))
