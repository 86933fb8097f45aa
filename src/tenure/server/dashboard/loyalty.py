"""The loyalty programme on the latest snapshot: members against non-members, the points
liability, the spend tiers (each opening its members) and the members' cohort retention. The
figures, rows and chart are the report's (tenure.report.loyalty)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from tenure.server.auth import current_user
from tenure.server.dashboard import cache
from tenure.server.dashboard.customers import member_url
from tenure.server.dashboard.web import Page, guarded

router = APIRouter(include_in_schema=False)
STATUSES = (("member", "paying, benefits on"), ("cancelled", "cancelled, benefits to the end of the paid period"),
            ("lapsed", "paid once, no longer"), ("none", "never paid"))


def loyalty_figures(ws, day):
    """The snapshot's and warehouse's figures, kept until they change, with the points liability."""
    from dataclasses import replace

    from tenure.report.loyalty import figures, points_liability

    kept = cache.kept(ws, "loyalty", (day,),
                      lambda: figures(ws, as_of=day, snapshot=ws.history.read(day), liability=False))
    # The liability is kept apart (tenure.loyalty.views): it changes with the ledger, not the warehouse.
    return replace(kept, liability=points_liability(ws, day)) if not kept.problem else kept


def membership_rows(mix) -> list[dict]:
    rows = []
    for status, meaning in STATUSES:
        part = mix[mix.membership == status]
        plans = [(p, int(n)) for p, n in zip(part.membership_plan, part.customers) if isinstance(p, str)]
        n = int(part.customers.sum())
        rows.append({"status": status, "meaning": meaning, "customers": n, "plans": plans,
                     "url": member_url("membership", status) if n else None})
    return rows


@router.get("/loyalty", response_class=HTMLResponse)
@guarded
def loyalty(request: Request, user: dict = Depends(current_user)):
    from tenure.report.loyalty import (CHART_ID, RETENTION_TITLE, comparison_reading, comparison_rows, retention_part,
                                       tier_reading, tier_rows, tiles)

    page = Page(request, user)
    ws, nums = page.ws, page.fmt.nums
    settings = ws.settings.loyalty
    if not settings.enabled or not page.days:
        return page.render("loyalty.html", enabled=settings.enabled, day=None, figs=None)
    day = page.latest
    figs = loyalty_figures(ws, day)
    if figs.problem:
        return page.render("loyalty.html", enabled=True, day=day, figs=figs)
    chart, reading, message = retention_part(figs, nums)
    tiers = [{**r, "url": member_url("tier", r["tier"]) if not r["empty"] else None} for r in tier_rows(figs, nums)]
    from tenure.analytics.loyalty_measures import NEAR_NEXT_TIER, WINDOW_DAYS

    return page.render(
        "loyalty.html", enabled=True, day=day, figs=figs, tiles=tiles(figs, nums),
        comparison=comparison_rows(figs, nums), comparison_reading=comparison_reading(figs, nums),
        members=membership_rows(figs.mix), tiers=tiers, tier_reading=tier_reading(figs, settings, nums),
        near=nums.percent(NEAR_NEXT_TIER), window=WINDOW_DAYS, retention_title=RETENTION_TITLE, reading=reading,
        message=message, charts={CHART_ID: chart} if chart else {})
