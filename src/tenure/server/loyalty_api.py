"""The loyalty programme under /v1: the programme and its points liability, a customer's points,
tier and membership, their ledger, redemptions (write) and adjustments (admin).

Errors are JSON `{"detail": "..."}` as in api.py: 400 a body that is not UTF-8, 401 no or a bad
key, 403 a key without the scope, 404 no such customer or the programme is off
(`loyalty.enabled = false`), 409 not enough points, 422 a body (malformed JSON included), header
or parameter of the wrong shape, an unknown reward, or an Idempotency-Key already used for a
different request. Nothing is written when one is answered.

The plain-data readings (`programme`, `customer_summary`) live in tenure.loyalty.views, shared
with `tenure loyalty`.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tenure.errors import LoyaltyError
from tenure.loyalty.ledger import MAX_POINTS
from tenure.loyalty.simulate import KINDS
from tenure.loyalty.views import OFF, OFF_FIX, customer_summary, is_known, programme
from tenure.server import reads
from tenure.server.api import CustomerId, Problem
from tenure.server.api import errors as api_errors
from tenure.server.auth import require

router = APIRouter(prefix="/v1", tags=["loyalty"])



def errors(*codes: int) -> dict:
    """api.py's error answers, with what 400, 404, 409 and 422 mean here."""
    text = {400: "The body is not UTF-8 text (or the request is not possible as asked: the message says what "
                 "to change).",
            404: "No such customer (in neither the latest snapshot nor the points ledger), or the loyalty "
                 "programme is off (loyalty.enabled = false in tenure.toml).",
            409: "Not enough points: the balance does not cover the redemption or the adjustment.",
            422: "A body, header or parameter of the wrong shape (`detail` lists where), an unknown reward, or "
                 "an Idempotency-Key already used for a different request (`detail` says which)."}
    out = api_errors()
    for code in codes:
        out[code] = {"model": Problem, "description": text[code]}
    return out


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # The store keeps UTC without a zone; sent with its zone (RFC 3339), as api.Run does.
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# -- models ---------------------------------------------------------------------------------------------
class TierOut(BaseModel):
    name: str
    min_spend: float = Field(..., description="Spend over the tier window that reaches the tier.")
    points_multiplier: float
    free_shipping: bool
    benefits: list[str]
    customers: int | None = Field(..., description="Customers in the tier in the latest snapshot; null when "
                                  "no snapshot with tiers is stored yet.")


class RewardOut(BaseModel):
    name: str
    cost: int = Field(..., description="Points the reward costs.")
    kind: str
    value: float | None = Field(..., description="Its value in the shop's currency (a discount's amount).")
    description: str


class PlanOut(BaseModel):
    name: str
    period: Literal["month", "year"]
    price: float
    points_multiplier: float
    free_shipping: bool
    benefits: list[str]
    members: int | None = Field(..., description="Customers holding the plan (member or cancelled but paid up) in "
                                "the latest snapshot; null when no snapshot with memberships is stored yet.")


class Liability(BaseModel):
    outstanding_points: int = Field(..., description="Points held by customers today.")
    value: float = Field(..., description="outstanding_points x point_value, in the shop's currency.")
    customers_with_points: int
    expiring_30d: int = Field(..., description="Points that expire in the next 30 days unless spent first.")
    expiring_30d_value: float
    point_value: float


class Programme(BaseModel):
    today: dt.date = Field(..., description="The shop's day (workspace time zone).")
    as_of: dt.date | None = Field(..., description="The latest snapshot's day, which the counts come from.")
    currency: str
    points_per_unit: float = Field(..., description="Points per currency unit of a completed order.")
    point_value: float = Field(..., description="What one point is worth in the shop's currency.")
    expire_months: int = Field(..., description="Points expire this many months after they were earned; 0 never.")
    tier_window_days: int = Field(..., description="Tiers count the spend of this many days.")
    tiers: list[TierOut] = Field(..., description="Lowest first.")
    rewards: list[RewardOut]
    plans: list[PlanOut]
    liability: Liability


class CustomerLoyalty(BaseModel):
    customer_id: str
    today: dt.date = Field(..., description="The shop's day the points are counted on.")
    balance: int = Field(..., description="Points the customer can spend today (expiries due by today "
                         "already taken off).")
    value: float = Field(..., description="balance x point_value, in the shop's currency.")
    expiring_30d: int = Field(..., description="Points that expire in the next 30 days unless spent first.")
    next_expiry_on: dt.date | None = Field(..., description="The next day some of the points expire; null when "
                                           "none do.")
    next_expiry_points: int = Field(..., description="Points that expire on next_expiry_on.")
    as_of: dt.date | None = Field(..., description="The latest snapshot's day (tier and membership); null "
                                  "when the customer is not in it.")
    tier: str | None
    tier_spend: float | None = Field(..., description="Spend over the tier window.")
    next_tier: str | None = Field(..., description="The tier above; null at the top.")
    spend_to_next_tier: float | None
    membership: str | None = Field(..., description="member, cancelled (paid up to membership_until), lapsed or none.")
    plan: str | None
    membership_until: dt.date | None = Field(..., description="The last day paid for.")
    rewards_affordable: list[RewardOut] = Field(..., description="Rewards the balance covers, cheapest first.")


EntryKind = Literal[KINDS]  # type: ignore[valid-type]


class LedgerEntry(BaseModel):
    kind: EntryKind = Field(..., description="earn, redeem, expire, adjust or reverse (an order cancelled or "
                            "returned after it earned).")
    points: int = Field(..., description="Signed: positive for credits, negative for debits.")
    effective_on: dt.date = Field(..., description="The shop's day it counts from.")
    expires_on: dt.date | None = Field(..., description="A credit's expiry day.")
    reason: str
    source: str = Field(..., description="order, event, signup, expiry, api, admin or cli.")
    source_id: str | None = Field(..., description="The order or event id; a redemption's or adjustment's "
                                  "Idempotency-Key.")
    reward: str | None = Field(..., description="The reward redeemed.")


class HistoryEntry(LedgerEntry):
    created_at: dt.datetime = Field(..., description="When it was written (UTC).")

    @field_validator("created_at")
    @classmethod
    def _zone(cls, value: dt.datetime) -> dt.datetime:
        return _utc(value)


class LoyaltyHistory(BaseModel):
    customer_id: str
    entries: list[HistoryEntry] = Field(..., description="Newest first.")


class Written(BaseModel):
    customer_id: str
    entry: LedgerEntry
    balance: int = Field(..., description="The customer's points after it.")
    replayed: bool = Field(..., description="true: this Idempotency-Key was used before with the same request; "
                           "this is that request's entry and nothing new was written.")


def _drop_defaults(schema: dict, *, one_of: list[dict] | None = None) -> None:
    # The fields are optional in Python but never null in JSON: no `default: null` in the schema.
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    if one_of:
        schema["oneOf"] = one_of


class RedemptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda s: _drop_defaults(
        s, one_of=[{"required": ["reward"]}, {"required": ["points"]}]))
    reward: str = Field(None, min_length=1, max_length=100, description="A reward named in [loyalty.rewards]: "
                        "its cost is taken.")
    points: int = Field(None, gt=0, le=MAX_POINTS, strict=True, description="A number of points to take.")

    @model_validator(mode="after")
    def _exactly_one(self) -> RedemptionIn:
        if (self.reward is None) == (self.points is None):
            raise ValueError("send exactly one of reward and points")
        return self


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda s: _drop_defaults(s))
    points: int = Field(..., ge=-MAX_POINTS, le=MAX_POINTS, strict=True, json_schema_extra={"not": {"const": 0}},
                        description="Points to add (positive: a new lot, expiring like earned points) or to take "
                        "(negative; never below a zero balance). Not 0.")
    reason: str = Field(..., min_length=1, max_length=500, pattern=r"\S",
                        description="Why, kept on the entry, e.g. 'goodwill: late delivery'.")

    @field_validator("points")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("an adjustment must not be 0 points")
        return value

    @field_validator("reason")
    @classmethod
    def _text(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("the reason must not contain a NUL character")
        if not value.split():
            raise ValueError("the reason must not be blank")
        return value


# -- routes ---------------------------------------------------------------------------------------------
def allowed(scope: str):
    """`require(scope)`, then 404 while the programme is off (a key is checked first, and the
    answer is 404 before any body is looked at)."""
    def dependency(request: Request, key: dict = Depends(require(scope))) -> dict:
        if not request.app.state.ws.settings.loyalty.enabled:
            raise HTTPException(404, f"the loyalty programme is off: {OFF} — {OFF_FIX}")
        return key

    return dependency


def _known(ws, customer_id: str) -> None:
    if not is_known(ws, customer_id):
        raise HTTPException(404, f"no customer {customer_id!r} in the latest snapshot or the points ledger")


def _entry(entry) -> LedgerEntry:
    return LedgerEntry(kind=entry.kind, points=entry.points, effective_on=entry.effective_on,
                       expires_on=entry.expires_on, reason=entry.reason, source=entry.source,
                       source_id=entry.source_id, reward=entry.reward)


def _refused(exc: LoyaltyError) -> HTTPException:
    return HTTPException(409 if exc.reason == "insufficient" else 422, exc.message)


IdempotencyKey = Header(..., alias="Idempotency-Key", min_length=1, max_length=200,
                        description="A unique key per redemption (e.g. a UUID), repeated unchanged on a retry: "
                        "the same key and body answer the first answer again and write nothing.")


@router.get("/loyalty", response_model=Programme, responses=errors(404),
            summary="The loyalty programme: tiers, rewards, plans, and the points liability")
def get_programme(request: Request, _key: dict = Depends(allowed("read"))) -> Programme:
    """Tiers (with their customers in the latest snapshot), rewards, paid plans (with their members),
    what a point is worth, and the points liability: outstanding points and their value, points
    expiring in the next 30 days."""
    return Programme(**programme(reads.workspace(request.app.state)))


@router.get("/customers/{customer_id}/loyalty", response_model=CustomerLoyalty, responses=errors(404, 422),
            summary="A customer's points, tier and membership")
def get_customer_loyalty(request: Request, customer_id: str = CustomerId,
                         _key: dict = Depends(allowed("read"))) -> CustomerLoyalty:
    """The balance today, points expiring in the next 30 days and the next expiry, the tier and
    membership of the latest snapshot, and the rewards the balance affords. 404 for a customer in
    neither the latest snapshot nor the points ledger."""
    ws = reads.workspace(request.app.state)
    found = customer_summary(ws, customer_id)
    if found is None:
        raise HTTPException(404, f"no customer {customer_id!r} in the latest snapshot or the points ledger")
    return CustomerLoyalty(**found)


@router.get("/customers/{customer_id}/loyalty/history", response_model=LoyaltyHistory, responses=errors(404, 422),
            summary="A customer's points ledger, newest first")
def get_loyalty_history(request: Request, customer_id: str = CustomerId,
                        limit: int = Query(50, ge=1, le=1000, description="At most this many entries."),
                        _key: dict = Depends(allowed("read"))) -> LoyaltyHistory:
    from tenure.loyalty import ledger

    ws = reads.workspace(request.app.state)
    _known(ws, customer_id)
    with ws.store.connect() as conn:
        rows = ledger.history(conn, customer_id, limit=limit)
    return LoyaltyHistory(customer_id=customer_id, entries=[HistoryEntry(**r) for r in rows])


REPLAYED = {"model": Written, "description": "A repeat of an earlier request (the same Idempotency-Key and "
            "body): its entry again, nothing written."}


@router.post("/customers/{customer_id}/loyalty/redemptions", status_code=201, response_model=Written,
             responses={**errors(400, 404, 409, 422), 200: REPLAYED},
             summary="Redeem a reward or points")
def post_redemption(body: RedemptionIn, request: Request, response: Response, customer_id: str = CustomerId,
                    idempotency_key: str = IdempotencyKey, _key: dict = Depends(allowed("write"))) -> Written:
    """Take a reward's cost (`{"reward": "discount-5"}`) or a number of points (`{"points": 500}`)
    from the customer's balance, oldest points first; expiries due by today are settled first.
    201 with the entry and the new balance. A repeat with the same Idempotency-Key and body answers
    200 with the first entry (`replayed: true`) and writes nothing; the same key with another
    body (or another customer) is a 422. 409 when the balance does not cover it: nothing is written.
    Concurrent redemptions for one customer are serialised: they never overdraw the balance."""
    from tenure.loyalty import ledger

    ws = reads.workspace(request.app.state)
    _known(ws, customer_id)
    try:
        done = ledger.redeem(ws.store, customer_id=customer_id, idempotency_key=idempotency_key, today=ws.today(),
                             now=utc_now(), settings=ws.settings.loyalty, reward=body.reward, points=body.points,
                             source="api")
    except LoyaltyError as exc:
        raise _refused(exc)
    if done.replayed:
        response.status_code = 200
    return Written(customer_id=customer_id, entry=_entry(done.entry), balance=done.balance, replayed=done.replayed)


@router.post("/customers/{customer_id}/loyalty/adjustments", status_code=201, response_model=Written,
             responses={**errors(400, 404, 409, 422), 200: REPLAYED},
             summary="Add or take points by hand (with a reason)")
def post_adjustment(body: AdjustmentIn, request: Request, response: Response, customer_id: str = CustomerId,
                    idempotency_key: str | None = Header(None, alias="Idempotency-Key", min_length=1, max_length=200,
                                                         description="Optional: makes a retry safe, as for "
                                                         "redemptions."),
                    _key: dict = Depends(allowed("admin"))) -> Written:
    """An admin's correction: positive points are a new lot that expires like earned points,
    negative ones are taken oldest first (409 when that would take the balance below zero). The
    reason is kept on the entry. Without an Idempotency-Key every request is a new entry."""
    from tenure.loyalty import ledger

    ws = reads.workspace(request.app.state)
    _known(ws, customer_id)
    try:
        done = ledger.adjust(ws.store, customer_id=customer_id, points=body.points, reason=body.reason,
                             today=ws.today(), now=utc_now(), settings=ws.settings.loyalty,
                             idempotency_key=idempotency_key, source="admin")
    except LoyaltyError as exc:
        raise _refused(exc)
    if done.replayed:
        response.status_code = 200
    return Written(customer_id=customer_id, entry=_entry(done.entry), balance=done.balance, replayed=done.replayed)

