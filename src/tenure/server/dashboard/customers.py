"""Segments, their members (paged, or all as CSV) and one customer's page."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from tenure.server import reads
from tenure.server.auth import current_user
from tenure.server.dashboard.web import Page, error_page, guarded

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
TITLES = {"lifecycle": "Lifecycle stage", "rf": "RF rung", "rfm_segment": "RFM segment", "churn_risk": "Churn risk",
          "tier": "Spend tier", "membership": "Paid membership"}
BUILT_IN = (("lifecycle", "Lifecycle stage"), ("rf", "RF ladder"), ("rfm", "RFM segment"),
            ("churn_risk", "Churn risk"))


def segmentations(ws) -> list[tuple[str, str]]:
    """(name, title) of every segmentation the workspace has, built-in first."""
    out = [(k, t) for k, t in BUILT_IN if k != "churn_risk" or ws.settings.clv.enabled]
    if ws.settings.loyalty.enabled:
        out += [("tier", TITLES["tier"]), ("membership", TITLES["membership"])]
    return out + [(name, f"Custom: {name}") for name in ws.settings.segments]


def stored(page: Page, as_of: dt.date | None) -> dt.date | None:
    """The snapshot day asked for (a TenureError naming the stored ones if it is not stored), else
    the latest; None when nothing is stored."""
    if not page.days:
        return None
    return reads.stored_day(page.ws, as_of)


def member_url(by: str, label: str, suffix: str = "") -> str:
    return f"/segments/{quote(by, safe='')}/{quote(label, safe='')}{suffix}"


@router.get("/segments", response_class=HTMLResponse)
@guarded
def segments(request: Request, by: str = Query("lifecycle", max_length=200), as_of: dt.date | None = None,
             user: dict = Depends(current_user)):
    from tenure.report_tables import segment_column

    page = Page(request, user)
    segment_column(page.ws, by)  # an unknown segmentation: the page says which there are
    day = stored(page, as_of)
    found = reads.segments(page.ws, by, day) if day else None
    rows = []
    if found:
        top = max((r["share"] for r in found["labels"]), default=0) or 1
        rows = [{**r, "url": member_url(by, r["label"]), "bar": r["share"] / top} for r in found["labels"]]
    return page.render("segments.html", by=by, choices=segmentations(page.ws), day=day, found=found, rows=rows)


@router.get("/segments/{by}/{label}.csv")
@guarded
def members_csv(request: Request, by: str = Path(..., max_length=200), label: str = Path(..., max_length=200),
                as_of: dt.date | None = None, user: dict = Depends(current_user)):
    """Every member, as the API's CSV (GET /v1/segments/{by}/{label}/customers?format=csv)."""
    import pandas as pd

    page = Page(request, user)
    day = stored(page, as_of)
    if day is None:
        return error_page(request, 404, "No snapshot yet", "Nothing is stored to export: run `tenure run` first.", user)
    found = reads.members(page.ws, by, label, as_of=day, page=1, page_size=None)
    buf = io.StringIO()
    columns = found.get("columns") or list(reads.MEMBER_COLUMNS)  # the snapshot's own, as the API writes
    pd.DataFrame(found["customers"], columns=columns).to_csv(buf, index=False)
    # A header is Latin-1 without control characters: only safe characters in the file name.
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{by}-{label}-{found['as_of']}") + ".csv"
    return Response(buf.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=\"{name}\"",
                             "Cache-Control": "no-store"})


@router.get("/segments/{by}/{label}", response_class=HTMLResponse)
@guarded
def members(request: Request, by: str = Path(..., max_length=200), label: str = Path(..., max_length=200),
            as_of: dt.date | None = None, page_no: int = Query(1, alias="page", ge=1, le=1_000_000),
            user: dict = Depends(current_user)):
    page = Page(request, user)
    day = stored(page, as_of)
    found = reads.members(page.ws, by, label, as_of=day, page=page_no, page_size=PAGE_SIZE) if day else None
    pages = max(1, math.ceil(found["total"] / PAGE_SIZE)) if found else 1
    base = member_url(by, label) + (f"?as_of={day.isoformat()}&" if as_of else "?")
    return page.render("members.html", by=by, label=label, day=day, found=found, page_no=page_no, pages=pages,
                       page_size=PAGE_SIZE,
                       page_url=lambda n: f"{base}page={n}",
                       csv_url=member_url(by, label, ".csv") + (f"?as_of={day.isoformat()}" if as_of else ""),
                       title=dict(segmentations(page.ws)).get(by, by))


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
@guarded
def customer(request: Request, customer_id: str = Path(..., min_length=1, max_length=200),
             user: dict = Depends(current_user)):
    from tenure.profile import profile

    page = Page(request, user)
    found = profile(page.ws, customer_id)
    if found is None:
        return error_page(request, 404, "No such customer",
                          f"No customer {customer_id!r} is in the warehouse, a stored snapshot or the campaign "
                          "store. Find customers through a segment's member list.", user)
    record = found["record"] or {}
    attributes = None
    if record.get("attributes"):
        import json

        try:
            attributes = json.loads(record["attributes"]) or None
        except ValueError:
            attributes = {"attributes": record["attributes"]}
    opened = {e["outbox_key"] for e in found["engagement"] if e["type"] == "open"}
    clicked = {e["outbox_key"] for e in found["engagement"] if e["type"] == "click"}
    stages, last = [], None  # the days the lifecycle stage changed (the first snapshot included)
    for h in found["label_history"]:
        if h["labels"].get("lifecycle") != last:
            last = h["labels"].get("lifecycle")
            stages.append({"as_of": h["as_of"], "lifecycle": last})
    charts = {}
    if found["orders"]:
        from tenure.server.dashboard.figures import order_timeline

        charts["chart-orders"] = order_timeline(found["orders"], stages, page.fmt.nums, as_of=found["as_of"])
    columns = list(found["labels"])
    return page.render("customer.html", c=found, record=record, attributes=attributes, feats=found["features"],
                       opened=opened, clicked=clicked, columns=columns, charts=charts,
                       titles=TITLES)
