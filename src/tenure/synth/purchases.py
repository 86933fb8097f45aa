"""When each customer orders: a first order after sign-up, then a BG/NBD process.

After every order a buyer drops out for good with probability p; while alive, the next order
comes after an exponential gap with rate lambda, counted in seasonal operational time. The loop
runs over "the k-th order" for all still-active buyers at once, never over single orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tenure.synth.calendar import DAY, Window, from_operational, to_operational, with_time_of_day
from tenure.synth.params import Params
from tenure.synth.people import Customers

MIN_GAP = 60  # seconds between two orders of one customer


@dataclass
class Orders:
    customer: np.ndarray  # int32 customer index, orders sorted by time
    t: np.ndarray  # int64 window seconds
    count: np.ndarray  # orders per customer
    last: np.ndarray  # each customer's last order time (-1 without orders)


def first_orders(rng: np.random.Generator, cust: Customers, window: Window,
                 prm: Params) -> tuple[np.ndarray, np.ndarray]:
    """Buyers (indexes) and their first order times; a first order past the end makes a lead."""
    buyers = np.flatnonzero(~cust.never_buys)
    created = cust.created[buyers]
    same = rng.random(len(buyers)) < prm.first_same_session
    session = created + MIN_GAP + rng.exponential(900, len(buyers)).astype(np.int64)
    later = created + (rng.exponential(prm.first_delay_days, len(buyers)) * DAY).astype(np.int64)
    later = np.maximum(with_time_of_day(rng, later), created + MIN_GAP)
    t = np.where(same, session, later)
    keep = t < window.seconds
    return buyers[keep], t[keep]


def simulate_orders(rng: np.random.Generator, cust: Customers, window: Window,
                    prm: Params) -> Orders:
    who, t = first_orders(rng, cust, window, prm)
    parts_c, parts_t = [who.astype(np.int32)], [t]
    last = np.full(cust.n, -1, dtype=np.int64)
    last[who] = t
    tau = to_operational(window, t)
    end_tau = window.cum[-1]
    while len(who):
        # Dropout is decided after each order; survivors wait an exponential gap.
        alive = rng.random(len(who)) >= cust.p[who]
        who, t, tau = who[alive], t[alive], tau[alive]
        tau = tau + rng.exponential(1.0, len(who)) / cust.lam[who]
        inside = tau < end_tau
        who, t, tau = who[inside], t[inside], tau[inside]
        nxt = with_time_of_day(rng, from_operational(window, tau))
        nxt = np.maximum(nxt, t + MIN_GAP)
        inside = nxt < window.seconds
        who, t, tau = who[inside], nxt[inside], tau[inside]
        parts_c.append(who.astype(np.int32))
        parts_t.append(t)
        last[who] = t  # each customer appears once per round, so this is their latest order
    customer = np.concatenate(parts_c)
    t = np.concatenate(parts_t)
    # Chronological order (stable, so ties keep a deterministic order): order ids follow time.
    order = np.argsort(t, kind="stable")
    customer, t = customer[order], t[order]
    count = np.bincount(customer, minlength=cust.n)
    return Orders(customer, t, count, last)
