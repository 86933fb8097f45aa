"""What the API, the CLI and the dashboard read of the loyalty programme, as plain data: the
programme with its counts and liability, and one customer's points, tier and membership."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tenure.errors import TenureError

OFF = "loyalty.enabled is false in tenure.toml"
OFF_FIX = "set it to true"
SOON_DAYS = 30
SNAPSHOT_COLUMNS = ("tier", "tier_spend", "next_tier", "spend_to_next_tier", "membership", "membership_plan",
                    "membership_until")


def check_enabled(ws) -> None:
    if not ws.settings.loyalty.enabled:
        raise TenureError(OFF, fix=OFF_FIX)


def snapshot_row(ws, customer_id: str, as_of: dt.date | None = None) -> tuple[dt.date | None, dict | None]:
    """(the snapshot's day, the customer's loyalty columns in it) from the latest stored snapshot
    (or `as_of`'s); (day or None, None) when there is no snapshot or the customer is not in it. A
    snapshot made before the programme was enabled has no loyalty columns: they read as None."""
    if as_of is None and not ws.history.dates():
        return None, None
    from tenure.server import reads

    day = reads.stored_day(ws, as_of)
    t = ws.history.read(day)
    cols = [c for c in SNAPSHOT_COLUMNS if c in t.columns]
    rows = reads.records(t.filter(t.customer_id == customer_id).select("customer_id", *cols).limit(1).execute())
    if not rows:
        return day, None
    return day, {c: rows[0].get(c) for c in SNAPSHOT_COLUMNS}


def is_known(ws, customer_id: str) -> bool:
    """The customer has ledger entries or a row in the latest snapshot."""
    from tenure.loyalty import ledger

    if "\x00" in customer_id:  # no stored id has one (and PostgreSQL refuses it in a query)
        return False
    with ws.store.connect() as conn:
        if conn.execute(sa.select(ledger.L.id).where(ledger.L.customer_id == customer_id).limit(1)).first():
            return True
    return snapshot_row(ws, customer_id)[1] is not None


def _reward(name: str, reward) -> dict:
    return {"name": name, "cost": reward.cost, "kind": reward.kind, "value": reward.value,
            "description": reward.description}


def customer_summary(ws, customer_id: str) -> dict | None:
    """A customer's points today (after the expiries due by today), what expires soon, their tier
    and membership from the latest snapshot, and the rewards the balance affords. None when the
    customer is in neither the latest snapshot nor the ledger."""
    from tenure.loyalty import ledger

    if "\x00" in customer_id:  # no stored id has one (and PostgreSQL refuses it in a query)
        return None
    loyalty = ws.settings.loyalty
    today = ws.today()
    day, row = snapshot_row(ws, customer_id)
    with ws.store.connect() as conn:
        entries = ledger.entries(conn, customer_id)
    if row is None and not entries:
        return None
    from tenure.loyalty.simulate import simulate

    state = simulate(customer_id, fixed=entries, as_of=today, expires=loyalty.expires_on)
    dated = [lot for lot in state.lots if lot.expires_on is not None]
    next_day = min((lot.expires_on for lot in dated), default=None)
    balance = state.balance
    row = row or {}
    return {
        "customer_id": customer_id, "today": today, "balance": balance,
        "value": round(balance * loyalty.point_value, 2),
        "expiring_30d": state.expiring(today, today + dt.timedelta(days=SOON_DAYS)),
        "next_expiry_on": next_day,
        "next_expiry_points": sum(lot.remaining for lot in dated if lot.expires_on == next_day) if next_day else 0,
        "as_of": day if row else None,
        "tier": row.get("tier"), "tier_spend": row.get("tier_spend"), "next_tier": row.get("next_tier"),
        "spend_to_next_tier": row.get("spend_to_next_tier"), "membership": row.get("membership"),
        "plan": row.get("membership_plan"), "membership_until": row.get("membership_until"),
        "rewards_affordable": [_reward(name, r) for name, r in sorted(loyalty.rewards.items(), key=lambda kv: kv[1].cost)
                               if r.cost <= balance],
    }


def _counts(ws) -> tuple[dt.date | None, dict[str, int] | None, dict[str, int] | None]:
    """(latest snapshot's day, customers by tier, active members by plan) when it has the columns."""
    from tenure.analytics.membership import ACTIVE

    dates = ws.history.dates()
    if not dates:
        return None, None, None
    t = ws.history.read(dates[-1])
    if "tier" not in t.columns:
        return dates[-1], None, None
    tiers = t.group_by("tier").aggregate(n=t.count()).execute()
    by_tier = {str(k): int(v) for k, v in zip(tiers["tier"], tiers["n"]) if k is not None}
    by_plan = None
    if "membership_plan" in t.columns:
        m = t.filter(t.membership.isin(list(ACTIVE)))
        plans = m.group_by("membership_plan").aggregate(n=m.count()).execute()
        by_plan = {str(k): int(v) for k, v in zip(plans["membership_plan"], plans["n"]) if isinstance(k, str)}
    return dates[-1], by_tier, by_plan


# The liability replays every customer's lots (FIFO expiry is not a sum): seconds on a large
# ledger, and the server and the dashboard ask for the same day again and again. Ledger rows are
# never updated and their ids never reused, so (row count, highest id) changes with any write or
# erasure: the last answer is kept under it, with the store, the day and the programme's settings.
_LAST_LIABILITY: dict[tuple, dict] = {}


def liability(ws, day: dt.date | None = None) -> dict:
    from tenure.loyalty import ledger
    from tenure.store.tables import loyalty_ledger

    day, loyalty = day or ws.today(), ws.settings.loyalty
    with ws.store.connect() as conn:
        mark = conn.execute(sa.select(sa.func.count(), sa.func.max(loyalty_ledger.c.id))).one()
        key = (str(ws.store.engine.url), day, tuple(mark), loyalty.model_dump_json())
        answer = _LAST_LIABILITY.get(key)  # one lookup: another request thread may replace it
        if answer is None:
            answer = ledger.liability(conn, today=day, settings=loyalty)
            _LAST_LIABILITY.clear()
            _LAST_LIABILITY[key] = answer
        return dict(answer)


def programme(ws) -> dict:
    """The programme as configured, with the latest snapshot's customers per tier and members per
    plan, and the points liability today."""
    loyalty = ws.settings.loyalty
    day, by_tier, by_plan = _counts(ws)
    return {
        "today": ws.today(), "as_of": day, "currency": ws.settings.workspace.currency,
        "points_per_unit": loyalty.points_per_unit, "point_value": loyalty.point_value,
        "expire_months": loyalty.expire_months, "tier_window_days": loyalty.tier_window_days,
        "tiers": [{"name": t.name, "min_spend": t.min_spend, "points_multiplier": t.points_multiplier,
                   "free_shipping": t.free_shipping, "benefits": list(t.benefits),
                   "customers": None if by_tier is None else by_tier.get(t.name, 0)} for t in loyalty.tiers],
        "rewards": [_reward(name, r) for name, r in loyalty.rewards.items()],
        "plans": [{"name": name, "period": p.period, "price": p.price, "points_multiplier": p.points_multiplier,
                   "free_shipping": p.free_shipping, "benefits": list(p.benefits),
                   "members": None if by_plan is None else by_plan.get(name, 0)} for name, p in loyalty.plans.items()],
        "liability": liability(ws),
    }
