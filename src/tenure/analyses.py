"""The analyses of a workspace as pandas DataFrames, for the CLI and the report. See docs/analyses.md.

Each function builds the pure Ibis expression of tenure.analytics and executes it here, at the edge.
Column order is fixed, and an empty workspace gives empty frames with those columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from tenure.errors import TenureError

COHORT_COLUMNS = ["cohort", "month", "cohort_size", "active_customers", "retention", "revenue",
                  "revenue_per_customer"]
FUNNEL_COLUMNS = ["step", "step_number", "customers", "conversion", "overall", "median_days"]
PARETO_COLUMNS = ["top_share", "customers", "revenue_share"]
LORENZ_COLUMNS = ["customer_share", "revenue_share"]
INTERVAL_COLUMNS = ["days", "intervals"]
BY_NUMBER_COLUMNS = ["purchase_number", "n", "intervals", "median_days", "mean_days"]
RFM_GRID_COLUMNS = ["r", "f", "customers", "revenue_share", "mean_m", "mean_spend"]
STAGE_COLUMNS = ["as_of", "label", "customers"]
FLOW_COLUMNS = ["from_label", "to_label", "customers"]
FUNNEL_BY = ("cohort", "channel")


@dataclass(frozen=True)
class Cycles:
    intervals: pd.DataFrame            # days, intervals
    by_purchase_number: pd.DataFrame   # purchase_number, n, intervals, median_days, mean_days
    store_cycle_days: float            # C as the lifecycle uses it (fixed or fallback included)
    median_days: float | None          # the pooled median interval; None without a repeat purchase


def _tables(ws, backend):
    from tenure.warehouse.backends import analytics_tables

    return analytics_tables(ws, backend)


def _frame(expr, columns: list[str]) -> pd.DataFrame:
    return expr.execute()[columns].reset_index(drop=True)


def cohorts(ws, *, as_of: dt.date | None = None, by_channel: bool = False, backend: str | None = None) -> pd.DataFrame:
    """Retention and revenue by first-purchase month (and acquisition channel) and month since."""
    from tenure.analytics.cohorts import cohort_retention

    expr = cohort_retention(_tables(ws, backend), as_of=as_of or ws.today(), by_channel=by_channel)
    return _frame(expr, [*COHORT_COLUMNS[:1], *(["channel"] if by_channel else []), *COHORT_COLUMNS[1:]])


def funnel(ws, *, as_of: dt.date | None = None, by: str | None = None, backend: str | None = None) -> pd.DataFrame:
    """Customers at lead, 1st, 2nd, 3rd and 4th+ purchase, overall or by cohort or channel."""
    from tenure.analytics.funnel import funnel as build

    if by is not None and by not in FUNNEL_BY:
        raise TenureError(f"--by {by!r} is not a funnel grouping", fix="use cohort or channel, or leave it out")
    expr = build(_tables(ws, backend), as_of=as_of or ws.today(), by=by)
    return _frame(expr, [*([by] if by else []), *FUNNEL_COLUMNS])


def pareto(ws, *, as_of: dt.date | None = None, backend: str | None = None) -> pd.DataFrame:
    """The share of revenue brought by the top 1, 5, 10, 20 and 50% of buyers."""
    from tenure.analytics.pareto import pareto as build

    return _frame(build(_tables(ws, backend), as_of=as_of or ws.today()), PARETO_COLUMNS)


def lorenz(ws, *, as_of: dt.date | None = None, backend: str | None = None, points: int = 100) -> pd.DataFrame:
    """The Lorenz curve of revenue over buyers, at points + 1 customer shares from 0 to 1."""
    from tenure.analytics.pareto import lorenz as build

    if points < 1:
        raise TenureError(f"points must be 1 or more, not {points}")
    return _frame(build(_tables(ws, backend), as_of=as_of or ws.today(), points=points), LORENZ_COLUMNS)


def cycles(ws, *, as_of: dt.date | None = None, backend: str | None = None) -> Cycles:
    """Intervals between consecutive purchase days: distribution, by purchase number, store cycle."""
    from tenure.analytics import cycles as c
    from tenure.analytics.features import store_cycle

    tables, day = _tables(ws, backend), as_of or ws.today()
    summary = c.interval_summary(tables, as_of=day).execute().iloc[0]
    cycle = store_cycle(tables, day, ws.settings.cycle).execute().iloc[0]
    median = summary.median_days
    return Cycles(
        intervals=_frame(c.interval_distribution(tables, as_of=day), INTERVAL_COLUMNS),
        by_purchase_number=_frame(c.cycle_by_purchase_number(tables, as_of=day), BY_NUMBER_COLUMNS),
        store_cycle_days=float(cycle.store_cycle_days),
        median_days=None if pd.isna(median) else float(median),
    )


def rfm_grid(ws, *, as_of: dt.date | None = None, snapshot=None) -> pd.DataFrame:
    """Buyers by R and F score, from `snapshot` if given, else the stored snapshot of as_of
    (computed when none is stored)."""
    from tenure.analytics.rfm_grid import rfm_grid as build

    day = as_of or ws.today()
    snap = snapshot if snapshot is not None else (
        ws.history.read(day) if day in ws.history.dates() else ws.snapshot(as_of=day))
    return _frame(build(snap), RFM_GRID_COLUMNS)


def stage_history(ws, *, by: str = "lifecycle") -> pd.DataFrame:
    """Customers by label in every stored snapshot: as_of, label, customers."""
    import ibis

    from tenure.analytics.transitions import as_label
    from tenure.report_tables import segment_column

    col = segment_column(ws, by)
    if not ws.history.dates():
        return pd.DataFrame({"as_of": pd.Series(dtype="datetime64[s]"), "label": pd.Series(dtype="str"),
                             "customers": pd.Series(dtype="int64")})
    t = ws.history.read_all()
    t = t.select(as_of=t.as_of.cast("date"), label=as_label(t[col]))
    g = t.group_by("as_of", "label").aggregate(customers=t.count().cast("int64"))
    return _frame(g.order_by("as_of", ibis.desc("customers"), "label"), STAGE_COLUMNS)


def flows(ws, *, start: dt.date, end: dt.date, by: str = "lifecycle") -> pd.DataFrame:
    """Customers by (label on start, label on end) from two stored snapshots; '(new)' when absent
    on start. Rows in the segmentation's order, zero cells left out."""
    from tenure.report_tables import transition_matrix

    if end <= start:
        raise TenureError(f"--to {end} is not after --from {start}", fix="give the earlier snapshot first")
    froms, tos, cells = transition_matrix(ws, start=start, end=end, by=by)
    rows = [(f, t, cells[(f, t)]) for f in froms for t in tos if cells.get((f, t))]
    return pd.DataFrame(rows, columns=FLOW_COLUMNS).astype({"customers": "int64"})
