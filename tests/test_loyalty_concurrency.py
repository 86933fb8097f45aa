"""Fifty redemptions at once against a balance that covers ten: exactly ten are accepted, on
SQLite and on PostgreSQL (real databases, each request on its own connection and thread)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tenure.errors import LoyaltyError
from tenure.loyalty import ledger
from tenure.loyalty.settings import LoyaltySettings
from tenure.store import open_store

DAY = dt.date(2026, 3, 1)
NOW = dt.datetime(2026, 3, 1, 12)
LOYALTY = LoyaltySettings(enabled=True, rewards={"coffee": {"cost": 100}})


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path}/store.sqlite"


def test_fifty_parallel_redemptions_leave_exactly_ten(url):
    store = open_store(url)
    ledger.adjust(store, customer_id="c1", points=1_000, reason="opening balance", today=DAY, now=NOW,
                  settings=LOYALTY)
    stores = [open_store(url, migrate=False) for _ in range(50)]
    start = threading.Barrier(50)

    def attempt(i: int) -> str:
        start.wait()  # all fifty at the same moment
        try:
            ledger.redeem(stores[i], customer_id="c1", reward="coffee", idempotency_key=f"req-{i}", today=DAY,
                          now=NOW, settings=LOYALTY)
            return "accepted"
        except LoyaltyError as exc:
            return exc.reason

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    assert outcomes.count("accepted") == 10
    assert outcomes.count("insufficient") == 40
    with store.connect() as conn:
        assert ledger.balance(conn, "c1") == 0
        kinds = [h["kind"] for h in ledger.history(conn, "c1", limit=1000)]
    assert kinds.count("redeem") == 10 and len(kinds) == 11
    for s in stores:
        s.close()


def test_the_same_idempotency_key_sent_in_parallel_redeems_once(url):
    store = open_store(url)
    ledger.adjust(store, customer_id="c2", points=1_000, reason="opening balance", today=DAY, now=NOW,
                  settings=LOYALTY)
    stores = [open_store(url, migrate=False) for _ in range(20)]
    start = threading.Barrier(20)

    def attempt(i: int):
        start.wait()
        return ledger.redeem(stores[i], customer_id="c2", reward="coffee", idempotency_key="same", today=DAY,
                             now=NOW, settings=LOYALTY)

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    assert sum(not o.replayed for o in outcomes) == 1
    assert {o.entry.key for o in outcomes} == {"redeem:same"}
    with store.connect() as conn:
        assert ledger.balance(conn, "c2") == 900
    for s in stores:
        s.close()
