"""Loyalty-programme events: reviews, referrals and paid memberships, tied to the purchases.

They are drawn after everything else, from a stream of their own (S_PROGRAMME), using only the
simulated orders, and written after the engagement events: customers, orders, order items and
the engagement events are exactly what the same seed made before these events existed.

- review: a few days after some completed orders, more often from frequent buyers; properties
  {"order_id", "sku" (the order's first line), "rating" (1 to 5)};
- referral: the referrer's event when a friend they referred (a buyer acquired through the
  `referral` channel) places a first order; referrers are loyal customers who still buy;
  properties {"referred": the friend's customer id};
- membership_start, membership_renew, membership_cancel: a paid plan, properties
  {"plan": "plus-monthly"} or {"plan": "plus-yearly"} (the [loyalty] defaults). About
  member_share of the repeat buyers join, at one of their orders from the second on, more often
  when they buy again soon after it; they renew a month (or a year) after each payment while
  they keep buying; when they stop, some cancel during the last paid period and the others let
  it lapse.

Membership changes no order: members buy again more often because of who joins and when (those
who go on buying), which is also much of what a real programme's members-against-others
comparison shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tenure.synth.baskets import OrderFacts
from tenure.synth.calendar import DAY, Window, with_time_of_day
from tenure.synth.catalogue import Catalogue
from tenure.synth.columns import digits_for, fixed_strings, lookup
from tenure.synth.params import (CHANNELS, P_MEMBERSHIP, P_REFERRALS, P_REVIEWS, PLAN_MONTHS,
                                 PLANS, PROGRAMME_EVENT_TYPES, S_PROGRAMME, STATUSES, Params,
                                 stream)
from tenure.synth.people import Customers, customer_ids
from tenure.synth.purchases import Orders

REVIEW, REFERRAL, START, RENEW, CANCEL = range(len(PROGRAMME_EVENT_TYPES))
COMPLETED = STATUSES.index("completed")
REFERRAL_CHANNEL = CHANNELS.index("referral")
CANDIDATES = 12  # possible referrers drawn per referred friend; the first suitable one refers
PLAN_JSON = pa.array([f'{{"plan":"{plan}"}}' for plan in PLANS], pa.string())

Part = tuple[np.ndarray, np.ndarray, int, pa.Array]  # (customer, t, type, properties)


@dataclass
class ProgrammeEvents:
    customer: np.ndarray  # int32, events sorted by time
    t: np.ndarray  # int64 window seconds
    type: np.ndarray  # int8 index into PROGRAMME_EVENT_TYPES
    properties: pa.Array  # the JSON text of each event's `properties`


def make_programme(seed: int, cust: Customers, orders: Orders, facts: OrderFacts,
                   cat: Catalogue, window: Window, prm: Params) -> ProgrammeEvents:
    # Orders grouped by customer, chronological within each (the sort is stable and orders are
    # by time): the k-th order of customer c is by_customer[first[c] + k].
    by_customer = np.argsort(orders.customer, kind="stable")
    first = np.concatenate([[0], np.cumsum(orders.count)[:-1]]).astype(np.int64)
    parts = [
        _reviews(stream(seed, S_PROGRAMME, P_REVIEWS), cust, orders, facts, cat, window, prm),
        _referrals(stream(seed, S_PROGRAMME, P_REFERRALS), cust, orders, by_customer, first,
                   window, prm),
        *_memberships(stream(seed, S_PROGRAMME, P_MEMBERSHIP), orders, by_customer, first,
                      window, prm),
    ]
    customer = np.concatenate([p[0] for p in parts]).astype(np.int32)
    t = np.concatenate([p[1] for p in parts]).astype(np.int64)
    typ = np.concatenate([np.full(len(p[0]), p[2], np.int8) for p in parts])
    props = pa.concat_arrays([p[3] for p in parts])
    order = np.argsort(t, kind="stable")  # chronological; stable keeps ties deterministic
    return ProgrammeEvents(customer[order], t[order], typ[order],
                           props.take(pa.array(order.astype(np.int64))))


def _reviews(rng: np.random.Generator, cust: Customers, orders: Orders, facts: OrderFacts,
             cat: Catalogue, window: Window, prm: Params) -> Part:
    n = len(orders.t)
    who = orders.customer
    bent = rng.beta(prm.review_a, prm.review_b, cust.n)
    boost = 1 + prm.review_per_order * (np.minimum(orders.count[who], 10) - 1)
    wrote = (facts.status == COMPLETED) & (rng.random(n) < bent[who] * boost)
    idx = np.flatnonzero(wrote)
    delay = ((prm.review_min_days + rng.gamma(2.0, prm.review_days / 2, len(idx))) * DAY)
    t = with_time_of_day(rng, orders.t[idx] + delay.astype(np.int64))
    t = np.maximum(t, orders.t[idx] + DAY)
    rating = 1 + rng.choice(len(prm.rating_p), len(idx), p=np.array(prm.rating_p))
    keep = t < window.seconds
    idx, t, rating = idx[keep], t[keep], rating[keep]
    props = pc.binary_join_element_wise(
        fixed_strings(len(idx), b'{"order_id":"O', (idx + 1, digits_for(n, 9)), b'","sku":"'),
        cat.sku.take(pa.array(facts.first_product[idx])),
        fixed_strings(len(idx), b'","rating":', (rating, 1), b"}"), "")
    return who[idx], t, REVIEW, props


def _referrals(rng: np.random.Generator, cust: Customers, orders: Orders,
               by_customer: np.ndarray, first: np.ndarray, window: Window,
               prm: Params) -> Part:
    bought, repeat = orders.count >= 1, orders.count >= 2
    first_t = np.full(cust.n, -1, np.int64)
    first_t[bought] = orders.t[by_customer[first[bought]]]
    second_t = np.full(cust.n, np.iinfo(np.int64).max)
    second_t[repeat] = orders.t[by_customer[first[repeat] + 1]]
    friends = np.flatnonzero(bought & (cust.channel == REFERRAL_CHANNEL))
    friends = friends[rng.random(len(friends)) < prm.referred_by_customer]
    pool = np.flatnonzero(repeat)
    if not len(friends) or not len(pool):
        return _none(REFERRAL)
    # Candidates weighted by their orders: loyal customers refer more. A referrer had two orders
    # before the friend's first and bought in the referrer_active_days before it (or since).
    weight = np.cumsum(orders.count[pool].astype(np.float64))
    pick = np.searchsorted(weight, rng.random((len(friends), CANDIDATES)) * weight[-1],
                           side="right")
    cand = pool[pick.clip(0, len(pool) - 1)]
    ft = first_t[friends][:, None]
    ok = ((second_t[cand] < ft) & (orders.last[cand] >= ft - int(prm.referrer_active_days * DAY))
          & (cand != friends[:, None]))
    found = ok.any(axis=1)
    referrer = cand[found, ok[found].argmax(axis=1)]
    friends = friends[found]
    t = first_t[friends] + 60 + rng.integers(0, 3600, len(friends))
    keep = t < window.seconds
    referrer, friends, t = referrer[keep], friends[keep], t[keep]
    props = pc.binary_join_element_wise(
        pa.repeat(pa.scalar('{"referred":"'), len(friends)), customer_ids(cust.n, friends),
        pa.repeat(pa.scalar('"}'), len(friends)), "")
    return referrer, t, REFERRAL, props


def _memberships(rng: np.random.Generator, orders: Orders, by_customer: np.ndarray,
                 first: np.ndarray, window: Window, prm: Params) -> list[Part]:
    repeat = np.flatnonzero(orders.count >= 2)
    if not len(repeat):
        return [_none(START)]
    # Each repeat buyer's chance to join comes at one of their orders from the second on; who
    # buys again soon after it is the likelier to join.
    count = orders.count[repeat]
    k = 1 + (rng.random(len(repeat)) * (count - 1)).astype(np.int64)
    at = first[repeat] + k
    t_order = orders.t[by_customer[at]]
    next_t = np.where(k + 1 < count, orders.t[by_customer[np.minimum(at + 1, len(orders.t) - 1)]],
                      np.iinfo(np.int64).max)
    again = next_t - t_order <= int(prm.member_again_days * DAY)
    weight = np.where(again, prm.member_again_weight, 1.0)
    chance = np.minimum(prm.member_share * weight / weight.mean(), 1.0)
    joins = rng.random(len(repeat)) < chance
    member, t_order = repeat[joins], t_order[joins]
    m = len(member)
    checkout = rng.random(m) < prm.member_at_checkout
    later = with_time_of_day(
        rng, t_order + (rng.exponential(prm.member_later_days, m) * DAY).astype(np.int64))
    t0 = np.where(checkout, t_order + 60 + rng.integers(0, 600, m),
                  np.maximum(later, t_order + 3600))
    plan = (rng.random(m) < prm.member_yearly).astype(np.int64)
    # They keep paying until member_patience_days (on average) after their last order.
    quits = (np.maximum(orders.last[member], t0)
             + (rng.exponential(prm.member_patience_days, m) * DAY).astype(np.int64))
    keep = t0 < window.seconds
    member, t0, plan, quits = member[keep], t0[keep], plan[keep], quits[keep]
    months = np.array(PLAN_MONTHS)[plan]
    churn = np.array(prm.member_churn)[plan]

    parts = [(member, t0, START, lookup(PLAN_JSON, plan))]
    day = t0 // DAY
    clock = t0 - day * DAY  # renewals are charged at the clock time of the start
    paid = t0.copy()
    active = np.arange(len(member))
    while len(active):  # a loop over periods, each over all still-paying members at once
        due_day = add_months(window, day[active], months[active])
        due = due_day * DAY + clock[active]
        leaves = (due > quits[active]) | (rng.random(len(active)) < churn[active])
        cancels = leaves & (rng.random(len(active)) < prm.member_cancels)
        c = active[cancels]
        # A cancellation comes in the later part of the period that was paid last.
        t_cancel = paid[c] + ((0.3 + 0.65 * rng.random(len(c))) * (due[cancels] - paid[c])
                              ).astype(np.int64)
        ok = t_cancel < window.seconds
        parts.append((member[c[ok]], t_cancel[ok], CANCEL, lookup(PLAN_JSON, plan[c[ok]])))
        renews = ~leaves & (due < window.seconds)
        active = active[renews]
        paid[active], day[active] = due[renews], due_day[renews]
        parts.append((member[active], paid[active], RENEW, lookup(PLAN_JSON, plan[active])))
    return parts


def add_months(window: Window, day: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Window day indexes `months` calendar months later: the same day of the month, or the
    month's last day when it is shorter (31 January + 1 month = 28 or 29 February)."""
    start = np.datetime64(window.start, "D")
    date = start + day.astype("timedelta64[D]")
    month = date.astype("datetime64[M]")
    day_of_month = (date - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months.astype("timedelta64[M]")
    length = ((target + np.timedelta64(1, "M")).astype("datetime64[D]")
              - target.astype("datetime64[D]")).astype(np.int64)
    moved = target.astype("datetime64[D]") + np.minimum(day_of_month, length - 1).astype(
        "timedelta64[D]")
    return (moved - start).astype(np.int64)


def _none(kind: int) -> Part:
    return (np.zeros(0, np.int32), np.zeros(0, np.int64), kind, pa.array([], pa.string()))
