"""What is in each order: lines, products, quantities, prices; and the order's status and channel.

Items are drawn first and the amount is their sum in integer cents, so orders and items agree
exactly. Each order has a main category (usually the customer's favourite) and most lines come
from it, which gives co-purchase structure; products are picked near the customer's price level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tenure.synth.calendar import DAY, Window
from tenure.synth.catalogue import Catalogue, pick_products
from tenure.synth.columns import digits_for, fixed_strings, lookup, timestamps
from tenure.synth.params import ORDER_CHANNELS, STATUSES, Params
from tenure.synth.people import Customers, customer_ids
from tenure.synth.purchases import Orders

MAX_LINES = 12


@dataclass
class Visits:
    """Site visits shortly before orders (numeric; they join the events later)."""

    customer: np.ndarray
    t: np.ndarray
    product: np.ndarray


@dataclass
class OrderFacts:
    """What the loyalty-programme events need of a chunk's orders (reviews name a product)."""

    status: np.ndarray  # int8 index into STATUSES
    first_product: np.ndarray  # int32 product of the order's first line

    @staticmethod
    def join(chunks: list[OrderFacts]) -> OrderFacts:
        return OrderFacts(np.concatenate([c.status for c in chunks] + [np.zeros(0, np.int8)]),
                          np.concatenate([c.first_product for c in chunks]
                                         + [np.zeros(0, np.int32)]))


def basket_chunk(rng: np.random.Generator, lo: int, hi: int, orders: Orders, cust: Customers,
                 cat: Catalogue, window: Window,
                 prm: Params) -> tuple[pa.Table, pa.Table, Visits, OrderFacts]:
    m = hi - lo
    who = orders.customer[lo:hi]
    t = orders.t[lo:hi]
    n_lines = np.minimum(1 + rng.poisson(prm.extra_lines, m), MAX_LINES)
    starts = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    n_items = int(n_lines.sum())
    owner = np.repeat(np.arange(m), n_lines)  # order (within chunk) of each line
    line = np.arange(n_items) - starts[owner] + 1

    n_cat = len(cat.cat_popularity)
    main = np.where(rng.random(m) < prm.fav_share, cust.fav_cat[who],
                    rng.choice(n_cat, m, p=cat.cat_popularity))
    line_cat = np.where(rng.random(n_items) < prm.main_share, main[owner],
                        rng.choice(n_cat, n_items, p=cat.cat_popularity))
    log_price = (cat.cat_log_median[line_cat] + cust.log_level[who][owner]
                 + rng.normal(0.0, prm.price_noise, n_items))
    product = pick_products(cat, line_cat, log_price)
    quantity = 1 + rng.choice(len(prm.quantity_p), n_items, p=np.array(prm.quantity_p))
    cents = cat.cents[product]
    amount_cents = np.add.reduceat(cents * quantity, starts)

    status = rng.choice(len(STATUSES), m, p=np.array(prm.status_p))
    loyal = rng.random(m) < prm.channel_loyalty
    channel = np.where(loyal, cust.order_channel[who],
                       rng.choice(len(ORDER_CHANNELS), m, p=np.array(prm.channel_p)))

    ids = fixed_strings(m, b"O", (np.arange(lo, hi) + 1, digits_for(len(orders.t), 9)))
    orders_tab = pa.table({
        "order_id": ids,
        "customer_id": customer_ids(cust.n, who),
        "ordered_at": timestamps(t, window.epoch_seconds),
        "status": lookup(pa.array(STATUSES), status),
        "amount": pa.array(amount_cents / 100.0),
        "currency": pa.repeat(pa.scalar("USD"), m),
        "channel": lookup(pa.array(ORDER_CHANNELS), channel),
    })
    items_tab = pa.table({
        "order_id": ids.take(pa.array(owner.astype(np.int32))),
        "line": pa.array(line.astype(np.int32)),
        "sku": cat.sku.take(pa.array(product.astype(np.int32))),
        "name": cat.name.take(pa.array(product.astype(np.int32))),
        "quantity": pa.array(quantity.astype(np.int32)),
        "unit_price": pa.array(cents / 100.0),
    })

    # Some orders follow a visit to the page of their first product, minutes to days before.
    seen = rng.random(m) < prm.visit_before_order
    lead_time = (rng.exponential(0.6, m) * DAY).astype(np.int64) + 30
    visit_t = np.maximum(t - lead_time, cust.created[who])
    visits = Visits(who[seen], visit_t[seen], product[starts][seen])
    facts = OrderFacts(status.astype(np.int8), product[starts].astype(np.int32))
    return orders_tab, items_tab, visits, facts
