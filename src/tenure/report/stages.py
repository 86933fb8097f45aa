"""The stage table: each lifecycle stage, how many customers it holds, and what to do about it.

The advice is DOMAIN.md's (phases of the relationship, the campaigns every shop runs and the
intent of the matching RF rungs), keyed by stage so that renamed labels keep their advice.
"""

from __future__ import annotations

from tenure.report.charts_stages import STAGE_COLOURS
from tenure.report.fmt import Numbers

MEANING = {
    "lead": "gave consent to be contacted, no purchase yet",
    "new": "made a first purchase recently; no habit yet",
    "one_time": "one purchase, and no second within a purchase cycle",
    "active": "buys often and regularly: the loyal core",
    "reactivated": "had lapsed, gone dormant or stayed one-time, and bought again",
    "lapsing": "had a habit, but has missed at least one purchase cycle",
    "dormant": "has missed four purchase cycles: no longer buys",
}
ACTION = {
    "lead": "Convert: show the shop's value and a first-purchase discount, aim for the first order.",
    "new": "Welcome series: thank them, present the brand's strengths and the loyalty programme, "
           "a short survey, an upsell; no discount yet.",
    "one_time": "Help them choose: useful content and personal recommendations, remind them of the "
                "shop's advantages; a tempting discount once they wander.",
    "active": "Keep them: say how much they matter, personal service and picks, ask for reviews and "
              "referrals; no discounts.",
    "reactivated": "Welcome them back: thank them, find out what brought them back, and aim for the "
                   "next purchase within a cycle with personal picks.",
    "lapsing": "Win them back before they sleep: reminders, useful content, a discount or coupon, "
               "personal picks, a sale.",
    "dormant": "Sunset policy: one exclusive offer (the best discount, why the shop is better); stop "
               "spending on those who do not respond.",
}
ORDER = ("lead", "new", "one_time", "active", "reactivated", "lapsing", "dormant")


def stage_rows(stock, labels: dict[str, str], nums: Numbers) -> list[dict]:
    """One row per stage in lifecycle order, with customers, share and share of revenue to date."""
    total = sum(stock.stages.values())
    spend = sum(stock.spend.values())
    rows = []
    for key in ORDER:
        label = labels[key]
        n = stock.stages.get(label, 0)
        rows.append({"key": key, "label": label, "colour": STAGE_COLOURS[key], "meaning": MEANING[key],
                     "action": ACTION[key],
                     "customers": nums.int(n), "share": nums.percent(n / total if total else 0, 1),
                     "revenue_share": nums.percent(stock.spend.get(label, 0.0) / spend if spend else 0, 1),
                     "empty": n == 0})
    return rows
