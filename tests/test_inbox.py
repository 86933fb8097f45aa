"""The ingest API's inbox: a batch is checked by the file ingest's rules, its good items wait in
the operational store (SQLite or PostgreSQL) and a run loads them, each exactly once."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenure import Workspace
from tenure.ingest import inbox

NOW = dt.datetime(2026, 1, 1, 12, 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def ws(request, tmp_path, monkeypatch):
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("TENURE_STORE_URL", url)
    return Workspace.init(tmp_path / "ws")


def receive(ws, entity, items):
    return inbox.receive(ws.store, entity, items, now=NOW, timezone="UTC", currency="USD")


def count(ws, sql):
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_good_items_land_bad_ones_are_reported_by_index(ws):
    r = receive(ws, "orders", [
        {"order_id": "A", "customer_id": "c1", "ordered_at": "2025-06-01T10:00:00+02:00", "amount": 10},
        {"order_id": "B", "customer_id": "c1", "ordered_at": "yesterday", "amount": 5},
        {"order_id": "C", "customer_id": "c2", "ordered_at": "2025-06-02", "amount": "12,50 EUR"},
        {"order_id": "D", "customer_id": "c2", "ordered_at": "2027-01-01", "amount": 1},
        {"order_id": "E", "customer_id": "c3", "ordered_at": "2025-06-03", "amount": 7, "status": "refunded"},
    ])
    assert [(x["index"], x["reason"]) for x in r.rejected] == [
        (1, "unparseable date"), (2, "amount is not a number"), (3, "date after the ingest time")]
    assert (r.received, r.accepted, r.duplicates) == (5, 2, 0)
    assert inbox.pending(ws.store) == {"orders": 2}
    loaded = ws.load_inbox(now=NOW)
    assert loaded["orders"]["items"] == 2 and inbox.pending(ws.store) == {}
    assert count(ws, "SELECT count(*) FROM orders") == 2
    # Zoned times are converted to the workspace's zone (UTC here), like a file's.
    assert count(ws, "SELECT ordered_at FROM orders WHERE order_id = 'A'") == dt.datetime(2025, 6, 1, 8, 0)
    assert count(ws, "SELECT status FROM orders WHERE order_id = 'E'") == "returned"


def test_a_repeat_is_stored_once_and_loaded_once(ws):
    batch = [{"customer_id": "c1", "email": "A@Example.com", "attributes": {"tier": "gold", "vip": True}},
             {"customer_id": "c2", "consent_email": "yes"}]
    first, again = receive(ws, "customers", batch), receive(ws, "customers", batch)
    assert (first.accepted, first.duplicates, again.accepted, again.duplicates) == (2, 0, 2, 2)
    assert inbox.pending(ws.store) == {"customers": 2}
    ws.load_inbox(now=NOW)
    receive(ws, "customers", batch)  # once loaded, a repeat waits again and is a re-delivery
    second = ws.load_inbox(now=NOW)["customers"]
    assert second["rows"] == {"updated": 0} or second["rows"].get("loaded", 0) == 0
    assert count(ws, "SELECT count(*) FROM customers") == 2
    assert count(ws, "SELECT email FROM customers WHERE customer_id = 'c1'") == "a@example.com"
    assert count(ws, "SELECT attributes->>'tier' FROM customers WHERE customer_id = 'c1'") == "gold"
    receive(ws, "customers", [{"customer_id": "c1", "email": "new@example.com"}])  # an update
    ws.load_inbox(now=NOW)
    assert count(ws, "SELECT email FROM customers WHERE customer_id = 'c1'") == "new@example.com"


def test_a_conflict_found_at_load_goes_to_the_quarantine_with_its_reason(ws):
    receive(ws, "orders", [{"order_id": "A", "customer_id": "c1", "ordered_at": "2025-06-01", "amount": 10}])
    ws.load_inbox(now=NOW)
    r = receive(ws, "orders", [{"order_id": "A", "customer_id": "c1", "ordered_at": "2025-06-01", "amount": 99}])
    assert r.accepted == 1  # the batch alone is fine; the conflict is with stored data
    loaded = ws.load_inbox(now=NOW)["orders"]
    assert loaded["reasons"] == {"conflicts with an order already loaded": 1}
    assert count(ws, "SELECT amount FROM orders WHERE order_id = 'A'") == 10
    assert count(ws, "SELECT count(*) FROM quarantine WHERE reason = 'conflicts with an order already loaded'") == 1


EVENT = st.fixed_dictionaries({
    "customer_id": st.one_of(st.text(min_size=1, max_size=6), st.integers(0, 10**6)),
    "occurred_at": st.one_of(st.dates(dt.date(2020, 1, 1), dt.date(2027, 12, 31)).map(str),
                             st.text(max_size=12)),
    "type": st.one_of(st.sampled_from(["site_visit", "review", "email_open"]), st.text(max_size=8)),
}, optional={"event_id": st.text(min_size=1, max_size=8),
             "properties": st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3)})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(EVENT, min_size=1, max_size=30))
def test_every_item_is_accepted_or_rejected_once_and_what_is_accepted_loads(tmp_path_factory, items):
    ws = Workspace.init(tmp_path_factory.mktemp("hyp") / "ws")
    r = receive(ws, "events", items)
    indexes = [x["index"] for x in r.rejected]
    assert len(indexes) == len(set(indexes)) and all(0 <= i < len(items) for i in indexes)
    assert r.accepted + len(r.rejected) == r.received == len(items)
    loaded = ws.load_inbox(now=NOW).get("events", {"rows": {}, "read": 0, "reasons": {}})
    assert loaded["read"] == r.accepted - r.duplicates
    # Accepted items pass the batch's checks, so only stored-data conflicts (none here: the
    # warehouse was empty) or repeats inside the batch may be set aside at load.
    assert set(loaded["reasons"]) <= {"conflicts with an earlier row of this ingest"}


def test_two_updates_of_a_customer_posted_before_a_run_both_apply_in_order(ws):
    receive(ws, "customers", [{"customer_id": "c1", "email": "first@example.com", "phone": "+1 555"}])
    receive(ws, "customers", [{"customer_id": "c1", "email": "second@example.com"}])
    loaded = ws.load_inbox(now=NOW)["customers"]
    assert loaded["items"] == 2 and len(loaded["runs"]) == 2 and loaded["reasons"] == {}
    assert count(ws, "SELECT email || ' ' || phone FROM customers WHERE customer_id = 'c1'") == "second@example.com +1 555"


def test_an_orders_lines_arrive_with_it_and_a_bad_line_refuses_its_order(ws):
    ok = {"order_id": "A", "customer_id": "c1", "ordered_at": "2025-06-01", "amount": 25,
          "lines": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": 7.5},
                    {"sku": "TEA", "quantity": "1", "unit_price": "10"}]}
    bad = {"order_id": "B", "customer_id": "c1", "ordered_at": "2025-06-02", "amount": 5,
           "lines": [{"sku": "PEN", "quantity": 1, "unit_price": 5}, {"sku": "INK", "quantity": 1, "unit_price": "free"}]}
    bare = {"order_id": "C", "customer_id": "c2", "ordered_at": "2025-06-03", "amount": 9}
    r = receive(ws, "orders", [ok, bad, bare])
    assert [(x["index"], x["reason"], x["detail"]) for x in r.rejected] == [
        (1, "price is not a number", "lines[1]: unit_price=free")]
    assert r.accepted == 2
    loaded = ws.load_inbox(now=NOW)
    assert loaded["orders"]["items"] == 2 and loaded["order_items"]["items"] == 2
    lines = duckdb.connect(str(ws.warehouse_path), read_only=True).execute(
        "SELECT order_id, line, sku, name, quantity, unit_price FROM order_items ORDER BY line").fetchall()
    assert [(o, n, s, nm, float(q), float(p)) for o, n, s, nm, q, p in lines] == [
        ("A", 1, "MUG", "Mug", 2.0, 7.5), ("A", 2, "TEA", None, 1.0, 10.0)]
    assert count(ws, "SELECT count(*) FROM orders") == 2
    # The same order posted again with the same lines is a re-delivery; other lines are a conflict
    # the run's quarantine keeps with its reason, and the stored lines stay as they were.
    receive(ws, "orders", [ok])
    again = ws.load_inbox(now=NOW)
    assert again["order_items"]["units"].get("redelivered") == 1
    changed = {**ok, "lines": [{"sku": "MUG", "quantity": 3, "unit_price": 7.5}]}
    receive(ws, "orders", [changed])
    third = ws.load_inbox(now=NOW)
    assert third["order_items"]["reasons"] == {"conflicts with lines already loaded": 1}
    assert count(ws, "SELECT sum(quantity) FROM order_items") == 3
    # An order refused at the run (it conflicts with the stored one) keeps its lines in the
    # quarantine: they are not attached to the stored version of the order.
    receive(ws, "orders", [{"order_id": "C", "customer_id": "c2", "ordered_at": "2025-06-03", "amount": 99,
                            "lines": [{"sku": "CUP", "quantity": 1, "unit_price": 99}]}])
    fourth = ws.load_inbox(now=NOW)
    assert fourth["orders"]["reasons"] == {"conflicts with an order already loaded": 1}
    assert "order_items" not in fourth
    assert count(ws, "SELECT count(*) FROM order_items WHERE order_id = 'C'") == 0
    kept = count(ws, "SELECT original->>'lines' FROM quarantine WHERE key = 'C'")
    assert json.loads(kept) == [{"quantity": 1, "sku": "CUP", "unit_price": 99}]
