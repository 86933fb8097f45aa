"""`tenure generate`: a realistic, deterministic synthetic shop written as export files.

The shop is simulated numerically for all customers at once (sign-ups, BG/NBD purchases,
engagement), then turned into Arrow tables chunk by chunk and written in background threads.
The same (customers, seed, start, end, timezone) always gives the same files. The
loyalty-programme events (reviews, referrals, memberships: synth/programme.py) are drawn last
from a stream of their own and written after the engagement events, so they changed no other row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa

from tenure.synth.baskets import OrderFacts, basket_chunk
from tenure.synth.calendar import make_window
from tenure.synth.catalogue import make_catalogue
from tenure.synth.columns import digits_for, fixed_strings, lookup, timestamps
from tenure.synth.engagement import make_events
from tenure.synth.output import SCHEMAS, Sink
from tenure.synth.params import (DEFAULT, EVENT_TYPES, PROGRAMME_EVENT_TYPES, S_BASKETS,
                                 S_CATALOGUE, S_CUSTOMERS, S_ENGAGEMENT, S_PURCHASES, S_STRINGS,
                                 GenerateError, stream)
from tenure.synth.people import customer_ids, customers_table, make_customers
from tenure.synth.programme import make_programme
from tenure.synth.purchases import simulate_orders

__all__ = ["GenerateError", "GenerateSummary", "customers_for_orders", "generate"]

# Rows per written chunk. Part of the output's definition: chunks draw from their own streams.
ORDER_CHUNK = 500_000
EVENT_CHUNK = 2_000_000
CUSTOMER_CHUNK = 1_000_000
DEFAULT_START, DEFAULT_END = date(2023, 1, 1), date(2025, 12, 31)

Progress = Callable[[str, int, int], None]  # (what, steps done, steps in all)


@dataclass(frozen=True)
class GenerateSummary:
    customers: int
    leads: int
    buyers: int
    orders: int
    order_items: int
    events: int
    files: dict[str, Path] = field(default_factory=dict)


def _check(customers: int, seed: int, out: Path, fmt: str, start: date, end: date, tz: str) -> None:
    if customers < 0:
        raise GenerateError(f"--customers must be 0 or more, not {customers}")
    if seed < 0:
        raise GenerateError(f"--seed must be 0 or more, not {seed}")
    if end < start:
        raise GenerateError(f"--end {end} is before --start {start}")
    if fmt not in ("parquet", "csv"):
        raise GenerateError(f"unknown format {fmt!r}", fix="use parquet or csv")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise GenerateError(f"unknown time zone {tz!r}",
                            fix="use an IANA name such as 'Europe/London'")
    if out.exists() and not out.is_dir():
        raise GenerateError(f"{out} exists and is not a folder", fix="choose another --out")


def generate(*, customers: int, seed: int, out: Path, fmt: Literal["parquet", "csv"] = "parquet",
             start: date = DEFAULT_START, end: date = DEFAULT_END, timezone: str = "UTC",
             progress: Progress | None = None) -> GenerateSummary:
    """Write customers, orders, order_items and events files for a shop of `customers` people."""
    out = Path(out)
    _check(customers, seed, out, fmt, start, end, timezone)
    report = progress or (lambda what, done, total: None)
    prm, window = DEFAULT, make_window(start, end)
    cat = make_catalogue(stream(seed, S_CATALOGUE))
    cust = make_customers(stream(seed, S_CUSTOMERS), customers, window, prm, cat)
    orders = simulate_orders(stream(seed, S_PURCHASES), cust, window, prm)
    n_orders = len(orders.t)
    order_chunks = range(0, n_orders, ORDER_CHUNK)
    cust_chunks = range(0, customers, CUSTOMER_CHUNK)
    # Events are counted only once simulated; estimate their chunks for the progress total.
    total = 2 + len(order_chunks) + len(cust_chunks) + max(1, n_orders * 3 // EVENT_CHUNK)
    done = 1
    report("simulating", done, total)

    out.mkdir(parents=True, exist_ok=True)
    sinks = {name: Sink(out, name, fmt) for name in SCHEMAS}
    try:
        visits, facts, n_items = [], [], 0
        for k, lo in enumerate(order_chunks):
            hi = min(lo + ORDER_CHUNK, n_orders)
            o_tab, i_tab, v, f = basket_chunk(stream(seed, S_BASKETS, k), lo, hi, orders, cust,
                                              cat, window, prm)
            sinks["orders"].write(o_tab)
            sinks["order_items"].write(i_tab)
            visits.append(v)
            facts.append(f)
            n_items += i_tab.num_rows
            done += 1
            report("orders", done, total)

        ev = make_events(stream(seed, S_ENGAGEMENT), cust, orders, visits, cat, window, prm)
        del visits
        extra = make_programme(seed, cust, orders, OrderFacts.join(facts), cat, window, prm)
        del facts
        n_events, n_extra = len(ev.t), len(extra.t)
        total = (done + 1 + len(range(0, n_events, EVENT_CHUNK))
                 + len(range(0, n_extra, EVENT_CHUNK)) + len(cust_chunks))
        done += 1
        report("events", done, total)
        width = digits_for(n_events + n_extra, 10)
        for lo in range(0, n_events, EVENT_CHUNK):
            hi = min(lo + EVENT_CHUNK, n_events)
            sinks["events"].write(pa.table({
                "event_id": fixed_strings(hi - lo, b"E", (np.arange(lo, hi) + 1, width)),
                "customer_id": customer_ids(customers, ev.customer[lo:hi]),
                "occurred_at": timestamps(ev.t[lo:hi], window.epoch_seconds),
                "type": lookup(pa.array(EVENT_TYPES), ev.type[lo:hi]),
                "properties": lookup(ev.vocabulary, ev.prop[lo:hi]),
            }))
            done += 1
            report("events", done, total)
        # The loyalty-programme events follow, their ids continuing after the engagement events'.
        for lo in range(0, n_extra, EVENT_CHUNK):
            hi = min(lo + EVENT_CHUNK, n_extra)
            sinks["events"].write(pa.table({
                "event_id": fixed_strings(hi - lo, b"E",
                                          (n_events + np.arange(lo, hi) + 1, width)),
                "customer_id": customer_ids(customers, extra.customer[lo:hi]),
                "occurred_at": timestamps(extra.t[lo:hi], window.epoch_seconds),
                "type": lookup(pa.array(PROGRAMME_EVENT_TYPES), extra.type[lo:hi]),
                "properties": extra.properties[lo:hi],
            }))
            done += 1
            report("events", done, total)

        for k, lo in enumerate(cust_chunks):
            hi = min(lo + CUSTOMER_CHUNK, customers)
            sinks["customers"].write(customers_table(stream(seed, S_STRINGS, k), cust, lo, hi,
                                                     ev.consent_now, window, prm, timezone))
            done += 1
            report("customers", done, total)
        files = {name: sink.close() for name, sink in sinks.items()}
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise

    buyers = int((orders.count > 0).sum())
    return GenerateSummary(customers=customers, leads=customers - buyers, buyers=buyers,
                           orders=n_orders, order_items=n_items, events=n_events + n_extra,
                           files=files)


@cache
def _orders_per_customer(start: date, end: date) -> float:
    # Self-calibrating: simulate (numbers only, no files, ~0.3 s) a sample shop with the defaults,
    # so the estimate follows any change of the parameters.
    window = make_window(start, end)
    cat = make_catalogue(stream(0, S_CATALOGUE))
    cust = make_customers(stream(0, S_CUSTOMERS), 100_000, window, DEFAULT, cat)
    return max(len(simulate_orders(stream(0, S_PURCHASES), cust, window, DEFAULT).t), 1) / cust.n


def customers_for_orders(orders: int, *, start: date = DEFAULT_START,
                         end: date = DEFAULT_END) -> int:
    """About how many customers make `orders` orders with the default parameters and window."""
    if orders < 0:
        raise GenerateError(f"--orders must be 0 or more, not {orders}")
    if end < start:
        raise GenerateError(f"--end {end} is before --start {start}")
    return int(round(orders / _orders_per_customer(start, end)))
