"""The headline tiles: each key figure, formatted, with its change against the comparison period.

Changes are relative (%) for counts and money, in percentage points for shares and in days for
the cycle; an arrow says the direction, so colour is never the only cue.
"""

from __future__ import annotations

from tenure.report.figures import COMPARE_DAYS, KeyFigures
from tenure.report.fmt import Numbers


def _change(now, before, nums: Numbers, kind: str, when: str) -> str:
    if now is None or before is None:
        return f"no figure {when}"
    if kind == "relative":
        if not before:
            return f"none {when}" if now else f"none now nor {when}"
        diff, text = now / before - 1, lambda d: nums.percent(abs(d), 1)
    elif kind == "points":
        diff, text = now - before, lambda d: f"{nums.decimal(abs(d) * 100, 1)} pts"
    else:  # days
        diff, text = now - before, lambda d: nums.days(abs(d))
    shown = text(diff)
    if not any(ch in "123456789" for ch in shown):  # a change too small to show is none
        return f"unchanged from {when}"
    return f"{'▲ +' if diff > 0 else '▼ −'}{shown} vs {when}"


def tiles(k: KeyFigures, nums: Numbers) -> list[dict]:
    now, before = k.now, k.before
    since = f"{COMPARE_DAYS} days earlier"
    cycle_note = ("no customer has bought twice: the configured fallback" if k.cycle_fallback
                  else "median days between two purchases of a customer")
    out = [
        {"label": "Customers", "value": nums.int(now.customers),
         "change": _change(now.customers, before.customers, nums, "relative", since),
         "note": f"{nums.int(now.buyers)} of them {'has' if now.buyers == 1 else 'have'} bought"},
        {"label": "Active share", "value": _pct(now.active_share, nums),
         "change": _change(now.active_share, before.active_share, nums, "points", since),
         "note": "of buyers, bought within their cycle (new, active, reactivated)"},
        {"label": "Repeat rate", "value": _pct(now.repeat_rate, nums),
         "change": _change(now.repeat_rate, before.repeat_rate, nums, "points", since),
         "note": "of buyers, bought on two days or more"},
        {"label": "Store cycle", "value": nums.days(now.store_cycle_days),
         "change": _change(now.store_cycle_days, before.store_cycle_days if before.repeat_intervals else None,
                           nums, "days", since),
         "note": cycle_note},
    ]
    for days, (this, prior) in sorted(k.revenue.items()):
        out.append({"label": f"Revenue, last {days} days", "value": nums.money(this),
                    "change": _change(this, prior, nums, "relative", f"the {days} days before"),
                    "note": f"{nums.money(prior)} the {days} days before"})
    return out


def _pct(x, nums: Numbers) -> str:
    return "–" if x is None else nums.percent(x, 1, fixed=True)
