"""Campaign definitions: `[campaigns.NAME]` tables of tenure.toml, validated by Pydantic.

A campaign is a trigger (who enters, on which day), steps (what is sent how many days after
entry, on which channel, from which template) and the rules that measure it: conversion window,
holdout share, exit on purchase, re-entry, priority. Every number of DOMAIN.md's ladder is a
default here, never a constant in the engine.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CHANNELS = ("email", "sms", "webhook", "task")
ANNIVERSARIES = ("first_purchase", "birthday")
_ORDERS = re.compile(r"^(\d+)(?:-(\d+)|(\+))?$")
_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Step(_Section):
    offset_days: int = Field(ge=0, description="days after entry (0 = the day of entry)")
    channel: Literal["email", "sms", "webhook", "task"] = "email"
    template: str = Field("", description="folder under templates/ holding the step's texts")


class Trigger(BaseModel):
    """Exactly one form:
    - entering a label: `{ lifecycle = "lapsing" }`, `{ rf = "wandering" }`, `{ vip = "in" }`;
    - the ladder rule: `{ orders = "1-2", days_since_last = 51 }` (orders "1", "1-2" or "3+");
    - a date: `{ anniversary = "first_purchase" }`, `{ anniversary = "birthday" }`, `{ on = "12-24" }`;
    - an event: `{ event = "subscribe" }`."""

    model_config = ConfigDict(extra="allow")  # the extra key is the segmentation's name
    orders: str | None = None
    days_since_last: int | None = Field(None, ge=0)
    anniversary: Literal["first_purchase", "birthday"] | None = None
    on: str | None = None
    event: str | None = None

    @field_validator("orders")
    @classmethod
    def _orders(cls, value: str | None) -> str | None:
        if value is not None:
            m = _ORDERS.match(value.strip())
            if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < int(m.group(1))):
                raise ValueError(f"orders {value!r} is not a count such as '1', '1-2' or '3+'")
        return value

    @field_validator("on")
    @classmethod
    def _on(cls, value: str | None) -> str | None:
        if value is not None:
            m = _MONTH_DAY.match(value)
            if not m or not (1 <= int(m.group(1)) <= 12 and 1 <= int(m.group(2)) <= 31):
                raise ValueError(f"on {value!r} is not a month and day such as '12-24'")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Trigger:
        forms = [name for name, present in (
            ("ladder", self.orders is not None or self.days_since_last is not None),
            ("anniversary", self.anniversary is not None), ("on", self.on is not None),
            ("event", self.event is not None), ("label", bool(self.model_extra))) if present]
        if len(forms) != 1:
            raise ValueError("needs exactly one of: a segmentation = label, orders with days_since_last, "
                             "anniversary, on, event")
        if forms[0] == "ladder" and (self.orders is None or self.days_since_last is None):
            raise ValueError("the ladder rule needs both orders and days_since_last")
        if forms[0] == "label" and len(self.model_extra) != 1:
            raise ValueError("name one segmentation and its label, e.g. { lifecycle = \"lapsing\" }")
        return self

    @property
    def kind(self) -> str:
        if self.orders is not None:
            return "ladder"
        if self.anniversary is not None:
            return "anniversary"
        if self.on is not None:
            return "on"
        if self.event is not None:
            return "event"
        return "label"

    @property
    def segmentation(self) -> str | None:
        return next(iter(self.model_extra), None) if self.kind == "label" else None

    @property
    def label(self) -> str | None:
        """The label entered; a custom segment's true/false reads as in/out."""
        if self.kind != "label":
            return None
        value = next(iter(self.model_extra.values()))
        if isinstance(value, bool):
            return "in" if value else "out"
        return str(value)

    def order_range(self) -> tuple[int, int | None]:
        """(min, max) completed orders of the ladder rule; max None = no bound."""
        m = _ORDERS.match(self.orders.strip())
        low = int(m.group(1))
        if m.group(3):
            return low, None
        return low, int(m.group(2)) if m.group(2) else low

    def describe(self) -> str:
        if self.kind == "ladder":
            return f"orders {self.orders}, {self.days_since_last} days"
        if self.kind == "label":
            return f"{self.segmentation} = {self.label}"
        if self.kind == "anniversary":
            return f"anniversary of {self.anniversary.replace('_', ' ')}"
        if self.kind == "on":
            return f"every {self.on}"
        return f"event {self.event}"


class Campaign(_Section):
    enabled: bool = False
    description: str = ""
    trigger: Trigger
    steps: list[Step] = Field(min_length=1)
    conversion_window_days: int = Field(7, ge=0)
    exit_on_purchase: bool = Field(True, description="end the enrollment at the first purchase after entry")
    skip_when_left: bool = Field(True, description="skip later steps once the customer left the trigger's segment")
    reentry_after_days: int = Field(0, ge=0, description="0 = never enter this campaign twice")
    priority: int = Field(100, description="when several campaigns reach a customer the same day, the "
                          "highest priority goes first (and the frequency cap stops the rest)")
    holdout_share: float = Field(0.10, ge=0, lt=1)
    marketing: bool = Field(True, description="marketing messages need consent and count toward the "
                            "frequency cap; false for service messages")

    @model_validator(mode="after")
    def _steps_in_order(self) -> Campaign:
        offsets = [s.offset_days for s in self.steps]
        if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
            raise ValueError(f"step offsets {offsets} must increase")
        for i, step in enumerate(self.steps):
            if step.channel != "webhook" and not step.template:
                raise ValueError(f"steps[{i}] ({step.channel}) needs a template")
        return self


def _ladder_campaign(rung, channel: str = "email") -> Campaign:
    low, high = rung.min_orders, rung.max_orders
    orders = f"{low}+" if not high else (str(low) if high == low else f"{low}-{high}")
    steps = [Step(offset_days=o, channel=channel, template=f"rf-{rung.name}-{i + 1}")
             for i, o in enumerate(rung.steps)]
    return Campaign(description=f"RF ladder, rung {rung.name}: {rung.intent}",
                    trigger=Trigger(orders=orders, days_since_last=rung.days), steps=steps,
                    conversion_window_days=rung.conversion_window_days, priority=50,
                    # A rung fires again after a new purchase (which ends the enrollment): the
                    # ladder's counts are of crossings, not of distinct customers.
                    reentry_after_days=1)


def default_campaigns() -> dict[str, Campaign]:
    """The seven rungs of the RF ladder plus welcome, anniversary and reactivation: all off."""
    from tenure.analytics.settings import _ladder

    out = {f"rf-{r.name}": _ladder_campaign(r) for r in _ladder()}
    out["welcome"] = Campaign(
        description="Welcome series after the first purchase: thanks, the shop's strengths, the next purchase",
        trigger=Trigger(lifecycle="new"), reentry_after_days=0, priority=80, conversion_window_days=14,
        steps=[Step(offset_days=0, template="welcome-1"), Step(offset_days=3, template="welcome-2")])
    out["anniversary"] = Campaign(
        description="Anniversary of the first purchase: personal recognition and a gift",
        trigger=Trigger(anniversary="first_purchase"), reentry_after_days=300, priority=60,
        conversion_window_days=14, steps=[Step(offset_days=0, template="anniversary-1")])
    out["reactivation"] = Campaign(
        description="Lapsing customers with formed habits: a unique offer, then a task for a manager",
        trigger=Trigger(lifecycle="lapsing"), reentry_after_days=90, priority=70, conversion_window_days=14,
        steps=[Step(offset_days=0, template="reactivation-1"),
               Step(offset_days=7, channel="task", template="reactivation-call")])
    return out
