"""The REST API under /v1: ingest, read, operations and privacy. Every route needs an API key.

Errors are JSON `{"detail": "..."}`: 400 a request Tenure cannot serve as asked (the message
says what to change), 401 no or a bad key, 403 a key without the scope, 404 nothing there,
409 a run already going, 422 a body or parameter of the wrong shape, 503 the warehouse busy
with a write for a moment (retry after the Retry-After seconds).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tenure.ingest.inbox import MAX_BATCH, MAX_LINES
from tenure.server import reads
from tenure.server.auth import require

router = APIRouter(prefix="/v1")


class Problem(BaseModel):
    detail: str | list[Any]


def errors(*codes: int) -> dict:
    text = {400: "Not possible as asked: the message says what to change.", 401: "No API key, or an unknown one.",
            403: "The key's scope is too small.", 404: "Not found.", 409: "A run is already in progress.",
            503: "The warehouse is busy with a write: retry after Retry-After seconds."}
    return {c: {"model": Problem, "description": text[c]} for c in (401, 403, *codes)}


Scalar = str | int | float | bool | None


# -- ingest -------------------------------------------------------------------------------------------
class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str | int = Field(..., description="The shop's customer id.")
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    created_at: str | None = Field(None, description="ISO 8601; without a zone it is read in the workspace's.")
    consent_email: bool | str | None = None
    consent_sms: bool | str | None = None
    acquisition_channel: str | None = None
    timezone: str | None = Field(None, description="IANA time zone of the customer.")
    attributes: dict[str, Scalar] | None = Field(
        None, description="Anything else, kept as the customer's attributes. Names starting with `_` "
        "and `file_row_number` are reserved for the ingest's own columns.")

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: dict | None) -> dict | None:
        # The ingest reads a batch as a Parquet file: a column `_row` would replace its row numbers
        # (rows lost without a word), `file_row_number` makes the file unreadable, and other `_`
        # columns are dropped as internal. Refused here, with the name, rather than lost there.
        for name in value or {}:
            if name.startswith("_") or name.lower() == "file_row_number":
                raise ValueError(f"attribute name {name!r} is reserved (a leading _ or file_row_number): rename it")
        return value


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line: int | None = Field(None, description="1-based line number; default the line's place in `lines`.")
    sku: str | int | None = Field(None, description="Product code.")
    name: str | None = Field(None, description="Product name.")
    quantity: float | str
    unit_price: float | str = Field(..., description="Price of one unit, in the order's currency.")


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str | int
    customer_id: str | int | None = Field(None, description="Empty for a guest order.")
    ordered_at: str = Field(..., description="ISO 8601; without a zone it is read in the workspace's.")
    status: str | None = Field(None, description="completed (default), cancelled or returned; common synonyms too.")
    amount: float | str = Field(..., description="Order value in `currency`.")
    currency: str | None = Field(None, description="ISO 4217; default workspace.currency.")
    channel: str | None = None
    lines: list[LineIn] | None = Field(None, max_length=MAX_LINES, description=(
        "The order's lines (products bought: the picks in messages read them). They arrive with "
        "their order as a unit, as an order_items export does: a bad line rejects its order."))


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str | int | None = Field(None, description="Unique id; derived from the content when absent.")
    customer_id: str | int
    occurred_at: str
    type: str = Field(..., description="lower_snake_case, e.g. site_visit, review, referral, email_open.")
    properties: dict[str, Any] | None = None


class CustomersBatch(BaseModel):
    items: list[CustomerIn] = Field(..., min_length=1, max_length=MAX_BATCH)


class OrdersBatch(BaseModel):
    items: list[OrderIn] = Field(..., min_length=1, max_length=MAX_BATCH)


class EventsBatch(BaseModel):
    items: list[EventIn] = Field(..., min_length=1, max_length=MAX_BATCH)


class Rejected(BaseModel):
    index: int = Field(..., description="0-based position of the item in `items`.")
    reason: str
    detail: str | None = None


class BatchOut(BaseModel):
    batch: str = Field(..., description="The batch's id, kept with its items.")
    received: int
    accepted: int = Field(..., description="Items stored for the next run (identical repeats included).")
    duplicates: int = Field(..., description="Accepted items identical to one already waiting: stored once.")
    rejected: list[Rejected] = Field(..., description="Items refused, with the file ingest's reason.")


def _receive(request: Request, entity: str, batch) -> BatchOut:
    from tenure.ingest import inbox

    ws = reads.workspace(request.app.state)
    items = [item.model_dump(exclude_none=True) for item in batch.items]
    result = inbox.receive(request.app.state.store, entity, items, now=ws.now(),
                           timezone=ws.settings.workspace.timezone, currency=ws.settings.workspace.currency)
    return BatchOut(batch=result.batch, received=result.received, accepted=result.accepted,
                    duplicates=result.duplicates, rejected=[Rejected(**r) for r in result.rejected])


_INGEST_DOC = (f"Up to {MAX_BATCH} items. Each is checked by the file ingest's rules now; good items are "
               "stored and reach the warehouse at the next run (`tenure run`, the schedule or POST /v1/runs), "
               "bad ones are reported by index and reason and the rest still land. Idempotent: an item "
               "posted again while it waits is stored once, and once loaded the warehouse's rules apply "
               "(an identical order is a re-delivery).")


@router.post("/customers", response_model=BatchOut, tags=["ingest"], responses=errors(400),
             summary="Post customers", description=_INGEST_DOC)
def post_customers(batch: CustomersBatch, request: Request, _key: dict = Depends(require("write"))) -> BatchOut:
    return _receive(request, "customers", batch)


@router.post("/orders", response_model=BatchOut, tags=["ingest"], responses=errors(400),
             summary="Post orders", description=_INGEST_DOC)
def post_orders(batch: OrdersBatch, request: Request, _key: dict = Depends(require("write"))) -> BatchOut:
    return _receive(request, "orders", batch)


@router.post("/events", response_model=BatchOut, tags=["ingest"], responses=errors(400),
             summary="Post engagement events", description=_INGEST_DOC)
def post_events(batch: EventsBatch, request: Request, _key: dict = Depends(require("write"))) -> BatchOut:
    return _receive(request, "events", batch)


# -- read -----------------------------------------------------------------------------------------
CustomerId = Path(..., min_length=1, max_length=200, description="The shop's customer id.")
AsOf = Query(None, description="A stored snapshot's day (YYYY-MM-DD); default the latest.")
By = Query("lifecycle", description="lifecycle, rf, rfm, churn_risk or a custom segment's name.")


class LabelChange(BaseModel):
    as_of: dt.date
    labels: dict[str, Any]


class Profile(BaseModel):
    customer_id: str
    record: dict[str, Any] | None = Field(..., description="The warehouse's customer row (contact facts).")
    as_of: dt.date | None = Field(..., description="The latest snapshot's day.")
    features: dict[str, Any]
    labels: dict[str, Any] = Field(..., description="Lifecycle, RF rung, RFM segment, churn risk, custom segments.")
    label_history: list[LabelChange] = Field(..., description="Snapshots where a label changed.")
    orders: list[dict[str, Any]] = Field(..., description="The latest 200 orders, newest first.")
    messages: list[dict[str, Any]] = []
    engagement: list[dict[str, Any]] = Field([], description="Opens, clicks and unsubscribes from tracked links.")
    consents: list[dict[str, Any]] = []
    suppressions: list[dict[str, Any]] = []


@router.get("/customers/{customer_id}", response_model=Profile, tags=["read"], responses=errors(404, 503),
            summary="A customer's profile")
def get_customer(request: Request, customer_id: str = CustomerId, _key: dict = Depends(require("read"))) -> Profile:
    from tenure.profile import profile

    found = profile(reads.workspace(request.app.state), customer_id)
    if found is None:
        raise HTTPException(404, f"no customer {customer_id!r}")
    return Profile(**found)


class SegmentRow(BaseModel):
    label: str
    customers: int
    share: float
    revenue_share: float
    median_days: float | None
    mean_orders: float


class Segments(BaseModel):
    segmentation: str
    as_of: dt.date
    total: int
    labels: list[SegmentRow]


@router.get("/segments", response_model=Segments, tags=["read"], responses=errors(400, 404, 503),
            summary="Customers by label of one segmentation")
def get_segments(request: Request, by: str = By, as_of: dt.date | None = AsOf,
                 _key: dict = Depends(require("read"))) -> Segments:
    return Segments(**reads.segments(reads.workspace(request.app.state), by, as_of))


class Members(BaseModel):
    segmentation: str
    label: str
    as_of: dt.date
    page: int
    page_size: int | None
    total: int = Field(..., description="Customers with the label (all pages).")
    customers: list[dict[str, Any]]


@router.get("/segments/{segmentation}/{label}/customers", tags=["read"], response_model=Members,
            responses={**errors(400, 404, 503), 200: {"content": {"text/csv": {}},
                                                       "description": "A page (JSON) or every member (CSV)."}},
            summary="The customers with a label (paged JSON, or CSV of all)")
def get_members(request: Request, segmentation: str = Path(..., max_length=200),
                label: str = Path(..., max_length=200), as_of: dt.date | None = AsOf,
                page: int = Query(1, ge=1, le=1_000_000), page_size: int | None = Query(None, ge=1, le=10_000),
                format: Literal["json", "csv"] = Query("json", description="csv: every member, no paging."),
                _key: dict = Depends(require("read"))):
    ws = reads.workspace(request.app.state)
    if format == "csv":
        found = reads.members(ws, segmentation, label, as_of=as_of, page=1, page_size=None)
        import pandas as pd

        buf = io.StringIO()
        # The snapshot's member columns, whatever the rows: an empty label still has its header.
        pd.DataFrame(found["customers"], columns=found["columns"]).to_csv(buf, index=False)
        # Header values are Latin-1 without control characters: a label like "é" or one with a
        # NUL made the server drop the connection. The file name keeps only safe characters.
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{segmentation}-{label}-{found['as_of']}") + ".csv"
        return Response(buf.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    size = page_size or request.app.state.ws.settings.server.page_size
    return Members(**reads.members(ws, segmentation, label, as_of=as_of, page=page, page_size=size))


class Rows(BaseModel):
    as_of: dt.date | None = None
    rows: list[dict[str, Any]]


@router.get("/cohorts", response_model=Rows, tags=["read"], responses=errors(400, 503),
            summary="Retention and revenue by first-purchase month")
def get_cohorts(request: Request, as_of: dt.date | None = Query(None, description="Default: the latest snapshot's day."),
                by_channel: bool = False, _key: dict = Depends(require("read"))) -> Rows:
    from tenure import analyses

    ws = reads.workspace(request.app.state)
    day = reads.default_day(ws, as_of)
    return Rows(as_of=day, rows=reads.records(analyses.cohorts(ws, as_of=day, by_channel=by_channel)))


@router.get("/funnel", response_model=Rows, tags=["read"], responses=errors(400, 503),
            summary="Customers at lead, 1st, 2nd, 3rd and 4th+ purchase")
def get_funnel(request: Request, as_of: dt.date | None = Query(None, description="Default: the latest snapshot's day."),
               by: Literal["cohort", "channel"] | None = None, _key: dict = Depends(require("read"))) -> Rows:
    from tenure import analyses

    ws = reads.workspace(request.app.state)
    day = reads.default_day(ws, as_of)
    return Rows(as_of=day, rows=reads.records(analyses.funnel(ws, as_of=day, by=by)))


@router.get("/pareto", response_model=Rows, tags=["read"], responses=errors(400, 503),
            summary="Share of revenue from the top buyers")
def get_pareto(request: Request, as_of: dt.date | None = Query(None, description="Default: the latest snapshot's day."),
               _key: dict = Depends(require("read"))) -> Rows:
    from tenure import analyses

    ws = reads.workspace(request.app.state)
    day = reads.default_day(ws, as_of)
    return Rows(as_of=day, rows=reads.records(analyses.pareto(ws, as_of=day)))


class Flows(BaseModel):
    start: dt.date
    end: dt.date
    by: str
    rows: list[dict[str, Any]]


@router.get("/flows", response_model=Flows, tags=["read"], responses=errors(400, 404),
            summary="Customers moving between labels from one snapshot to another")
def get_flows(request: Request, start: dt.date | None = Query(None, alias="from", description="Default: the snapshot before the latest."),
              end: dt.date | None = Query(None, alias="to", description="Default: the latest snapshot."),
              by: str = By, _key: dict = Depends(require("read"))) -> Flows:
    from tenure import analyses

    ws = reads.workspace(request.app.state)
    if start is None or end is None:
        before, latest = reads.latest_two(ws)
        start, end = start or before, end or latest
    start, end = reads.stored_day(ws, start), reads.stored_day(ws, end)
    return Flows(start=start, end=end, by=by, rows=reads.records(analyses.flows(ws, start=start, end=end, by=by)))


@router.get("/campaigns", response_model=Rows, tags=["read"], responses=errors(400, 503),
            summary="Campaign performance: funnel, conversions, uplift against the holdout")
def get_campaigns(request: Request, as_of: dt.date | None = Query(None, description="Orders up to this day; default the latest snapshot's day."),
                  campaign: str | None = Query(None, max_length=100), _key: dict = Depends(require("read"))) -> Rows:
    from tenure.campaigns.measure import campaign_report

    ws = reads.workspace(request.app.state)
    day = reads.default_day(ws, as_of)
    return Rows(as_of=day, rows=reads.records(campaign_report(ws, as_of=day, campaign=campaign)))


@router.get("/tasks", response_model=Rows, tags=["read"], responses=errors(),
            summary="Tasks for managers created by campaign steps")
def get_tasks(request: Request, status: Literal["open", "done", "all"] = "open",
              _key: dict = Depends(require("read"))) -> Rows:
    from tenure.campaigns.views import task_list

    ws = reads.workspace(request.app.state)
    return Rows(rows=reads.records(task_list(ws, status=None if status == "all" else status)))


# -- operations -----------------------------------------------------------------------------------
class Run(BaseModel):
    id: int
    kind: str = Field(..., description="pipeline (the daily run), run (campaign enrolment), dispatch.")
    as_of: dt.date | None
    worker: str
    started_at: dt.datetime = Field(..., description="UTC.")
    finished_at: dt.datetime | None = Field(..., description="UTC; null while running.")
    status: str = Field(..., description="running, ok or failed.")
    counts: dict[str, Any] | None
    error: str | None

    @field_validator("started_at", "finished_at")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        # The run log stores UTC without a zone; a date-time without one is not RFC 3339 (the
        # schema's format) and reads as local time. Sent with its zone: ...Z.
        return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


@router.get("/runs", response_model=list[Run], tags=["operations"], responses=errors(),
            summary="Recent runs with their status, timings and counts")
def get_runs(request: Request, limit: int = Query(50, ge=1, le=1000), _key: dict = Depends(require("read"))) -> list[Run]:
    return [Run(**r) for r in reads.runs(request.app.state.store, limit)]


class Started(BaseModel):
    run_id: int
    status: str = "running"


@router.post("/runs", status_code=202, response_model=Started, tags=["operations"], responses=errors(409),
             summary="Start the daily pipeline now")
def post_run(request: Request, _key: dict = Depends(require("write"))) -> Started:
    """Load the ingest API's items, compute today's snapshot, enroll campaigns, dispatch. Answers at
    once with the run's id; follow it in GET /v1/runs."""
    from tenure.campaigns.dispatcher import worker_id
    from tenure.errors import WorkspaceError
    from tenure.server.schedule import daily
    from tenure.store import runlog
    from tenure.workspace import Workspace

    state = request.app.state
    started: dict = {}
    ready = threading.Event()

    def work():
        mine = Workspace(state.ws.root)
        mine._store = state.store
        try:
            # The run's thread takes the workspace lock before the answer goes: a second request
            # meets it held (409). Checking the lock here and taking it later in the thread let
            # two requests in quick succession both start a run.
            with mine.lock(wait=0):
                started["run_id"] = runlog.start(state.store, kind="pipeline", as_of=mine.today(), worker=worker_id())
                ready.set()
                daily(mine, trigger="api", run_id=started["run_id"])  # the lock is re-entrant
        except BaseException as exc:  # after the start: recorded as failed in the run log
            if "run_id" not in started:
                started["error"] = exc
        finally:
            ready.set()

    threading.Thread(target=work, name="tenure-run", daemon=True).start()
    ready.wait()
    if "run_id" not in started:
        exc = started["error"]
        if isinstance(exc, WorkspaceError) and "busy" in exc.message:
            raise HTTPException(409, "a run, ingest or erasure is in progress: see GET /v1/runs and try later")
        raise exc
    return Started(run_id=started["run_id"])


# -- privacy --------------------------------------------------------------------------------------
@router.get("/customers/{customer_id}/export", tags=["privacy"], responses=errors(404, 503),
            response_model=dict[str, Any], summary="Everything held about a person (JSON)")
def export_customer(request: Request, customer_id: str = CustomerId, _key: dict = Depends(require("admin"))) -> dict:
    from tenure.privacy import export

    found = export(reads.workspace(request.app.state), customer_id)
    if found is None:
        raise HTTPException(404, f"nothing is held about {customer_id!r}")
    return found


class Erased(BaseModel):
    customer_id: str
    removed: dict[str, int] = Field(..., description="Rows removed, by place (warehouse.orders, store.outbox, ...).")


@router.delete("/customers/{customer_id}", response_model=Erased, tags=["privacy"], responses=errors(503),
               summary="Erase a person everywhere; later ingests of their id are refused")
def erase_customer(request: Request, customer_id: str = CustomerId, _key: dict = Depends(require("admin"))) -> Erased:
    """Removes the person from the warehouse, the snapshots, the quarantine and the operational
    store, and lists a hash of the id so a re-delivered export does not bring them back.
    Idempotent. Waits up to 30 s for a run in progress (then 503)."""
    from tenure.privacy import erase

    return Erased(customer_id=customer_id, removed=erase(reads.workspace(request.app.state), customer_id))
