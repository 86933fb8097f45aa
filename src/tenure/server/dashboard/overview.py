"""The overview: the report's headline figures and stage table for the latest snapshot, the stages
over the stored snapshots, and what needs a look today (moves, tasks, the last run)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from tenure.server import reads
from tenure.server.auth import current_user
from tenure.server.dashboard import cache
from tenure.server.dashboard.web import Page, guarded

router = APIRouter(include_in_schema=False)


def key_figures(ws, day):
    from tenure.report.figures import key_figures as compute
    from tenure.warehouse.backends import analytics_tables

    return cache.kept(ws, "key_figures", (day,),
                      lambda: compute(analytics_tables(ws), as_of=day, settings=ws.settings))


@router.get("/", response_class=HTMLResponse)
@guarded
def overview(request: Request, user: dict = Depends(current_user)):
    from tenure.campaigns.views import task_list
    from tenure.report import readings
    from tenure.report.charts_stages import stage_area
    from tenure.report.headline import tiles
    from tenure.report.stages import stage_rows

    page = Page(request, user)
    ws, nums = page.ws, page.fmt.nums
    last_run = reads.runs(ws.store, 1)
    open_tasks = len(task_list(ws, status="open"))
    if not page.days:
        return page.render("overview.html", tiles=[], stages=[], history=None, moves=None, last_run=last_run,
                           open_tasks=open_tasks, counts=ws.counts())
    labels = ws.settings.lifecycle.labels
    k = key_figures(ws, page.latest)
    history = moves = None
    charts = {}
    if len(page.days) >= 2:
        hist = cache.analysis(ws, "stage_history", by="lifecycle")
        charts["chart-history"] = stage_area(hist, labels=labels, nums=nums)
        history = readings.history(hist, active_label=labels["active"], nums=nums)
        start, end = page.days[-2], page.days[-1]
        moves = readings.flows(cache.analysis(ws, "flows", start=start, end=end), start=start, end=end, nums=nums)
    return page.render(
        "overview.html", tiles=tiles(k, nums) if k.now.customers else [],
        stages=stage_rows(k.now, labels, nums) if k.now.customers else [], history=history, moves=moves,
        last_run=last_run, open_tasks=open_tasks, counts=None, charts=charts)
