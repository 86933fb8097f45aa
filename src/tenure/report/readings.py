"""The one-line reading under each chart: what the chart says, in words and the shop's numbers.

Each function takes the same data as its chart and returns one sentence (docs/report.md says
how they are worded: the figure first, then what it means; no judgement the data cannot carry).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tenure.analytics.transitions import NEW
from tenure.report.fmt import Numbers


def funnel(df: pd.DataFrame, nums: Numbers) -> str:
    by_step = {int(r.step_number): r for r in df.itertuples()}
    first, second = by_step.get(1), by_step.get(2)
    if first is None or not first.customers:
        return "No customer has bought yet."
    if second is None or not second.customers:
        return f"None of the {nums.int(first.customers)} first-time buyers has bought a second time yet."
    never = 1 - second.customers / first.customers
    text = f"{nums.percent(never)} of first-time buyers have not bought a second time"
    if second.median_days == second.median_days:
        text += f"; the second purchase takes a median {nums.days(second.median_days)}"
    third = by_step.get(3)
    if third is not None and third.customers and third.conversion == third.conversion:
        text += f", and {nums.percent(third.conversion)} of second-time buyers go on to a third"
    return text + "."


def cohorts(df: pd.DataFrame, nums: Numbers) -> str:
    def retained(month: int) -> float | None:
        rows = df[df.month == month]
        size = rows.cohort_size.sum()
        return rows.active_customers.sum() / size if size else None

    first = retained(1)
    if first is None:
        return "Every cohort is still in its first month: retention shows from the month after."
    text = (f"In the month after their first purchase, {nums.percent(first)} of customers buy again "
            "(all cohorts, weighted by size)")
    year = retained(12)
    if year is not None:
        text += f"; twelve months on, {nums.percent(year)} still buy in a month"
    return text + "."


def pareto(df: pd.DataFrame, nums: Numbers) -> str:
    share = dict(zip(df.top_share.round(4), df.revenue_share))
    parts = [f"The top {nums.percent(q)} of buyers bring {nums.percent(share[q])} of revenue"
             for q in (0.2, 0.01) if q in share]
    if not parts:
        return "Too few buyers to rank by revenue."
    if len(parts) == 2:
        return f"{parts[0]}; the top 1% alone bring {nums.percent(share[0.01])}."
    return parts[0] + "."


def cycles(intervals: pd.DataFrame, *, store_cycle: float, median: float | None, fixed: bool,
           nums: Numbers) -> str:
    total = intervals.intervals.sum()
    cum = intervals.sort_values("days").assign(c=lambda d: d.intervals.cumsum() / total)
    p90 = int(cum.days[cum.c >= 0.9].iloc[0])
    half = f"half of repeat purchases come within {nums.days(median)} of the previous one"
    if fixed:
        return (f"The store cycle is fixed at {nums.days(store_cycle)} (cycle.fixed_days); {half}, "
                f"and 90% within {nums.days(p90)}.")
    return f"{half[0].upper()}{half[1:]} (the store cycle); 90% come within {nums.days(p90)}."


def by_purchase_number(df: pd.DataFrame, nums: Numbers) -> str:
    rows = list(df.itertuples())
    first = rows[0]
    text = f"The {first.purchase_number} purchase comes a median {nums.days(first.median_days)} after the one before"
    if len(rows) > 1:
        last = rows[-1]
        trend = "sooner" if last.median_days < first.median_days else "later"
        text += (f"; the {last.purchase_number} a median {nums.days(last.median_days)}: later purchases "
                 f"come {trend}" if last.median_days != first.median_days
                 else f"; the {last.purchase_number} too")
    return text + "."


def rfm(df: pd.DataFrame, nums: Numbers) -> str:
    total = df.customers.sum()
    best = df[(df.r >= 4) & (df.f >= 4)]
    gone = df[df.r <= 2]
    return (f"Recent, frequent buyers (R 4–5, F 4–5) are {nums.percent(best.customers.sum() / total)} of buyers "
            f"and bring {nums.percent(best.revenue_share.sum())} of revenue; "
            f"{nums.percent(gone.customers.sum() / total)} of buyers (R 1–2) have been away the longest.")


def flows(df: pd.DataFrame, *, start: dt.date, end: dt.date, nums: Numbers) -> str:
    known = df[df.from_label != NEW]
    moved = known[known.from_label != known.to_label]
    arrived = int(df[df.from_label == NEW].customers.sum())
    n_moved, n_known = moved.customers.sum(), known.customers.sum()
    text = (f"Between {nums.date(start)} and {nums.date(end)}, {nums.int(n_moved)} of {nums.int(n_known)} "
            f"customers ({nums.percent(_ratio(n_moved, n_known))}) changed stage and {nums.int(arrived)} new "
            "customers arrived")
    if len(moved):
        top = moved.sort_values("customers", ascending=False).iloc[0]
        text += f"; the largest move was from {top.from_label} to {top.to_label} ({nums.int(top.customers)})"
    return text + "."


def history(df: pd.DataFrame, *, active_label: str, nums: Numbers) -> str:
    days = sorted(df.as_of.unique())
    first, last = days[0], days[-1]
    at = lambda day: df[df.as_of == day]  # noqa: E731
    a0 = int(at(first)[at(first).label == active_label].customers.sum())
    a1 = int(at(last)[at(last).label == active_label].customers.sum())
    now = at(last).sort_values("customers", ascending=False).iloc[0]
    change = f" ({'+' if a1 >= a0 else '−'}{nums.percent(abs(a1 - a0) / a0)})" if a0 else ""
    return (f"From {nums.date(pd.Timestamp(first).date())} to {nums.date(pd.Timestamp(last).date())}, "
            f"{active_label} customers went from {nums.int(a0)} to {nums.int(a1)}{change}; the largest stage "
            f"is now {now.label} ({nums.percent(now.customers / at(last).customers.sum())} of customers).")


def clv(by_stage: pd.DataFrame, *, active_label: str, nums: Numbers) -> str:
    total = float(by_stage.clv.sum())
    text = f"Customers are expected to spend {nums.money(total)} over the next 365 days"
    if total > 0:
        top = by_stage.sort_values("clv", ascending=False).iloc[0]
        active = float(by_stage[by_stage.label == active_label].clv.sum())
        text += f"; {active_label} customers account for {nums.percent(active / total)} of it"
        if top.label != active_label:
            text += f", {top.label} customers for {nums.percent(top.clv / total)}"
    return text + "."


def clv_spread(*, median: float, p99: float, nums: Numbers) -> str:
    return (f"The median buyer is expected to spend {nums.money(median, cents=True)} over the next 365 "
            f"days; the top 1% more than {nums.money(p99)}.")


def _ratio(a, b) -> float:
    return a / b if b else 0.0
