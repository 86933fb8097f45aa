"""The headline's key figures of a day, from the warehouse through Ibis. `as_of` is a parameter.

Definitions (docs/report.md):
- customers: customers known on the day (a `customers` row created by its end);
- buyers: customers with a completed order by the day;
- active share: the share of buyers whose lifecycle stage is new, active or reactivated, i.e.
  who bought within their purchase cycle;
- repeat rate: the share of buyers with purchases on two or more days;
- store cycle: the median interval between consecutive purchase days (lifecycle.md);
- revenue: the amount of completed orders of known customers (guest orders have no customer)
  on the last 30 and 365 days ending with the day.
Stock figures (customers, shares, cycle) are compared with the same figure 30 days earlier;
revenue with the period of equal length just before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import ibis

from tenure.analytics.features import Tables, end_of, features, purchases, store_cycle
from tenure.analytics.lifecycle import lifecycle

COMPARE_DAYS = 30
ACTIVE_STAGES = ("new", "active", "reactivated")


@dataclass(frozen=True)
class Stock:
    """The figures that describe the customer base on one day."""

    as_of: dt.date
    customers: int
    buyers: int
    repeaters: int
    active: int
    store_cycle_days: float
    repeat_intervals: int
    stages: dict[str, int] = field(default_factory=dict)   # lifecycle label -> customers
    spend: dict[str, float] = field(default_factory=dict)  # lifecycle label -> spend to date

    @property
    def active_share(self) -> float | None:
        return self.active / self.buyers if self.buyers else None

    @property
    def repeat_rate(self) -> float | None:
        return self.repeaters / self.buyers if self.buyers else None


@dataclass(frozen=True)
class KeyFigures:
    as_of: dt.date
    now: Stock
    before: Stock                      # COMPARE_DAYS earlier
    revenue: dict[int, tuple[float, float]]  # days -> (this period, the period before)
    first_order: dt.date | None       # the first completed order ever (even after as_of)
    last_order: dt.date | None        # the last completed order up to as_of
    cycle_fallback: bool


def stock(tables: Tables, *, as_of: dt.date, settings) -> Stock:
    f = features(tables, as_of=as_of, cycle=settings.cycle)
    f = f.mutate(stage=lifecycle(f, settings.lifecycle))
    by_stage = f.group_by("stage").aggregate(
        customers=f.count(), buyers=(f.purchase_days > 0).sum(), repeaters=(f.purchase_days >= 2).sum(),
        spend=f.spend.sum()).execute()
    cycle = store_cycle(tables, as_of, settings.cycle).execute().iloc[0]
    labels = settings.lifecycle.labels
    stages = {str(r.stage): int(r.customers) for r in by_stage.itertuples()}
    return Stock(
        as_of=as_of, customers=int(by_stage.customers.sum()), buyers=int(by_stage.buyers.sum()),
        repeaters=int(by_stage.repeaters.sum()),
        active=sum(stages.get(labels[k], 0) for k in ACTIVE_STAGES),
        store_cycle_days=float(cycle.store_cycle_days), repeat_intervals=int(cycle.repeat_intervals),
        stages=stages, spend={str(r.stage): float(r.spend) for r in by_stage.itertuples()})


def revenue_windows(tables: Tables, *, as_of: dt.date, periods=(30, 365)) -> ibis.Table:
    """One row: revenue_N and revenue_N_before for each period of N days ending with `as_of`."""
    p = purchases(tables, as_of)
    sums = {}
    for n in periods:
        start, earlier = (end_of(as_of - dt.timedelta(days=k * n)) for k in (1, 2))
        sums[f"revenue_{n}"] = p.amount.sum(where=p.ordered_at >= start)
        sums[f"revenue_{n}_before"] = p.amount.sum(where=(p.ordered_at >= earlier) & (p.ordered_at < start))
    return p.aggregate(**{k: ibis.coalesce(v.cast("float64"), 0.0) for k, v in sums.items()},
                       last_order=p.ordered_at.max().date())


def first_order(tables: Tables) -> ibis.Scalar:
    o = tables.orders
    done = o.filter(o.status == "completed", o.amount > 0, o.customer_id.notnull())
    return done.ordered_at.min().date()


def key_figures(tables: Tables, *, as_of: dt.date, settings, periods=(30, 365)) -> KeyFigures:
    now = stock(tables, as_of=as_of, settings=settings)
    before = stock(tables, as_of=as_of - dt.timedelta(days=COMPARE_DAYS), settings=settings)
    rev = revenue_windows(tables, as_of=as_of, periods=periods).execute().iloc[0]
    first = first_order(tables).execute()
    return KeyFigures(
        as_of=as_of, now=now, before=before,
        revenue={n: (float(rev[f"revenue_{n}"]), float(rev[f"revenue_{n}_before"])) for n in periods},
        first_order=_date(first), last_order=_date(rev.last_order),
        cycle_fallback=not settings.cycle.fixed_days and now.repeat_intervals == 0)


def _date(value) -> dt.date | None:
    if value is None or value != value:  # None, NaT
        return None
    return value.date() if hasattr(value, "date") and callable(value.date) else value
