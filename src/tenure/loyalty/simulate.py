"""The points ledger replayed day by day: pure, no store, no clock.

A customer's points are lots: each credit (an order's points, an event's, an admin's positive
adjustment) is a lot with an expiry day. Debits (redemptions, reversals, negative adjustments)
take points from the oldest lots first (first in, first out); on a lot's expiry day whatever is
left of it expires. Within a day: expiries first, then credits, then debits in the order they
were made.

`simulate` is the one place these rules live. The daily run, a redemption (which first
settles expiries that are due) and `tenure loyalty rebuild` all call it:
- entries already in the ledger are `fixed`: they happened, with their recorded points;
- `credits` and `reversals` are what history implies and the ledger may not hold yet; a
  reversal takes back at most what the customer still has, so a balance never goes negative.
It returns the entries the ledger lacks, and the lots left at the end.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EARN, REDEEM, EXPIRE, ADJUST, REVERSE = "earn", "redeem", "expire", "adjust", "reverse"
KINDS = (EARN, REDEEM, EXPIRE, ADJUST, REVERSE)


@dataclass(frozen=True)
class Entry:
    """One ledger entry (a row of loyalty_ledger)."""

    key: str
    customer_id: str
    kind: str
    points: int
    effective_on: dt.date
    reason: str
    source: str
    source_id: str | None = None
    expires_on: dt.date | None = None
    derived: bool = True
    reward: str | None = None
    seq: int = 0  # the store's id: the order entries of one day were made in


@dataclass(frozen=True)
class Credit:
    """Points history says a customer earned: an order, an event, a sign-up."""

    key: str
    customer_id: str
    points: int
    on: dt.date
    reason: str
    source: str
    source_id: str | None


@dataclass(frozen=True)
class Reversal:
    """An order that earned points and is now cancelled or returned, seen on `on`."""

    credit_key: str
    customer_id: str
    on: dt.date
    reason: str
    source_id: str | None

    @property
    def key(self) -> str:
        return f"reverse:{self.credit_key}"


@dataclass
class Lot:
    key: str
    earned_on: dt.date
    expires_on: dt.date | None
    remaining: int


@dataclass
class Result:
    new: list[Entry] = field(default_factory=list)     # entries the ledger lacks, in order
    lots: list[Lot] = field(default_factory=list)      # what is left, oldest first

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    def expiring(self, after: dt.date, until: dt.date) -> int:
        """Points that will expire in (after, until] unless spent first."""
        return sum(lot.remaining for lot in self.lots
                   if lot.expires_on is not None and after < lot.expires_on <= until)


_EXPIRE, _CREDIT, _DEBIT = 0, 1, 2


def simulate(customer_id: str, *, fixed: Iterable[Entry] = (), credits: Iterable[Credit] = (),
             reversals: Iterable[Reversal] = (), as_of: dt.date,
             expires: Callable[[dt.date], dt.date | None]) -> Result:
    fixed = [e for e in fixed if e.effective_on <= as_of]
    known = {e.key: e for e in fixed}
    # The order of one day's items must not depend on when they were written, or a rebuild
    # would order lots differently from the daily runs: derived credits sort by their key;
    # recorded debits (redemptions, adjustments, reversals) by the order they were made in, and
    # a new reversal after them (where it will sort once it is recorded).
    queue: list[tuple] = []  # (day, phase, rank, key, n, kind, payload)
    n = 0

    def push(day, phase, rank, key, kind, payload):
        nonlocal n
        n += 1
        heapq.heappush(queue, (day, phase, rank, key, n, kind, payload))

    for e in fixed:
        if e.kind == EXPIRE:
            continue  # applied when its lot's expiry day comes
        credit = e.kind == EARN or (e.kind == ADJUST and e.points > 0)
        rank = 0 if credit and e.derived else e.seq
        push(e.effective_on, _CREDIT if credit else _DEBIT, rank, e.key if rank == 0 else "", "fixed", e)
    for c in credits:
        if c.key not in known and c.on <= as_of and c.points > 0:
            push(c.on, _CREDIT, 0, c.key, "credit", c)
    for r in reversals:
        if r.key not in known and r.on <= as_of:
            push(r.on, _DEBIT, float("inf"), r.key, "reversal", r)

    lots: dict[str, Lot] = {}
    result = Result()

    def take(points: int, first: str | None = None) -> int:
        """Take up to `points` from the lots, `first`'s lot first, then oldest first."""
        order = ([lots[first]] if first in lots else []) + [lot for k, lot in lots.items() if k != first]
        taken = 0
        for lot in order:
            step = min(lot.remaining, points - taken)
            lot.remaining -= step
            taken += step
            if taken == points:
                break
        return taken

    while queue:
        day, phase, _, _, _, kind, item = heapq.heappop(queue)
        if kind == "expiry":
            lot = lots.pop(item)
            recorded = known.get(f"expire:{item}")
            amount = min(-recorded.points, lot.remaining) if recorded else lot.remaining
            if not recorded and amount > 0:
                result.new.append(Entry(f"expire:{item}", customer_id, EXPIRE, -amount, day,
                                        f"{amount} points earned on {lot.earned_on} expired", "expiry", item))
            lot.remaining -= amount
            continue
        if kind == "credit":
            entry = Entry(item.key, customer_id, EARN, item.points, item.on, item.reason, item.source,
                          item.source_id, expires_on=expires(item.on))
            result.new.append(entry)
            kind, item = "fixed", entry
        if kind == "fixed" and phase == _CREDIT:
            lots[item.key] = Lot(item.key, item.effective_on, item.expires_on, item.points)
            if item.expires_on is not None:
                if item.expires_on <= as_of:
                    push(item.expires_on, _EXPIRE, 0, item.key, "expiry", item.key)
            continue
        if kind == "fixed":  # a recorded debit: redeem, reverse, negative adjustment
            first = item.key.removeprefix("reverse:") if item.kind == REVERSE else None
            take(-item.points, first)
            continue
        # A new reversal: take back the order's points, no more than the customer still has.
        credit = known.get(item.credit_key) or next((e for e in result.new if e.key == item.credit_key), None)
        if credit is None:
            continue  # never earned: nothing to take back
        amount = take(credit.points, item.credit_key)
        short = credit.points - amount
        reason = item.reason + (f"; {short} of its {credit.points} points were already spent or expired"
                                if short else "")
        result.new.append(Entry(item.key, customer_id, REVERSE, -amount, day, reason, "order", item.source_id))
    result.lots = [lot for lot in lots.values() if lot.remaining > 0]
    return result
