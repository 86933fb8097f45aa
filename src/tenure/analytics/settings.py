"""Settings of the lifecycle analytics: every number of DOMAIN.md is a default here, never a
constant in code. Composed into `tenure.config.Settings`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class CycleSettings(_Section):
    fixed_days: float = Field(
        0, ge=0, description="Store purchase cycle in days. 0 computes it from the data: the median "
        "of all intervals between consecutive purchase days of every customer up to the as-of date.")
    fallback_days: float = Field(
        30, gt=0, description="Store cycle used when the data holds no repeat purchase at all (the run says so).")
    min_own_intervals: int = Field(
        2, ge=1, description="A customer's own cycle is the median of their own intervals once they have "
        "at least this many; before that, the store cycle.")


class LifecycleSettings(_Section):
    dormant_cycles: float = Field(
        4, gt=1, description="A customer who bought is dormant after this many cycles without a purchase; "
        "a one-purchase customer is one-time between 1 cycle and this many.")
    labels: dict[str, str] = Field(
        default_factory=lambda: {"lead": "lead", "new": "new", "one_time": "one-time", "active": "active",
                                 "lapsing": "lapsing", "dormant": "dormant", "reactivated": "reactivated"},
        description="Names of the lifecycle stages as shown and stored (keys: lead, new, one_time, active, "
        "lapsing, dormant, reactivated).")

    @field_validator("labels")
    @classmethod
    def _all_stages(cls, value: dict[str, str]) -> dict[str, str]:
        keys = {"lead", "new", "one_time", "active", "lapsing", "dormant", "reactivated"}
        if set(value) != keys:
            raise ValueError(f"needs exactly the keys {', '.join(sorted(keys))}")
        if len(set(value.values())) != len(value):
            raise ValueError("two stages have the same name")
        return value


class Rung(_Section):
    name: str
    min_orders: int = Field(ge=1)
    max_orders: int = Field(0, ge=0, description="0 = no upper bound")
    days: int = Field(ge=0)
    conversion_window_days: int = Field(ge=0)
    steps: list[int] = Field(default_factory=lambda: [0])
    intent: str = ""

    @model_validator(mode="after")
    def _bounds(self) -> Rung:
        if self.max_orders and self.max_orders < self.min_orders:
            raise ValueError(f"rung {self.name!r}: max_orders is below min_orders")
        return self

    def holds(self, k: int) -> bool:
        return k >= self.min_orders and (not self.max_orders or k <= self.max_orders)


def _ladder() -> list[Rung]:
    rows = [  # DOMAIN.md: the RF trigger ladder
        ("new", 1, 1, 10, 7, [0, 6], "congratulate on the first purchase, survey, loyalty programme, upsell; no discount"),
        ("promising", 1, 2, 25, 7, [0, 10], "help choosing, groups and events, useful content; careful with discounts"),
        ("wandering", 1, 2, 51, 12, [0, 12], "remind of the shop's advantages, a tempting discount, recommendations"),
        ("dormant", 1, 2, 75, 10, [0, 15], "promotions, discounted products, why stay; unsubscribe those who never react"),
        ("loyal", 3, 0, 20, 7, [0, 14], "say how much they matter, ask for a review, personal picks; no discounts"),
        ("at-risk", 3, 0, 56, 2, [0, 10], "useful content, a discount or coupon, personal picks, a sale"),
        ("lost", 3, 0, 113, 14, [0, 30], "find out why they left, the best discount, personal picks"),
    ]
    return [Rung(name=n, min_orders=lo, max_orders=hi, days=d, conversion_window_days=w, steps=s, intent=i)
            for n, lo, hi, d, w, s, i in rows]


class RFSettings(_Section):
    before_first_rung: str = Field("recent", description="Label of a buyer who has not reached any rung yet.")
    no_orders: str = Field("none", description="Label of a customer without a completed order.")
    rungs: list[Rung] = Field(
        default_factory=_ladder,
        description="The RF trigger ladder: a rung holds customers with min_orders..max_orders completed "
        "orders (max_orders 0 = no bound) once `days` have passed since their last purchase; a "
        "customer's rung is the one with the largest `days` reached in their order group.")


class RFMSegment(_Section):
    name: str
    r: list[int] = Field(min_length=2, max_length=2, description="inclusive range of R scores")
    f: list[int] = Field(min_length=2, max_length=2, description="inclusive range of F scores")


def _rfm_segments() -> list[RFMSegment]:
    rows = [("champions", 5, 5, 4, 5), ("loyal", 3, 4, 4, 5), ("potential-loyalists", 4, 5, 2, 3),
            ("new-customers", 5, 5, 1, 1), ("promising", 4, 4, 1, 1), ("need-attention", 3, 3, 3, 3),
            ("about-to-sleep", 3, 3, 1, 2), ("at-risk", 1, 2, 3, 4), ("cannot-lose-them", 1, 2, 5, 5),
            ("hibernating", 1, 2, 1, 2)]
    return [RFMSegment(name=n, r=[r0, r1], f=[f0, f1]) for n, r0, r1, f0, f1 in rows]


class RFMSettings(_Section):
    no_orders: str = Field("none", description="rfm_segment of a customer without a completed order.")
    segments: list[RFMSegment] = Field(
        default_factory=_rfm_segments,
        description="Named RFM segments by ranges of the R and F scores (1-5); the first that matches wins. "
        "Scores are relative: with N buyers and w of them strictly worse, score = min(5, 1 + floor(5w/N)).")


class ClvSettings(_Section):
    enabled: bool = Field(
        True, description="Fit BG/NBD and Gamma-Gamma in every `tenure run` and add the prediction "
        "columns and the churn_risk segmentation to the snapshot.")
    unit: str = Field(
        "weeks", pattern="^(days|weeks)$", description="Time unit of the fitted parameters: days or weeks "
        "(predictions are the same; parameters and their scale differ).")
    discount_rate: float = Field(
        0.10, ge=0, le=1, description="Annual discount rate of clv_365d (0.10 = money in a year is worth 10% less).")
    include_free_orders: bool = Field(
        True, description="Count completed orders of amount 0 as purchases in the model summary "
        "(the BG/NBD literature counts transactions; the lifecycle features do not).")
    churn_risk_high_below: float = Field(
        0.2, ge=0, le=1, description="churn_risk is high when the probability of buying in the next 90 days "
        "(purchase_probability_90d) is below this.")
    churn_risk_low_from: float = Field(
        0.5, ge=0, le=1, description="churn_risk is low when purchase_probability_90d is at least this; "
        "medium in between.")

    @model_validator(mode="after")
    def _ordered(self) -> ClvSettings:
        if self.churn_risk_high_below > self.churn_risk_low_from:
            raise ValueError("churn_risk_high_below must not exceed churn_risk_low_from")
        return self


class Segment(_Section):
    rule: str = Field(description="A rule over the snapshot's feature columns (docs/segments.md)")
    description: str = ""


def _default_segments() -> dict[str, Segment]:
    return {
        "vip": Segment(rule="spend_365 > 0 and spend_365 >= quantile(spend_365, 0.8)",
                       description="spend in the last 365 days in the top 20%"),
        "unengaged": Segment(
            rule="consent_email and (days_since_open is null or days_since_open > 365) "
                 "and (days_since_click is null or days_since_click > 365)",
            description="consented to email, no open or click in 365 days"),
    }
