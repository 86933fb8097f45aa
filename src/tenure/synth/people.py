"""Customers: who signs up when, through which channel, and their hidden traits.

Customer ids follow sign-up time (C0000001 is the first to register), as a shop's own ids do.
Hidden traits (purchase rate, dropout, price level, favourite category, open propensity) drive
the purchases and the engagement generated from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tenure.synth.calendar import DAY, Window, sample_days, time_of_day
from tenure.synth.catalogue import Catalogue
from tenure.synth.columns import digits_for, fixed_strings, lookup, timestamps, with_nulls
from tenure.synth.params import CHANNELS, ORDER_CHANNELS, Params

# Other zones customers live in, with their country (the attribute column `country`).
ZONES = (("America/New_York", "US"), ("America/Chicago", "US"), ("America/Los_Angeles", "US"),
         ("America/Toronto", "CA"), ("Europe/London", "GB"), ("Europe/Berlin", "DE"),
         ("Europe/Paris", "FR"), ("Europe/Madrid", "ES"), ("Australia/Sydney", "AU"),
         ("Asia/Tokyo", "JP"))
FIRST = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
         "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy "
         "Anthony Sandra Mark Ashley Paul Emily Steven Donna Andrew Michelle Joshua Carol Kevin "
         "Amanda Brian Melissa Olivia Liam Emma Noah Ava Lucas Mia Ethan Sofia Mateo Chloe Leo "
         "Amara Yuki Priya Omar Fatima Lukas Elena Hugo").split()
LAST = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
        "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
        "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
        "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
        "Roberts Müller Schmidt Dubois Rossi Tanaka Sato Patel Kowalski Novak O'Brien").split()


@dataclass
class Customers:
    n: int
    created: np.ndarray  # window seconds, ascending
    channel: np.ndarray  # index into CHANNELS
    never_buys: np.ndarray  # designated leads (a first order past the end also makes a lead)
    consent: np.ndarray  # consent_email at sign-up
    lam: np.ndarray  # purchases per (operational) day
    p: np.ndarray  # dropout probability after each order
    log_level: np.ndarray  # log price level (Gamma-Gamma)
    fav_cat: np.ndarray
    order_channel: np.ndarray  # preferred sales channel
    open_prop: np.ndarray


def make_customers(rng: np.random.Generator, n: int, window: Window, prm: Params,
                   catalogue: Catalogue) -> Customers:
    growth = np.exp(np.log(prm.signup_growth) * np.arange(window.days) / max(window.days - 1, 1))
    created = sample_days(rng, growth * window.activity, n) * DAY + time_of_day(rng, n)
    created.sort()
    # Acquisition mix drifts linearly over the window.
    x = (created / window.seconds)[:, None]
    mix = (1 - x) * np.array(prm.channel_mix_start) + x * np.array(prm.channel_mix_end)
    cdf = np.cumsum(mix, axis=1)
    channel = (rng.random(n)[:, None] * cdf[:, -1:] > cdf).sum(axis=1).astype(np.int8)
    never_buys = rng.random(n) < np.array(prm.lead_share)[channel]
    consent = rng.random(n) < np.where(never_buys, prm.consent_lead, prm.consent_buyer)
    lam = rng.gamma(prm.r, 1.0 / prm.alpha, n)
    p = np.minimum(rng.beta(prm.a, prm.b, n) * np.array(prm.dropout_factor)[channel], 0.98)
    nu = rng.gamma(prm.q, 1.0 / prm.gamma, n)
    log_level = np.log((prm.q - 1) / (prm.gamma * nu))
    fav_cat = rng.choice(len(catalogue.cat_popularity), n, p=catalogue.cat_popularity)
    order_channel = rng.choice(len(ORDER_CHANNELS), n, p=np.array(prm.channel_p))
    open_prop = rng.beta(prm.open_a, prm.open_b, n)
    return Customers(n, created, channel, never_buys, consent, lam, p, log_level,
                     fav_cat.astype(np.int16), order_channel.astype(np.int8), open_prop)


def customer_ids(n: int, index: np.ndarray) -> pa.Array:
    return fixed_strings(len(index), b"C", (np.asarray(index) + 1, digits_for(n, 7)))


def customers_table(rng: np.random.Generator, cust: Customers, lo: int, hi: int,
                    consent_now: np.ndarray, window: Window, prm: Params,
                    home_zone: str) -> pa.Table:
    """Rows lo..hi of customers.<ext>; contact details are drawn here, per slice."""
    m = hi - lo
    idx = np.arange(lo, hi)
    width = digits_for(cust.n, 7)
    zones = [home_zone] + [z for z, _ in ZONES if z != home_zone]
    home_country = dict(ZONES).get(home_zone, "US")
    countries = [home_country] + [c for z, c in ZONES if z != home_zone]
    away = rng.random(m) >= prm.home_zone_share
    zone = np.where(away, rng.integers(1, len(zones), m), 0)
    name = pc.binary_join_element_wise(lookup(pa.array(FIRST), rng.integers(0, len(FIRST), m)),
                                       lookup(pa.array(LAST), rng.integers(0, len(LAST), m)), " ")
    phone = fixed_strings(m, b"+1 555-", (rng.integers(0, 1000, m), 3), b"-",
                          (rng.integers(0, 10_000, m), 4))
    return pa.table({
        "customer_id": fixed_strings(m, b"C", (idx + 1, width)),
        "email": fixed_strings(m, b"c", (idx + 1, width), b"@example.com"),
        "phone": with_nulls(phone, rng.random(m) < prm.phone_share),
        "name": name,
        "created_at": timestamps(cust.created[lo:hi], window.epoch_seconds),
        "consent_email": pa.array(consent_now[lo:hi]),
        "consent_sms": pa.array(rng.random(m) < prm.consent_sms),
        "acquisition_channel": lookup(pa.array(CHANNELS), cust.channel[lo:hi]),
        "timezone": lookup(pa.array(zones), zone),
        "country": lookup(pa.array(countries), zone),
    })
