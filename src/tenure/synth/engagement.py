"""Events: subscriptions, the monthly newsletter's opens/clicks/unsubscribes, and site visits.

Engagement is tied to buying: a customer who stopped buying (or a lead who never started) opens
less after `cold_after_days`, which is what a sunset policy looks for. An unsubscribe always
follows an open of the same newsletter and ends all later opens; consent_email in the customers
export is the state after it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tenure.synth.baskets import Visits
from tenure.synth.calendar import DAY, Window, month_sends
from tenure.synth.catalogue import Catalogue
from tenure.synth.params import EVENT_TYPES, Params
from tenure.synth.people import Customers
from tenure.synth.purchases import Orders

OPEN, CLICK, VISIT, SUBSCRIBE, UNSUBSCRIBE = range(len(EVENT_TYPES))


@dataclass
class Events:
    customer: np.ndarray  # int32, events sorted by time
    t: np.ndarray
    type: np.ndarray  # int8 index into EVENT_TYPES
    prop: np.ndarray  # int32 index into `vocabulary`
    vocabulary: pa.Array  # the JSON texts of `properties`
    consent_now: np.ndarray  # consent_email after unsubscribes, per customer


def _json(**kv: str) -> str:
    return json.dumps(kv, separators=(",", ":"))


def make_events(rng: np.random.Generator, cust: Customers, orders: Orders, visits: list[Visits],
                cat: Catalogue, window: Window, prm: Params) -> Events:
    sends, campaigns = month_sends(window)
    # Properties vocabulary: [signup] + one per campaign + one per product page.
    vocab = [_json(source="signup")] + [_json(campaign=c) for c in campaigns]
    url0 = len(vocab)
    vocab += [_json(url=f"/p/{sku}") for sku in cat.sku.to_pylist()]
    parts: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]] = []  # (customer, t, type, prop)

    subs = np.flatnonzero(cust.consent)
    parts.append((subs, cust.created[subs] + 1, SUBSCRIBE, np.zeros(len(subs), np.int64)))
    # When a customer goes cold: their last order (or their sign-up) plus cold_after_days.
    cold_at = np.where(orders.last >= 0, orders.last, cust.created) + int(prm.cold_after_days * DAY)
    unsubscribed = np.zeros(cust.n, dtype=bool)
    for k, send in enumerate(sends):  # a loop over months, each over all recipients at once
        reach = subs[: np.searchsorted(cust.created[subs], send)]
        reach = reach[~unsubscribed[reach]]
        p_open = cust.open_prop[reach] * np.where(send > cold_at[reach], prm.cold_factor, 1.0)
        opened = reach[rng.random(len(reach)) < p_open]
        t_open = send + 30 + (rng.exponential(5 * 3600, len(opened))).astype(np.int64)
        ok = t_open < window.seconds
        opened, t_open = opened[ok], t_open[ok]
        prop = np.full(len(opened), 1 + k)
        parts.append((opened, t_open, OPEN, prop))
        clicked = rng.random(len(opened)) < prm.click_rate
        t_click = t_open + 5 + rng.exponential(90, len(opened)).astype(np.int64)
        ok = clicked & (t_click < window.seconds)
        parts.append((opened[ok], t_click[ok], CLICK, prop[ok]))
        # Readers who unsubscribe do it instead of clicking through.
        leaving = ~clicked & (rng.random(len(opened)) < prm.unsubscribe_rate)
        t_leave = t_open + 10 + rng.exponential(60, len(opened)).astype(np.int64)
        ok = leaving & (t_leave < window.seconds)
        parts.append((opened[ok], t_leave[ok], UNSUBSCRIBE, prop[ok]))
        unsubscribed[opened[ok]] = True

    for v in visits:  # visits just before orders, found while making baskets
        parts.append((v.customer, v.t, VISIT, url0 + v.product))
    # Browsing: a few visits spread over the time a customer is engaged.
    n_browse = rng.poisson(prm.browse_base + prm.browse_per_order * orders.count)
    who = np.repeat(np.arange(cust.n), n_browse)
    lo = cust.created[who]
    hi = np.minimum(np.maximum(orders.last[who], lo) + 180 * DAY, window.seconds - 1)
    t = lo + (rng.random(len(who)) * (hi - lo)).astype(np.int64)
    fav = cust.fav_cat[who]
    span = cat.cat_stop[fav] - cat.cat_start[fav]
    product = cat.cat_start[fav] + (rng.random(len(who)) * span).astype(np.int64)
    parts.append((who, t, VISIT, url0 + product))

    customer = np.concatenate([p[0] for p in parts]).astype(np.int32)
    t = np.concatenate([p[1] for p in parts]).astype(np.int64)
    typ = np.concatenate([np.full(len(p[0]), p[2], np.int8) for p in parts])
    prop = np.concatenate([p[3] for p in parts]).astype(np.int32)
    order = np.argsort(t, kind="stable")  # chronological; stable keeps ties deterministic
    return Events(customer[order], t[order], typ[order], prop[order],
                  pa.array(vocab, pa.string()), cust.consent & ~unsubscribed)
