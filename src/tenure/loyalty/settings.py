"""`[loyalty]` of tenure.toml: the points programme, spend tiers and paid membership plans.

Every number is a setting with the programme DOMAIN.md describes as its default; the whole
programme is off until `enabled = true`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Reward(_Section):
    cost: int = Field(gt=0, description="points the reward costs")
    kind: Literal["discount", "free_shipping", "sample", "gift", "event", "other"] = Field(
        "discount", description="what the customer gets")
    value: float | None = Field(None, ge=0, description="its value in the shop's currency (a discount's amount)")
    description: str = ""


class Tier(_Section):
    name: str = Field(description="the tier's label (lower case), e.g. gold")
    min_spend: float = Field(ge=0, description="spend over the tier window that reaches the tier")
    points_multiplier: float = Field(1.0, ge=0, description="points earned on orders are multiplied by this")
    free_shipping: bool = False
    benefits: list[str] = Field(default_factory=list, description="other benefits, as shown to people")

    @field_validator("name")
    @classmethod
    def _label(cls, value: str) -> str:
        if not _LABEL.match(value):
            raise ValueError(f"tier name {value!r} must be lower case letters, digits, - or _ (e.g. 'gold')")
        return value


class Plan(_Section):
    period: Literal["month", "year"] = Field(description="a payment buys one month or one year")
    price: float = Field(gt=0, description="price of one period in the shop's currency")
    points_multiplier: float = Field(1.0, ge=0, description="points earned on orders while a member")
    free_shipping: bool = False
    benefits: list[str] = Field(default_factory=list)


def _default_tiers() -> list[Tier]:
    return [Tier(name="bronze", min_spend=0),
            Tier(name="silver", min_spend=500, points_multiplier=1.25),
            Tier(name="gold", min_spend=2000, points_multiplier=1.5, free_shipping=True)]


def _default_rewards() -> dict[str, Reward]:
    return {"discount-5": Reward(cost=500, kind="discount", value=5.0, description="5 off the next order"),
            "free-shipping": Reward(cost=300, kind="free_shipping", description="free shipping on one order"),
            "sample": Reward(cost=150, kind="sample", description="a free sample with the next order")}


def _default_plans() -> dict[str, Plan]:
    return {"plus-monthly": Plan(period="month", price=4.99, points_multiplier=2.0, free_shipping=True),
            "plus-yearly": Plan(period="year", price=49.0, points_multiplier=2.0, free_shipping=True)}


class MembershipEvents(_Section):
    start: str = Field("membership_start", description="event type of a paid membership's start")
    renew: str = Field("membership_renew", description="event type of a renewal (a period paid)")
    cancel: str = Field("membership_cancel", description="event type of a cancellation")
    plan_property: str = Field("plan", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                               description="the events' property naming the plan (a name: letters, digits, _)")


class LoyaltySettings(_Section):
    enabled: bool = Field(False, description="Run the loyalty programme: points in `tenure run`, the tier and "
                          "membership segmentations, loyalty in templates, reports, API and dashboard.")
    starts_on: dt.date | None = Field(
        None, description="Only orders and events on or after this day earn points (the day the programme "
        "opened). Empty: the whole history earns (old points expire by their lifetime).")
    points_per_unit: float = Field(1.0, ge=0, description="Points per currency unit of a completed order.")
    rounding: Literal["floor", "round", "ceil"] = Field(
        "floor", description="How an order's points are rounded to whole points (round: half up).")
    signup_points: int = Field(0, ge=0, description="Points for signing up (a customer from the customers export).")
    event_points: dict[str, int] = Field(
        default_factory=lambda: {"referral": 200, "review": 50},
        description="Points for an event of a type, e.g. referral = 200 (a referred friend's first order), "
        "review = 50. Each event earns once (by its event_id).")
    expire_months: int = Field(12, ge=0, description="Points expire this many months after they were earned, "
                               "oldest first (first in, first out). 0: points never expire.")
    point_value: float = Field(0.01, ge=0, description="What one point is worth in the shop's currency (the "
                               "points liability in reports).")
    rewards: dict[str, Reward] = Field(default_factory=_default_rewards,
                                       description="[loyalty.rewards.NAME]: cost in points, kind, value.")
    tier_window_days: int = Field(365, ge=1, description="Tiers count the spend of completed orders over "
                                  "this many days up to the day (a rolling window).")
    tier_grace_days: int = Field(30, ge=0, description="A customer keeps a tier this many days after their "
                                 "spend last reached it, before a downgrade.")
    tiers: list[Tier] = Field(default_factory=_default_tiers,
                              description="[[loyalty.tiers]] from the lowest (min_spend = 0) to the highest.")
    plans: dict[str, Plan] = Field(default_factory=_default_plans,
                                   description="[loyalty.plans.NAME]: paid membership plans.")
    membership_events: MembershipEvents = Field(
        default_factory=MembershipEvents,
        description="[loyalty.membership_events]: the event types (and property) that record paid memberships.")
    renewal_grace_days: int = Field(3, ge=0, description="A membership whose period ended stays active this "
                                    "many days for its renewal to arrive, then lapses.")

    @model_validator(mode="after")
    def _tiers_ascending(self) -> LoyaltySettings:
        if not self.tiers:
            raise ValueError("tiers: name at least one tier (the lowest with min_spend = 0)")
        if self.tiers[0].min_spend != 0:
            raise ValueError(f"tiers: the first tier ({self.tiers[0].name}) must have min_spend = 0")
        for low, high in zip(self.tiers, self.tiers[1:]):
            if high.min_spend <= low.min_spend:
                raise ValueError(f"tiers: {high.name} must need more spend than {low.name}")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tiers: two tiers have the same name")
        for kind in self.event_points:
            if not re.match(r"^[a-z][a-z0-9_]*$", kind):
                raise ValueError(f"event_points: {kind!r} is not an event type (lower_snake_case)")
        return self

    def points_for(self, amount: float, multiplier: float) -> int:
        import math

        raw = amount * self.points_per_unit * multiplier
        if self.rounding == "floor":
            return int(math.floor(raw + 1e-9))
        if self.rounding == "ceil":
            return int(math.ceil(raw - 1e-9))
        return int(math.floor(raw + 0.5))

    def expires_on(self, earned_on: dt.date) -> dt.date | None:
        if not self.expire_months:
            return None
        month = earned_on.month - 1 + self.expire_months
        year, month = earned_on.year + month // 12, month % 12 + 1
        import calendar

        return dt.date(year, month, min(earned_on.day, calendar.monthrange(year, month)[1]))

    def tier_names(self) -> list[str]:
        return [t.name for t in self.tiers]
