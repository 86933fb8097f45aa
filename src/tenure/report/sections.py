"""The report's sections: each analysis of tenure.analyses as a chart and its reading, or a plain
sentence saying why there is no chart (never empty axes)."""

from __future__ import annotations

import datetime as dt

import ibis

from tenure import analyses
from tenure.report import charts, charts_stages, readings
from tenure.report.fmt import Numbers


def chart(key: str, title: str, figure: dict | None = None, reading: str = "", message: str = "") -> dict:
    return {"id": f"chart-{key}", "title": title, "figure": figure, "reading": reading, "message": message}


def sections(ws, *, as_of: dt.date, backend: str | None, nums: Numbers) -> list[dict]:
    snap = day_snapshot(ws, as_of=as_of, backend=backend)
    return [
        {"key": "stages", "title": "How the stages move", "charts": _stages(ws, as_of, nums)},
        {"key": "habits", "title": "Do customers come back?", "charts": _habits(ws, as_of, backend, nums)},
        {"key": "revenue", "title": "Who brings the revenue", "charts": _revenue(ws, as_of, backend, snap, nums)},
        {"key": "value", "title": "Customer value", "charts": _value(ws, snap, nums)},
        *([_loyalty(ws, as_of, backend, snap, nums)] if ws.settings.loyalty.enabled else []),
    ]


def _loyalty(ws, as_of: dt.date, backend: str | None, snap, nums: Numbers) -> dict:
    from tenure.report.loyalty import section

    return section(ws, as_of=as_of, backend=backend, snap=snap, nums=nums)


def day_snapshot(ws, *, as_of: dt.date, backend: str | None):
    """The stored snapshot of the day or, when none is stored, the snapshot computed once (features,
    segments, predictions) and held in memory: several charts read it."""
    if as_of in ws.history.dates():
        return ws.history.read(as_of)
    return ibis.memtable(ws.snapshot(as_of=as_of, backend=backend).to_pyarrow())


def _stages(ws, as_of: dt.date, nums: Numbers) -> list[dict]:
    labels = ws.settings.lifecycle.labels
    days = [d for d in ws.history.dates() if d <= as_of]
    fix = f"run `tenure run --as-of DAY` for more days, or `tenure backfill`"
    if not days:
        none = (f"No snapshot is stored on or before {nums.date(as_of)}, so there is no history of the "
                f"stages yet: {fix}.")
        return [chart("history", "Customers by stage over time", message=none)]
    if len(days) == 1:
        one = (f"Only one snapshot is stored ({nums.date(days[0])}): the history and the flows between "
               f"stages need two or more; {fix}.")
        return [chart("history", "Customers by stage over time", message=one)]
    hist = analyses.stage_history(ws)
    hist = hist[hist.as_of.dt.date <= as_of]
    start, end = days[-2], days[-1]
    flows = analyses.flows(ws, start=start, end=end)
    return [
        chart("history", f"Customers by stage over {len(days)} snapshots",
              charts_stages.stage_area(hist, labels=labels, nums=nums),
              readings.history(hist, active_label=labels["active"], nums=nums)),
        chart("flows", "Who changed stage between the two latest snapshots",
              charts_stages.stage_sankey(flows, start=start, end=end, labels=labels, nums=nums),
              readings.flows(flows, start=start, end=end, nums=nums)),
    ]


def _habits(ws, as_of: dt.date, backend: str | None, nums: Numbers) -> list[dict]:
    funnel = analyses.funnel(ws, as_of=as_of, backend=backend)
    cohorts = analyses.cohorts(ws, as_of=as_of, backend=backend)
    cyc = analyses.cycles(ws, as_of=as_of, backend=backend)
    out = [chart("funnel", "From lead to regular: customers by purchase", charts.funnel_bars(funnel, nums),
                 readings.funnel(funnel, nums))]
    if cohorts.month.max() >= 1:
        out.append(chart("cohorts", "Retention by monthly cohort: share who buy in each later month",
                         charts.cohort_heatmap(cohorts, nums), readings.cohorts(cohorts, nums)))
    else:
        out.append(chart("cohorts", "Retention by monthly cohort",
                         message="Every customer first bought this month: retention shows from the month after."))
    if cyc.intervals.empty:
        out.append(chart("cycle", "The purchase cycle", message=(
            f"No customer has bought on two different days by {nums.date(as_of)}, so there is no interval "
            f"to show; the store cycle is the fallback of {nums.days(cyc.store_cycle_days)} (cycle.fallback_days).")))
        return out
    fixed = bool(ws.settings.cycle.fixed_days)
    kw = {"store_cycle": cyc.store_cycle_days, "median": cyc.median_days, "nums": nums}
    out.append(chart("cycle", "The purchase cycle: days between two purchases",
                     charts.cycle_histogram(cyc.intervals, fixed=fixed, **kw),
                     readings.cycles(cyc.intervals, fixed=fixed, **kw)))
    out.append(chart("cycle-by-number", "Days to each next purchase",
                     charts.cycle_by_number(cyc.by_purchase_number, nums),
                     readings.by_purchase_number(cyc.by_purchase_number, nums)))
    return out


def _revenue(ws, as_of: dt.date, backend: str | None, snap, nums: Numbers) -> list[dict]:
    pareto = analyses.pareto(ws, as_of=as_of, backend=backend)
    lorenz = analyses.lorenz(ws, as_of=as_of, backend=backend)
    grid = analyses.rfm_grid(ws, as_of=as_of, snapshot=snap)
    return [
        chart("pareto", "Revenue concentration: how much the best buyers bring",
              charts.concentration_curve(lorenz, pareto, nums), readings.pareto(pareto, nums)),
        chart("rfm", "RFM grid: buyers by recency and frequency score", charts.rfm_heatmap(grid, nums),
              readings.rfm(grid, nums)),
    ]


def _value(ws, snap, nums: Numbers) -> list[dict]:
    if "clv_365d" not in snap.columns:
        return [chart("clv", "Expected revenue of the next 365 days", message=(
            "This snapshot has no customer-value forecast (no clv_365d column), so expected revenue "
            "is not shown."))]
    labels = ws.settings.lifecycle.labels
    by_stage = snap.group_by(label=snap.lifecycle).aggregate(
        clv=snap.clv_365d.sum().cast("float64"), customers=snap.count()).execute()
    order = {label: i for i, label in enumerate(labels.values())}
    by_stage = by_stage.assign(clv=by_stage.clv.fillna(0.0)).sort_values(
        "label", key=lambda s: s.map(lambda x: order.get(x, 99)))
    buyers = snap.filter(snap.orders > 0, snap.clv_365d.notnull())
    v = buyers.clv_365d.cast("float64")
    stats = buyers.aggregate(n=buyers.count(), cut=v.quantile(0.99), mid=v.median(),
                             top=v.max()).execute().iloc[0]
    if not stats.n:
        return [chart("clv", "Expected revenue of the next 365 days", message=(
            "On this day the customer-value models could not be fitted (too few customers or repeat "
            "buyers; `tenure clv fit --as-of DAY` says why), so expected revenue is not shown."))]
    if not (stats.top or 0) > 0:
        return [chart("clv", "Expected revenue of the next 365 days",
                      message="No buyer has a positive expected spend over the next 365 days.")]
    cut = float(stats.cut) if stats.cut and stats.cut > 0 else float(stats.top)
    width = cut / 40
    kept = buyers.filter(v <= cut)
    kv = kept.clv_365d.cast("float64")
    bins = kept.group_by(bin=(kv / width).floor().cast("int64").clip(upper=39)).aggregate(
        buyers=ibis._.count()).execute()
    return [
        chart("clv", "Expected spend of each buyer over the next 365 days",
              charts_stages.clv_histogram(bins, width=width, nums=nums),
              readings.clv_spread(median=float(stats.mid), p99=cut, nums=nums)),
        chart("clv-by-stage", "Expected revenue of the next 365 days by stage",
              charts_stages.clv_by_stage(by_stage, labels=labels, nums=nums),
              readings.clv(by_stage, active_label=labels["active"], nums=nums)),
    ]
