"""What the loyalty programme looks like on a day: members against non-members, their cohort
retention, and the spend tiers. Pure Ibis: nothing here executes or reads the clock.

Definitions (docs/report.md, "Loyalty"):
- members: customers whose `membership` on the snapshot's day is `member` or `cancelled` (a
  cancelled membership keeps its benefits to the end of the paid period: ACTIVE); non-members:
  every other customer of the snapshot (`lapsed`, `none`), leads included;
- the comparison counts completed orders (status completed, amount > 0) of the last
  WINDOW_DAYS days ending with the day: buyers bought at least once in them, repeat buyers at
  least twice (two orders, even on the same day); repeat rate = repeat buyers / buyers, spend
  per customer = spend / customers, per buyer = spend / buyers, average order value = spend /
  orders, orders per buyer = orders / buyers;
- cohort retention: the cohort table of analytics/cohorts.py restricted to each group's orders,
  pooled over cohorts (weighted by size): in month m after the first purchase, the share of the
  group's buyers who bought in that calendar month, counting only cohorts whose month m is over
  by the day (a month still running would pull the share down);
- tiers: customers per tier, their spend of the last 365 days (`spend_365`), and the share
  close to the next tier: `spend_to_next_tier` under NEAR_NEXT_TIER (10%) of the next tier's
  `min_spend` (e.g. under 50 to silver at 500). The top tier has no next tier.

The snapshot lives in its own DuckDB (history.py), the orders in the warehouse: functions that
need both take `groups`, the snapshot's (customer_id, group) brought to the warehouse's backend
by the caller (tenure.warehouse.backends.frame_table), as every cross-store join here is.
"""

from __future__ import annotations

import calendar
import datetime as dt

import ibis
import ibis.expr.types as ir

from tenure.analytics.cohorts import cohort_retention
from tenure.analytics.features import Tables, end_of, purchases
from tenure.analytics.membership import ACTIVE

MEMBERS, NON_MEMBERS = "members", "non-members"
GROUPS = (MEMBERS, NON_MEMBERS)
WINDOW_DAYS = 365
NEAR_NEXT_TIER = 0.10
RETENTION_MONTHS = 12


def member_groups(snapshot: ir.Table) -> ir.Table:
    """customer_id, group: `members` (membership in ACTIVE on the snapshot's day) or `non-members`."""
    member = snapshot.membership.isin(list(ACTIVE))
    return snapshot.select("customer_id", group=ibis.ifelse(member.fill_null(False), MEMBERS, NON_MEMBERS))


def _group_names() -> ir.Table:
    return ibis.memtable({"group": list(GROUPS), "group_rank": list(range(len(GROUPS)))})


def window_orders(tables: Tables, *, as_of: dt.date, days: int = WINDOW_DAYS) -> ir.Table:
    """customer_id, orders, spend: completed orders of the `days` days ending with `as_of`."""
    start = ibis.timestamp(dt.datetime.combine(as_of - dt.timedelta(days=days - 1), dt.time()))
    p = purchases(tables, as_of)
    p = p.filter(p.ordered_at >= start, p.ordered_at < end_of(as_of))
    return p.group_by("customer_id").aggregate(orders=p.count(), spend=p.amount.sum().cast("float64"))


def member_comparison(tables: Tables, groups: ir.Table, *, as_of: dt.date, days: int = WINDOW_DAYS) -> ir.Table:
    """One row per group (members first, both always present): customers, buyers, repeat_buyers,
    orders, spend, repeat_rate, spend_per_customer, spend_per_buyer, average_order_value,
    orders_per_buyer over the `days` days ending with `as_of`. A ratio without a denominator is null."""
    w = window_orders(tables, as_of=as_of, days=days)
    j = groups.left_join(w, "customer_id").select(~ibis.selectors.endswith("_right"))
    orders = ibis.coalesce(j.orders, 0)
    spend = ibis.coalesce(j.spend, 0.0)
    agg = j.group_by("group").aggregate(
        customers=j.count(), buyers=(orders > 0).sum(), repeat_buyers=(orders >= 2).sum(),
        orders=orders.sum(), spend=spend.sum())
    k = _group_names().left_join(agg, "group").select(~ibis.selectors.endswith("_right"))
    customers, buyers = ibis.coalesce(k.customers, 0), ibis.coalesce(k.buyers, 0)
    repeat, n_orders = ibis.coalesce(k.repeat_buyers, 0), ibis.coalesce(k.orders, 0)
    money = ibis.coalesce(k.spend, 0.0).cast("float64")

    def ratio(top, bottom):
        return ibis.ifelse(bottom > 0, top.cast("float64") / bottom.cast("float64"), ibis.null("float64"))

    return k.select(
        "group", customers=customers.cast("int64"), buyers=buyers.cast("int64"),
        repeat_buyers=repeat.cast("int64"), orders=n_orders.cast("int64"), spend=money,
        repeat_rate=ratio(repeat, buyers), spend_per_customer=ratio(money, customers),
        spend_per_buyer=ratio(money, buyers), average_order_value=ratio(money, n_orders),
        orders_per_buyer=ratio(n_orders, buyers), group_rank=k.group_rank,
    ).order_by("group_rank").drop("group_rank")


def last_complete_month(as_of: dt.date) -> int:
    """The month index (cohorts.month_index) of the last calendar month that is over by the end of `as_of`."""
    index = as_of.year * 12 + as_of.month - 1
    return index if as_of.day == calendar.monthrange(as_of.year, as_of.month)[1] else index - 1


def _month_of(label: ir.StringValue) -> ir.IntegerValue:
    """cohorts.month_label's 'YYYY-MM' back to its month index."""
    return label.substr(0, 4).cast("int64") * 12 + label.substr(5, 2).cast("int64") - 1


def member_cohort_retention(tables: Tables, groups: ir.Table, *, as_of: dt.date,
                            months: int = RETENTION_MONTHS) -> ir.Table:
    """group, month (1..months), cohorts, customers, active_customers, retention: each group's
    cohort table (cohorts.cohort_retention on its customers' orders) pooled over the cohorts
    whose month `month` is complete by `as_of`. Months no cohort has reached are absent."""
    last = last_complete_month(as_of)
    parts = []
    for name in GROUPS:
        ids = groups.filter(groups.group == name).select("customer_id")
        o = tables.orders
        own = Tables(tables.customers, o.semi_join(ids, o.customer_id == ids.customer_id), tables.events)
        r = cohort_retention(own, as_of=as_of)
        r = r.filter(r.month >= 1, r.month <= months, _month_of(r.cohort) + r.month <= last)
        pooled = r.group_by("month").aggregate(
            cohorts=r.count(), customers=r.cohort_size.sum(), active_customers=r.active_customers.sum())
        parts.append(pooled.mutate(group=ibis.literal(name), group_rank=GROUPS.index(name)))
    u = ibis.union(*parts)
    return u.select(
        "group", u.month.cast("int64").name("month"), u.cohorts.cast("int64").name("cohorts"),
        u.customers.cast("int64").name("customers"), u.active_customers.cast("int64").name("active_customers"),
        retention=u.active_customers.cast("float64") / u.customers.cast("float64"), group_rank=u.group_rank,
    ).order_by("group_rank", "month").drop("group_rank")


def _tiers(loyalty) -> ir.Table:
    tiers = loyalty.tiers
    nxt = [*tiers[1:], None]
    return ibis.memtable({
        "tier": [t.name for t in tiers], "tier_rank": list(range(len(tiers))),
        "min_spend": [float(t.min_spend) for t in tiers],
        "next_name": [n.name if n else None for n in nxt],
        "next_min": [float(n.min_spend) if n else None for n in nxt],
    }, schema={"tier": "string", "tier_rank": "int64", "min_spend": "float64", "next_name": "string",
               "next_min": "float64"})


def tier_table(snapshot: ir.Table, *, loyalty, near: float = NEAR_NEXT_TIER) -> ir.Table:
    """One row per tier of the settings, lowest first (empty tiers too): tier, min_spend,
    next_tier, customers, share, members, spend_365, spend_365_per_customer, near_next (customers
    whose spend_to_next_tier is under `near` x the next tier's min_spend) and near_next_share
    (null for the top tier). A tier the settings no longer name is listed after them."""
    t = _tiers(loyalty)
    s = snapshot.select("customer_id", "tier", "spend_365", "spend_to_next_tier", "membership")
    s = s.left_join(t.select("tier", "next_min"), "tier").select(~ibis.selectors.endswith("_right"))
    close = s.spend_to_next_tier.notnull() & s.next_min.notnull() & (s.spend_to_next_tier < s.next_min * near)
    agg = s.group_by("tier").aggregate(
        customers=s.count(), members=s.membership.isin(list(ACTIVE)).fill_null(False).sum(),
        spend_365=ibis.coalesce(s.spend_365, 0.0).sum().cast("float64"), near_next=close.sum())
    j = t.outer_join(agg, t.tier == agg.tier)
    tier = ibis.coalesce(j.tier, j.tier_right)
    customers = ibis.coalesce(j.customers, 0).cast("int64")
    spend = ibis.coalesce(j.spend_365, 0.0)
    near_next = ibis.coalesce(j.near_next, 0).cast("int64")
    out = j.select(
        tier=tier, min_spend=j.min_spend, next_tier=j.next_name, customers=customers,
        share=customers.cast("float64") / ibis.greatest(customers.sum().over(), 1).cast("float64"),
        members=ibis.coalesce(j.members, 0).cast("int64"), spend_365=spend,
        spend_365_per_customer=ibis.ifelse(customers > 0, spend / customers.cast("float64"), ibis.null("float64")),
        near_next=near_next,
        near_next_share=ibis.ifelse(j.next_name.notnull() & (customers > 0),
                                    near_next.cast("float64") / customers.cast("float64"), ibis.null("float64")),
        rank=ibis.coalesce(j.tier_rank, len(loyalty.tiers)),
    )
    return out.order_by("rank", "tier").drop("rank")


def membership_mix(snapshot: ir.Table) -> ir.Table:
    """membership, membership_plan, customers: how the snapshot's customers hold a paid plan."""
    s = snapshot
    return s.group_by(membership=ibis.coalesce(s.membership, "none"), membership_plan=s.membership_plan).aggregate(
        customers=s.count()).order_by("membership", "membership_plan")
