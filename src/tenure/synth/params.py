"""The knobs of the synthetic shop, in one place, and the deterministic random streams.

The defaults were tuned (see tests/test_synth.py) so that a buyer makes 3-5 orders on average,
about half of the buyers buy once, and a typical order is worth about $50.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tenure.errors import TenureError


class GenerateError(TenureError):
    """A `tenure generate` argument that cannot make a shop (negative count, empty window, ...)."""


CHANNELS = ("organic", "paid_search", "social", "referral", "email", "marketplace")
ORDER_CHANNELS = ("web", "app", "store")
STATUSES = ("completed", "cancelled", "returned")
EVENT_TYPES = ("email_open", "email_click", "site_visit", "subscribe", "unsubscribe")
# Loyalty-programme events, appended after the engagement events (synth/programme.py). The
# membership types and plan names are the [loyalty] defaults (tenure/loyalty/settings.py).
PROGRAMME_EVENT_TYPES = ("review", "referral", "membership_start", "membership_renew",
                         "membership_cancel")
PLANS = ("plus-monthly", "plus-yearly")
PLAN_MONTHS = (1, 12)


@dataclass(frozen=True)
class Params:
    # Sign-ups: the daily rate grows by this factor from the first to the last day.
    signup_growth: float = 3.0
    # Acquisition mix at the start and at the end of the window (order of CHANNELS): paid and
    # social grow, organic shrinks, so cohorts by channel differ over time.
    channel_mix_start: tuple[float, ...] = (0.38, 0.18, 0.10, 0.12, 0.08, 0.14)
    channel_mix_end: tuple[float, ...] = (0.26, 0.28, 0.18, 0.09, 0.07, 0.12)
    # Per channel: chance that a sign-up never buys, and a multiplier of the dropout probability
    # (referrals stay, marketplace and social buyers churn), so channels bring different value.
    lead_share: tuple[float, ...] = (0.24, 0.26, 0.36, 0.16, 0.22, 0.12)
    dropout_factor: tuple[float, ...] = (1.0, 1.15, 1.3, 0.7, 0.85, 1.35)
    # First order: in the sign-up session, or after an exponential delay (days).
    first_same_session: float = 0.55
    first_delay_days: float = 25.0
    # BG/NBD: lambda ~ Gamma(r, scale=1/alpha) per day, dropout p ~ Beta(a, b) after each order.
    r: float = 0.6
    alpha: float = 30.0
    a: float = 0.8
    b: float = 2.5
    # Gamma-Gamma spend: nu ~ Gamma(q, scale=1/gamma); the customer's price level is the
    # mean-one inverse-gamma (q-1)/(gamma*nu), applied to the prices of the products they pick.
    q: float = 3.5
    gamma: float = 15.0
    # Baskets: 1 + Poisson(extra_lines) lines; the order's main category is the customer's
    # favourite with fav_share, and each line comes from the main category with main_share.
    extra_lines: float = 1.5
    fav_share: float = 0.6
    main_share: float = 0.8
    price_noise: float = 0.6
    quantity_p: tuple[float, ...] = (0.68, 0.20, 0.07, 0.03, 0.01, 0.01)
    status_p: tuple[float, ...] = (0.95, 0.03, 0.02)
    channel_p: tuple[float, ...] = (0.62, 0.26, 0.12)
    channel_loyalty: float = 0.8
    # Contacts: consent chances, phone share, and the share living in the shop's own zone.
    consent_lead: float = 0.85
    consent_buyer: float = 0.55
    consent_sms: float = 0.25
    phone_share: float = 0.7
    home_zone_share: float = 0.85
    # Newsletter: open propensity ~ Beta, click given open, unsubscribe given open, and the
    # factor on opens once a customer stopped buying (or a lead went cold): engagement decays.
    open_a: float = 0.7
    open_b: float = 2.2
    click_rate: float = 0.2
    unsubscribe_rate: float = 0.02
    cold_factor: float = 0.35
    cold_after_days: float = 120.0
    # Site visits: share of orders preceded by a visit, and browsing visits per customer.
    visit_before_order: float = 0.4
    browse_base: float = 0.3
    browse_per_order: float = 0.15
    # Reviews, a few days after some completed orders: a reviewing bent per customer ~ Beta,
    # raised by this share per order the customer makes in all (up to 10): frequent buyers
    # review more. Delay after the order ~ review_min_days + Gamma(2, review_days / 2).
    review_a: float = 0.6
    review_b: float = 12.0
    review_per_order: float = 0.1
    review_min_days: float = 2.0
    review_days: float = 5.0
    rating_p: tuple[float, ...] = (0.05, 0.04, 0.09, 0.25, 0.57)  # 1..5 stars
    # Referrals: this share of the buyers acquired through the `referral` channel was referred
    # by a loyal customer (2+ orders before the friend's first, bought in the last
    # referrer_active_days); the referrer's `referral` event comes with the friend's first order.
    referred_by_customer: float = 0.5
    referrer_active_days: float = 180.0
    # Paid membership: about member_share of the repeat buyers join, at one of their orders from
    # the second on (at checkout, or some days later). Joining goes with buying again: a buyer
    # who orders again within member_again_days of that order is member_again_weight times as
    # likely to join (the members' higher repeat rate). A share takes the yearly plan. Members
    # renew while they keep buying: until member_patience_days (mean, exponential) after their
    # last order, and each period they also leave with the plan's churn; a leaving member
    # cancels (member_cancels) or lets the membership lapse.
    member_share: float = 0.07
    member_again_weight: float = 3.0
    member_again_days: float = 90.0
    member_at_checkout: float = 0.6
    member_later_days: float = 4.0
    member_yearly: float = 0.3
    member_patience_days: float = 150.0
    member_churn: tuple[float, ...] = (0.03, 0.15)  # per period, by plan (PLANS)
    member_cancels: float = 0.6


DEFAULT = Params()

# Stream ids: each part of the shop draws from its own stream, so changing one part does not
# reshuffle the others, and chunked parts get one stream per chunk (deterministic for a seed).
S_CATALOGUE, S_CUSTOMERS, S_PURCHASES, S_BASKETS, S_ENGAGEMENT, S_STRINGS = range(6)
# The loyalty-programme events draw last, from their own stream (one sub-stream per kind), so
# adding them changed none of the files or rows made before them.
S_PROGRAMME = 6
P_REVIEWS, P_REFERRALS, P_MEMBERSHIP = range(3)


def stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
