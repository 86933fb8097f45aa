"""The report's Loyalty section (only when `[loyalty]` is enabled), and the figures, rows, chart
and readings the dashboard's Loyalty page shows the same way.

`figures` executes the measures of tenure.analytics.loyalty_measures (members against
non-members, their cohort retention, the tiers) for one day's snapshot and reads the points
liability from the ledger; everything else here only formats (docs/report.md, "Loyalty").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from tenure.analytics.loyalty_measures import (MEMBERS, NEAR_NEXT_TIER, NON_MEMBERS, WINDOW_DAYS,
                                               member_cohort_retention, member_comparison, member_groups,
                                               membership_mix, tier_table)
from tenure.report.charts import MUTED, OKABE_ITO, PCT, TIPS, axis, figure, num, tip
from tenure.report.fmt import Numbers

COLOURS = {MEMBERS: OKABE_ITO["blue"], NON_MEMBERS: OKABE_ITO["orange"]}
CHART_ID = "chart-loyalty-retention"
RETENTION_TITLE = "Do members come back more? Share of buyers who buy again in each month after their first purchase"


@dataclass(frozen=True)
class LoyaltyFigures:
    as_of: dt.date
    comparison: pd.DataFrame | None = None   # member_comparison: one row per group
    retention: pd.DataFrame | None = None    # member_cohort_retention
    tiers: pd.DataFrame | None = None        # tier_table
    mix: pd.DataFrame | None = None          # membership_mix
    liability: dict | None = None            # ledger.liability; None: no operational store yet
    problem: str = ""                        # why there is nothing to show, in one sentence

    def group(self, name: str):
        return self.comparison.set_index("group").loc[name]


def figures(ws, *, as_of: dt.date, snapshot, backend: str | None = None, liability: bool = True) -> LoyaltyFigures:
    """The loyalty figures of `as_of`, from its snapshot (an Ibis table), the warehouse and (unless
    `liability` is off: the dashboard reads it on its own) the ledger."""
    from tenure.warehouse.backends import analytics_tables, frame_table

    missing = {"tier", "spend_to_next_tier", "membership", "membership_plan"} - set(snapshot.columns)
    if missing:
        return LoyaltyFigures(as_of, problem=(
            f"The snapshot of {as_of.isoformat()} has no loyalty columns ({', '.join(sorted(missing))}): it was "
            f"stored before the loyalty programme was enabled. Run `tenure run --as-of {as_of.isoformat()}` "
            "again to store it with tiers and memberships."))
    loyalty = ws.settings.loyalty
    tables = analytics_tables(ws, backend)
    groups = frame_table(tables.orders, member_groups(snapshot).to_pandas())
    return LoyaltyFigures(
        as_of,
        comparison=member_comparison(tables, groups, as_of=as_of).execute(),
        retention=member_cohort_retention(tables, groups, as_of=as_of).execute(),
        tiers=tier_table(snapshot, loyalty=loyalty).execute(),
        mix=membership_mix(snapshot).execute(),
        liability=points_liability(ws, as_of) if liability else None)


def points_liability(ws, as_of: dt.date) -> dict | None:
    """ledger.liability on `as_of`; None when the workspace has no operational store yet (a
    report never creates one just to look)."""
    from tenure.campaigns.runner import store_in_use
    from tenure.loyalty.views import liability

    if not store_in_use(ws):
        return None
    return liability(ws, as_of)


# -- formatted for the page -------------------------------------------------------------------
def _count(mix: pd.DataFrame, status: str) -> int:
    return int(mix[mix.membership == status].customers.sum())


def _pct(x, nums: Numbers) -> str:
    return "–" if x is None or x != x else nums.percent(float(x), 1, fixed=True)


def _money(x, nums: Numbers) -> str:
    return "–" if x is None or x != x else nums.money(float(x))


def _points_change(ours: float | None, theirs: float | None, base: str, nums: Numbers) -> str:
    if ours is None or theirs is None:
        return f"no buyer among {base} to compare with" if ours is not None else "no buyer to compare"
    diff = ours - theirs
    shown = nums.decimal(abs(diff) * 100, 1)
    if shown in ("0", "0.0"):
        return f"the same as {base}"
    return f"{'▲ +' if diff > 0 else '▼ −'}{shown} pts vs {base}"


def tiles(figs: LoyaltyFigures, nums: Numbers) -> list[dict]:
    """The headline: members, non-members, their repeat rates, the points liability, what expires soon."""
    m, n = figs.group(MEMBERS), figs.group(NON_MEMBERS)
    total = int(m.customers + n.customers) or 1
    paying, cancelled, lapsed = (_count(figs.mix, s) for s in ("member", "cancelled", "lapsed"))
    rate_m = None if m.repeat_rate != m.repeat_rate else float(m.repeat_rate)
    rate_n = None if n.repeat_rate != n.repeat_rate else float(n.repeat_rate)
    out = [
        {"label": "Members", "value": nums.int(m.customers),
         "change": f"{nums.percent(m.customers / total, 1)} of customers",
         "note": f"{nums.int(paying)} paying, {nums.int(cancelled)} cancelled but still in their paid period"},
        {"label": "Non-members", "value": nums.int(n.customers),
         "change": f"{nums.percent(n.customers / total, 1)} of customers",
         "note": f"{nums.int(lapsed)} of them lapsed members; the rest never paid"},
        {"label": "Repeat rate, members", "value": _pct(rate_m, nums),
         "change": _points_change(rate_m, rate_n, "non-members", nums),
         "note": f"of the {nums.int(m.buyers)} members who bought in the last {WINDOW_DAYS} days, "
                 "two orders or more"},
        {"label": "Repeat rate, non-members", "value": _pct(rate_n, nums),
         "change": f"{nums.int(n.repeat_buyers)} of {nums.int(n.buyers)} buyers",
         "note": f"of non-members who bought in the last {WINDOW_DAYS} days, two orders or more"},
    ]
    li = figs.liability
    if li is None:
        out += [{"label": "Points liability", "value": nums.money(0),
                 "change": "no points ledger yet", "note": "`tenure run` accrues points once the programme is on"},
                {"label": "Expiring in 30 days", "value": "0", "change": "", "note": "points"}]
        return out
    value = li["point_value"]
    out += [
        {"label": "Points liability", "value": nums.money(li["value"], cents=True),
         "change": f"{nums.int(li['outstanding_points'])} points outstanding",
         "note": f"held by {nums.int(li['customers_with_points'])} customers, at "
                 f"{nums.money(value, cents=True)} a point"},
        {"label": "Expiring in 30 days", "value": f"{nums.int(li['expiring_30d'])} points",
         "change": f"worth {nums.money(li['expiring_30d_value'], cents=True)}",
         "note": f"expire by {nums.date(figs.as_of + dt.timedelta(days=30))} unless spent first"},
    ]
    return out


def comparison_rows(figs: LoyaltyFigures, nums: Numbers) -> list[dict]:
    """Members and non-members side by side, over the last WINDOW_DAYS days."""
    m, n = figs.group(MEMBERS), figs.group(NON_MEMBERS)
    money = lambda x: _money(x, nums)  # noqa: E731
    ratio = lambda x: "–" if x != x else nums.decimal(float(x), 2)  # noqa: E731
    rows = [
        ("Customers", "on the day", lambda g: nums.int(g.customers)),
        ("Buyers", f"bought in the last {WINDOW_DAYS} days", lambda g: nums.int(g.buyers)),
        ("Repeat rate", "buyers with two orders or more", lambda g: _pct(g.repeat_rate, nums)),
        ("Orders per buyer", "", lambda g: ratio(g.orders_per_buyer)),
        ("Average order value", "spend ÷ orders", lambda g: money(g.average_order_value)),
        ("Spend per buyer", "", lambda g: money(g.spend_per_buyer)),
        ("Spend per customer", "buyers or not", lambda g: money(g.spend_per_customer)),
        ("Spend", f"completed orders, last {WINDOW_DAYS} days", lambda g: money(g.spend)),
    ]
    return [{"label": label, "meaning": meaning, "members": cell(m), "non_members": cell(n)}
            for label, meaning, cell in rows]


def tier_rows(figs: LoyaltyFigures, nums: Numbers) -> list[dict]:
    out = []
    for r in figs.tiers.itertuples():
        known = r.min_spend == r.min_spend
        nxt = r.next_tier if isinstance(r.next_tier, str) else None
        if nxt is None:
            near = "top tier" if known else "–"
        else:
            near = f"{nums.int(r.near_next)} ({_pct(r.near_next_share, nums)})"
        threshold = f"from {nums.money(r.min_spend, cents=False)}" if known else "not in the settings"
        out.append({"tier": r.tier, "threshold": threshold,
                    "customers": nums.int(r.customers), "share": _pct(r.share, nums), "members": nums.int(r.members),
                    "spend_365": nums.money(r.spend_365), "per_customer": _money(r.spend_365_per_customer, nums),
                    "next_tier": nxt, "near": near, "empty": r.customers == 0})
    return out


def comparison_reading(figs: LoyaltyFigures, nums: Numbers) -> str:
    m, n = figs.group(MEMBERS), figs.group(NON_MEMBERS)
    if not m.buyers or not n.buyers:
        who = "members" if not m.buyers else "non-members"
        return f"No {who} bought in the last {WINDOW_DAYS} days, so there is nothing to compare yet."
    return (f"Over the last {WINDOW_DAYS} days, members who bought placed {nums.decimal(m.orders_per_buyer, 1)} "
            f"orders each against {nums.decimal(n.orders_per_buyer, 1)} for non-members, and spent "
            f"{nums.money(m.spend_per_buyer)} a buyer against {nums.money(n.spend_per_buyer)}.")


def tier_reading(figs: LoyaltyFigures, loyalty, nums: Numbers) -> str:
    t = figs.tiers
    total = int(t.customers.sum())
    if not total:
        return "No customer is known on this day."
    biggest = t.sort_values("customers", ascending=False).iloc[0]
    text = f"{nums.percent(biggest.customers / total)} of customers are in {biggest.tier}"
    close = [r for r in t.itertuples() if isinstance(r.next_tier, str) and r.near_next]
    mins = {x.name: x.min_spend for x in loyalty.tiers}
    if close:
        parts = [f"{nums.int(r.near_next)} in {r.tier} (to {r.next_tier} at {nums.money(mins[r.next_tier])})"
                 for r in close]
        text += (f"; {', '.join(parts)} need less than {nums.percent(NEAR_NEXT_TIER)} of the next tier's "
                 "threshold to reach it")
    else:
        text += f"; nobody is within {nums.percent(NEAR_NEXT_TIER)} of the next tier's threshold"
    return text + "."


def retention_reading(df: pd.DataFrame, as_of: dt.date, nums: Numbers) -> str:
    def at(group: str, month: int):
        row = df[(df.group == group) & (df.month == month)]
        return None if row.empty else float(row.retention.iloc[0])

    first_m, first_n = at(MEMBERS, 1), at(NON_MEMBERS, 1)
    text = (f"In the month after their first purchase, {nums.percent(first_m)} of members bought again "
            f"against {nums.percent(first_n)} of non-members")
    late = max((m for m in (12, 6, 3) if at(MEMBERS, m) is not None and at(NON_MEMBERS, m) is not None), default=None)
    if late:
        text += f"; {late} months on, {nums.percent(at(MEMBERS, late))} against {nums.percent(at(NON_MEMBERS, late))}"
    return (text + f". Membership is that of {nums.date(as_of)}: the gap describes today's members, "
            "it does not measure what membership did.")


def retention_chart(df: pd.DataFrame, nums: Numbers) -> dict:
    """Share of each group's buyers who bought in month 1..N after their first purchase (pooled
    over cohorts): members a solid blue line with circles, non-members a dashed orange one with
    diamonds, each named at its end, so that colour is not the only cue."""
    months = sorted(int(m) for m in df.month.unique())
    series = []
    for name, symbol, dash in ((MEMBERS, "circle", "solid"), (NON_MEMBERS, "diamond", "dashed")):
        g = df[df.group == name].set_index("month")
        data = []
        for m in months:
            if m not in g.index:
                data.append(None)
                continue
            r = g.loc[m]
            data.append({"value": num(r.retention),
                         "tip": tip(f"{name}, month {m}: {nums.percent(r.retention, 1)} bought",
                                    f"{nums.int(r.active_customers)} of {nums.int(r.customers)} buyers "
                                    f"({nums.int(r.cohorts)} cohorts)")})
        colour = COLOURS[name]
        series.append({"type": "line", "name": name, "data": data, "symbol": symbol, "symbolSize": 8,
                       "connectNulls": False, "lineStyle": {"color": colour, "width": 2.5, "type": dash},
                       "itemStyle": {"color": colour},
                       "endLabel": {"show": True, "formatter": name, "color": colour, "fontSize": 13,
                                    "fontWeight": "bold"}})
    return figure(
        height=340, grid={"bottom": 30, "right": 110, "top": 24},
        tooltip={**figure()["option"]["tooltip"], "trigger": "axis", "formatter": TIPS,
                 "axisPointer": {"type": "line", "lineStyle": {"color": MUTED}}},
        xAxis=axis("months since the first purchase", "category", data=[str(m) for m in months],
                   boundaryGap=False, splitLine={"show": False}, nameGap=28),
        yAxis=axis("share who bought that month", formatter=PCT, min=0, nameGap=44),
        series=series)


def retention_part(figs: LoyaltyFigures, nums: Numbers) -> tuple[dict | None, str, str]:
    """(chart, reading, message): the chart and its reading, or why there is none."""
    df = figs.retention
    groups = set(df.group) if df is not None else set()
    if MEMBERS not in groups or NON_MEMBERS not in groups:
        who = "member" if MEMBERS not in groups else "non-member"
        return None, "", (
            f"No {who} has bought in a month that is over by {nums.date(figs.as_of)}, so retention cannot be "
            "compared. Members are customers with a paid membership on the day (membership `member` or "
            "`cancelled`), from the events named in [loyalty.membership_events].")
    return retention_chart(df, nums), retention_reading(df, figs.as_of, nums), ""


def section(ws, *, as_of: dt.date, backend: str | None, snap, nums: Numbers) -> dict:
    """The report's Loyalty section: tiles, the comparison and tier tables (loyalty.html.j2) and
    the retention chart (the page's chart loop)."""
    from tenure.report.sections import chart

    figs = figures(ws, as_of=as_of, snapshot=snap, backend=backend)
    if figs.problem:
        return {"key": "loyalty", "title": "Loyalty",
                "charts": [chart("loyalty-retention", "Members and non-members", message=figs.problem)]}
    figure_, reading, message = retention_part(figs, nums)
    return {
        "key": "loyalty", "title": "Loyalty", "template": "loyalty.html.j2",
        "loyalty": {"tiles": tiles(figs, nums), "comparison": comparison_rows(figs, nums),
                    "comparison_reading": comparison_reading(figs, nums), "tiers": tier_rows(figs, nums),
                    "tier_reading": tier_reading(figs, ws.settings.loyalty, nums),
                    "near": nums.percent(NEAR_NEXT_TIER), "window": WINDOW_DAYS},
        "charts": [chart("loyalty-retention", RETENTION_TITLE, figure_, reading, message)],
    }
