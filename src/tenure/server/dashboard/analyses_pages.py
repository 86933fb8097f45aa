"""The analyses: cohorts (a retention heat table), the purchase funnel, stage flows (Sankey) and
revenue concentration (Pareto and the Lorenz curve). Charts are the report's own (tenure.report)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from tenure.server import reads
from tenure.server.auth import current_user
from tenure.server.dashboard.cache import analysis
from tenure.server.dashboard.web import Page, guarded

router = APIRouter(include_in_schema=False)
COHORTS_SHOWN = 24  # the latest cohorts by default: two years read at a glance
SHADES = 8          # heat classes h0..h8 in dashboard.css


def heat(value: float, top: float) -> int:
    return 0 if not top or value != value else min(SHADES, int(round(value / top * SHADES)))


def cohort_table(df: pd.DataFrame, shown: int | None) -> dict:
    later = df[df.month >= 1]
    cohorts = sorted(df.cohort.unique())
    if shown:
        cohorts = cohorts[-shown:]
    later = later[later.cohort.isin(cohorts)]
    months = list(range(1, int(later.month.max()) + 1)) if len(later) else []
    # The darkest shade from the 95th percentile up: a few tiny cohorts' 67% would wash out the rest.
    top = float(later.retention.quantile(0.95)) if len(later) else 0.0
    top = top or (float(later.retention.max()) if len(later) else 0.0)
    cell = {(r.cohort, int(r.month)): r for r in later.itertuples()}
    first = df[df.month == 0].set_index("cohort")
    rows = []
    for c in cohorts:
        cells = []
        for m in months:
            r = cell.get((c, m))
            cells.append(None if r is None else {"retention": r.retention, "buyers": r.active_customers,
                                                 "revenue": r.revenue, "shade": heat(r.retention, top)})
        size = int(first.cohort_size.get(c, df[df.cohort == c].cohort_size.max()))
        revenue = float(df[df.cohort == c].revenue.sum())
        rows.append({"cohort": c, "size": size, "revenue_per_customer": revenue / size if size else None,
                     "cells": cells})
    return {"months": months, "rows": rows, "top": top, "total": df.cohort.nunique()}


@router.get("/cohorts", response_class=HTMLResponse)
@guarded
def cohorts(request: Request, show: str = Query("recent", pattern="^(recent|all)$"),
            user: dict = Depends(current_user)):
    from tenure.report import readings

    page = Page(request, user)
    day = reads.default_day(page.ws, None)
    df = analysis(page.ws, "cohorts", as_of=day)
    table = cohort_table(df, None if show == "all" else COHORTS_SHOWN) if len(df) else None
    reading = readings.cohorts(df, page.fmt.nums) if table and table["months"] else None
    return page.render("cohorts.html", day=day, table=table, reading=reading, show=show)


@router.get("/funnel", response_class=HTMLResponse)
@guarded
def funnel(request: Request, user: dict = Depends(current_user)):
    from tenure.report import charts, readings

    page = Page(request, user)
    nums = page.fmt.nums
    day = reads.default_day(page.ws, None)
    df = analysis(page.ws, "funnel", as_of=day)
    buyers = int(df[df.step_number == 1].customers.sum()) if len(df) else 0
    figures, reading, by_channel, steps = {}, None, [], []
    if buyers:
        figures["chart-funnel"] = charts.funnel_bars(df, nums)
        reading = readings.funnel(df, nums)
        ch = analysis(page.ws, "funnel", as_of=day, by="channel")
        steps = list(df.step)
        for name, g in ch.groupby("channel", dropna=False, sort=False):
            g = g.set_index("step")
            by_channel.append({"channel": "(unknown)" if name != name or name is None else name,
                               "cells": [(g.customers.get(s), g.overall.get(s)) for s in steps]})
        by_channel.sort(key=lambda r: -(r["cells"][0][0] or 0))
    return page.render("funnel.html", day=day, rows=df.to_dict("records") if buyers else [], reading=reading,
                       by_channel=by_channel, steps=steps, charts=figures)


@router.get("/flows", response_class=HTMLResponse)
@guarded
def flows(request: Request, start: dt.date | None = Query(None, alias="from"), end: dt.date | None = Query(None, alias="to"),
          user: dict = Depends(current_user)):
    from tenure.report import readings
    from tenure.report.charts_stages import stage_sankey
    from tenure.report_tables import transition_matrix

    page = Page(request, user)
    ws, nums = page.ws, page.fmt.nums
    if len(page.days) < 2:
        return page.render("flows.html", start=None, end=None, reading=None, matrix=None)
    start = reads.stored_day(ws, start) if start else page.days[-2]
    end = reads.stored_day(ws, end) if end else page.days[-1]
    if end <= start:
        return page.render("flows.html", start=start, end=end, reading=None, matrix=None,
                           problem="Pick a “to” day after the “from” day.")
    df = analysis(ws, "flows", start=start, end=end)
    froms, tos, cells = transition_matrix(ws, start=start, end=end, by="lifecycle")
    figures = {}
    if (df.from_label != df.to_label).any():
        figures["chart-flows"] = stage_sankey(df, start=start, end=end, labels=ws.settings.lifecycle.labels, nums=nums)
    matrix = {"froms": froms, "tos": tos, "cells": cells,
              "out": {f: sum(cells.get((f, t), 0) for t in tos) for f in froms},
              "into": {t: sum(cells.get((f, t), 0) for f in froms) for t in tos}}
    return page.render("flows.html", start=start, end=end, reading=readings.flows(df, start=start, end=end, nums=nums),
                       matrix=matrix, charts=figures)


@router.get("/pareto", response_class=HTMLResponse)
@guarded
def pareto(request: Request, user: dict = Depends(current_user)):
    from tenure.report import charts, readings

    page = Page(request, user)
    day = reads.default_day(page.ws, None)
    top = analysis(page.ws, "pareto", as_of=day)
    figures, reading = {}, None
    buyers = int(top.customers.max()) if len(top) else 0
    if buyers >= 2:
        lorenz = analysis(page.ws, "lorenz", as_of=day)
        figures["chart-pareto"] = charts.concentration_curve(lorenz, top, page.fmt.nums)
        reading = readings.pareto(top, page.fmt.nums)
    return page.render("pareto.html", day=day, rows=top.to_dict("records") if buyers >= 2 else [], reading=reading,
                       charts=figures)
