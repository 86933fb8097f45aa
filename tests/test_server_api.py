"""The REST API of `tenure serve`, endpoint by endpoint, against a real server (uvicorn in a
subprocess): each success path checked against an independent reading of what it reports (the
snapshot Parquet files and the warehouse, queried here with DuckDB), and each documented error.
Keys, scopes, tracking links and erasure are test_server_security.py's."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import time
from decimal import Decimal

import duckdb
import pytest

from tenure.ingest.inbox import MAX_BATCH, pending
from tests.serving import Served, make_shop

# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    shop = make_shop(tmp_path_factory.mktemp("api"))
    with Served(shop.ws.root) as server:
        yield shop, server


@pytest.fixture(scope="module")
def shop(served):
    return served[0]


@pytest.fixture(scope="module")
def read(served):
    shop, server = served
    with server.client("read", shop) as client:
        yield client


@pytest.fixture(scope="module")
def write(served):
    shop, server = served
    with server.client("write", shop) as client:
        yield client


@pytest.fixture(scope="module")
def admin(served):
    shop, server = served
    with server.client("admin", shop) as client:
        yield client


# -- independent readings -------------------------------------------------------------------------------


def warehouse(ws, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def snapshot(ws, day: dt.date, sql: str, params=()) -> list[tuple]:
    """`sql` over the stored snapshot file of `day`, as the table `s`."""
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{ws.history.path(day)}')")
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def snapshot_dicts(ws, day: dt.date, where: str = "true", params=()) -> list[dict]:
    con = duckdb.connect()
    try:
        cur = con.execute(f"SELECT * FROM read_parquet('{ws.history.path(day)}') WHERE {where}", list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


def days(ws) -> list[dt.date]:
    return ws.history.dates()


def plain(value):
    """A value as the API's JSON carries it."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def same(got, expected) -> bool:
    if isinstance(expected, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    return got == expected


def labels_of(rows: list[dict], column: str) -> dict[str, str | None]:
    """Customer id -> label of `column`: text as it is, a custom segment's true/false as in/out."""
    boolean = any(isinstance(r[column], bool) for r in rows)
    if boolean:
        return {r["customer_id"]: "in" if r[column] else "out" for r in rows}
    return {r["customer_id"]: None if r[column] is None else str(r[column]) for r in rows}


def purchases_sql(day: dt.date) -> tuple[str, list]:
    """Completed orders with an amount, of a known customer, up to the end of `day`."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return ("SELECT customer_id, ordered_at, CAST(amount AS DOUBLE) AS amount FROM orders WHERE ordered_at < ? "
            "AND status = 'completed' AND amount > 0 AND customer_id IS NOT NULL", [end])


def wait_for_run(client, run_id: int) -> dict:
    for _ in range(2400):  # a generous cap (10 minutes), not a timing assertion
        row = next(r for r in client.get("/v1/runs", params={"limit": 1000}).json() if r["id"] == run_id)
        if row["status"] != "running":
            return row
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} is still running after 10 minutes")


def wait_for_all_runs(client) -> None:
    for row in client.get("/v1/runs", params={"limit": 1000}).json():
        if row["status"] == "running":
            wait_for_run(client, row["id"])


# -- ingest ---------------------------------------------------------------------------------------------
CUSTOMERS = [
    {"customer_id": "API-C1", "email": "api-c1@example.com", "name": "Ada Api", "created_at": "2025-11-02T09:30:00",
     "consent_email": True, "acquisition_channel": "partner", "attributes": {"tier": "gold", "referrals": 3}},
    {"customer_id": "API-BAD-C1", "created_at": "not a date"},
    {"customer_id": "API-C2", "phone": "+44 20 7946 0000", "created_at": "2025-12-05"},
    {"customer_id": ""},
]
CUSTOMERS_REJECTED = [{"index": 1, "reason": "unparseable date", "detail": "created_at=not a date"},
                      {"index": 3, "reason": "missing customer id", "detail": None}]
ORDERS = [
    {"order_id": "API-O1", "customer_id": "API-C1", "ordered_at": "2025-12-20T10:15:00", "amount": 120.5,
     "channel": "web"},
    {"order_id": "API-BAD-O1", "customer_id": "API-C1", "ordered_at": "2025-12-21", "amount": "twelve"},
    {"order_id": "API-O2", "customer_id": "API-C1", "ordered_at": "2025-12-28", "amount": "35.00",
     "status": "completed"},
    {"order_id": "API-BAD-O2", "customer_id": "API-C2", "ordered_at": "31/31/2025", "amount": 5},
    {"order_id": "API-O3", "customer_id": "API-C2", "ordered_at": "2025-12-30", "amount": 60, "status": "cancelled"},
    {"order_id": "API-BAD-O3", "customer_id": "API-C2", "ordered_at": "2025-12-30", "amount": -5},
]
ORDERS_REJECTED = [{"index": 1, "reason": "amount is not a number", "detail": "amount=twelve"},
                   {"index": 3, "reason": "unparseable date", "detail": "ordered_at=31/31/2025"},
                   {"index": 5, "reason": "negative amount on a completed order", "detail": "order_id=API-BAD-O3"}]
EVENTS = [
    {"event_id": "API-E1", "customer_id": "API-C1", "occurred_at": "2025-12-22T08:00:00", "type": "site_visit",
     "properties": {"page": "/sale"}},
    {"event_id": "API-BAD-E1", "customer_id": "API-C1", "occurred_at": "2025-12-22", "type": "Site Visit!"},
    {"event_id": "API-E2", "customer_id": "API-C2", "occurred_at": "2025-12-23", "type": "review"},
    {"event_id": "API-BAD-E2", "customer_id": "API-C2", "occurred_at": "someday", "type": "review"},
]
EVENTS_REJECTED = [{"index": 1, "reason": "invalid event type", "detail": "type=Site Visit!"},
                   {"index": 3, "reason": "unparseable date", "detail": "occurred_at=someday"}]
BATCHES = {"customers": (CUSTOMERS, CUSTOMERS_REJECTED), "orders": (ORDERS, ORDERS_REJECTED),
           "events": (EVENTS, EVENTS_REJECTED)}


@pytest.fixture(scope="module")
def ingested(shop, write):
    """Each batch posted twice, then one pipeline run started with POST /v1/runs, followed to its end."""
    answers = {}
    for entity, (items, _) in BATCHES.items():
        answers[entity] = [write.post(f"/v1/{entity}", json={"items": items}) for _ in range(2)]
    waiting = pending(shop.ws.store)
    started = write.post("/v1/runs")
    assert started.status_code == 202, started.text
    run = wait_for_run(write, started.json()["run_id"])
    return {"answers": answers, "waiting": waiting, "started": started.json(), "run": run}


@pytest.mark.parametrize("entity", list(BATCHES))
def test_a_batch_reports_its_bad_items_by_index_and_reason_and_accepts_the_rest(ingested, entity):
    items, rejected = BATCHES[entity]
    first, again = ingested["answers"][entity]
    assert first.status_code == again.status_code == 200, first.text
    good = len(items) - len(rejected)
    one, two = first.json(), again.json()
    assert (one["received"], one["accepted"], one["duplicates"], one["rejected"]) == (len(items), good, 0, rejected)
    # The same batch again: every good item is already waiting, stored once.
    assert (two["received"], two["accepted"], two["duplicates"], two["rejected"]) == (len(items), good, good, rejected)
    assert len(one["batch"]) == len(two["batch"]) == 16 and one["batch"] != two["batch"]
    assert ingested["waiting"][entity] == good


def test_the_run_loads_exactly_the_good_items_and_none_of_the_bad(shop, ingested):
    ws = shop.ws
    assert ingested["run"]["status"] == "ok", ingested["run"]["error"]
    assert ingested["run"]["counts"]["inbox"] == {"customers": 2, "orders": 3, "events": 2}
    assert ingested["run"]["counts"]["inbox_quarantined"] == {"customers": 0, "orders": 0, "events": 0}
    assert pending(ws.store) == {}
    customers = warehouse(ws, "SELECT customer_id, email, name, phone, created_at, consent_email, acquisition_channel, "
                              "json_extract_string(attributes, '$.tier'), "
                              "json_extract_string(attributes, '$.referrals') "
                              "FROM customers WHERE starts_with(customer_id, 'API-') ORDER BY 1")
    assert customers == [
        ("API-C1", "api-c1@example.com", "Ada Api", None, dt.datetime(2025, 11, 2, 9, 30), True, "partner", "gold",
         "3"),
        ("API-C2", None, None, "+44 20 7946 0000", dt.datetime(2025, 12, 5), None, None, None, None)]
    orders = warehouse(ws, "SELECT order_id, customer_id, ordered_at, CAST(amount AS DOUBLE), status, channel "
                           "FROM orders WHERE starts_with(order_id, 'API-') ORDER BY 1")
    assert orders == [("API-O1", "API-C1", dt.datetime(2025, 12, 20, 10, 15), 120.5, "completed", "web"),
                      ("API-O2", "API-C1", dt.datetime(2025, 12, 28), 35.0, "completed", None),
                      ("API-O3", "API-C2", dt.datetime(2025, 12, 30), 60.0, "cancelled", None)]
    events = warehouse(ws, "SELECT event_id, customer_id, occurred_at, type, json_extract_string(properties, '$.page') "
                           "FROM events WHERE starts_with(event_id, 'API-') ORDER BY 1")
    assert events == [("API-E1", "API-C1", dt.datetime(2025, 12, 22, 8), "site_visit", "/sale"),
                      ("API-E2", "API-C2", dt.datetime(2025, 12, 23), "review", None)]
    # The refused items never reached the inbox, so neither the warehouse nor its quarantine.
    for table, key in (("customers", "customer_id"), ("orders", "order_id"), ("events", "event_id")):
        assert warehouse(ws, f"SELECT count(*) FROM {table} WHERE contains({key}, 'BAD')") == [(0,)]
    assert warehouse(ws, "SELECT count(*) FROM quarantine WHERE contains(CAST(original AS VARCHAR), 'API-') "
                         "OR contains(key, 'API-')") == [(0,)]
    # And the new customers are in the run's snapshot, with the orders posted for them.
    rows = snapshot(ws, days(ws)[-1], "SELECT customer_id, orders, spend FROM s WHERE starts_with(customer_id, 'API-') "
                                      "ORDER BY 1")
    assert rows == [("API-C1", 2, pytest.approx(155.5)), ("API-C2", 0, pytest.approx(0.0))]


BAD_BODIES = [
    ({"items": []}, "too_short"),
    ({"items": [{"customer_id": f"X{i}"} for i in range(MAX_BATCH + 1)]}, "too_long"),
    ({"items": {"customer_id": "X1"}}, "list_type"),
    ([{"customer_id": "X1"}], "model_attributes_type"),
    ({"items": [{"customer_id": "X1", "favourite_colour": "blue"}]}, "extra_forbidden"),
    ({"items": [{"customer_id": {"nested": 1}}]}, "string_type"),
    ({"items": [{"customer_id": "X1", "attributes": {"_row": 1}}]}, "value_error"),
    ({"items": [{"customer_id": "X1", "attributes": {"File_Row_Number": 1}}]}, "value_error"),
    ({"items": [{"customer_id": "X1", "attributes": {"nested": {"a": 1}}}]}, None),
    ({}, "missing"),
]


@pytest.mark.parametrize("body,kind", BAD_BODIES, ids=[k or "attribute_not_scalar" for _, k in BAD_BODIES])
def test_a_body_of_the_wrong_shape_is_422_and_stores_nothing(shop, write, body, kind):
    before = pending(shop.ws.store)
    r = write.post("/v1/customers", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail and all("loc" in d and "msg" in d for d in detail)
    if kind:
        assert kind in {d["type"] for d in detail}, detail
    if kind == "value_error":
        assert "is reserved" in detail[0]["msg"]
    assert pending(shop.ws.store) == before


@pytest.mark.parametrize("entity,item,field", [
    ("orders", {"order_id": "X1", "ordered_at": "2025-12-01"}, "amount"),
    ("orders", {"order_id": "X1", "amount": 1}, "ordered_at"),
    ("events", {"customer_id": "X1", "occurred_at": "2025-12-01"}, "type"),
    ("events", {"customer_id": "X1", "type": "site_visit"}, "occurred_at"),
])
def test_an_item_without_a_required_field_is_422_naming_it(shop, write, entity, item, field):
    before = pending(shop.ws.store)
    r = write.post(f"/v1/{entity}", json={"items": [item]})
    assert r.status_code == 422
    assert ["body", "items", 0, field] in [d["loc"] for d in r.json()["detail"]]
    assert pending(shop.ws.store) == before


def test_a_body_that_is_not_json_or_not_utf8_is_refused(shop, write):
    before = pending(shop.ws.store)
    r = write.post("/v1/orders", content=b'{"items": [', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = write.post("/v1/orders", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json() == {"detail": "There was an error parsing the body"}
    assert pending(shop.ws.store) == before


# -- operations: runs -----------------------------------------------------------------------------------


def test_runs_lists_the_requested_pipeline_run_with_status_timings_and_counts(shop, read, ingested):
    run_id = ingested["started"]["run_id"]
    assert ingested["started"] == {"run_id": run_id, "status": "running"}
    listed = read.get("/v1/runs").json()
    row = next(r for r in listed if r["id"] == run_id)
    assert row["kind"] == "pipeline" and row["status"] == "ok" and row["error"] is None
    assert dt.date.fromisoformat(row["as_of"]) == days(shop.ws)[-1]  # the run stored today's snapshot
    started, finished = (dt.datetime.fromisoformat(row[k].replace("Z", "+00:00"))
                         for k in ("started_at", "finished_at"))
    assert started.tzinfo is not None and started <= finished
    counts = row["counts"]
    assert counts["trigger"] == "api" and counts["customers"] == 402  # 400 generated + API-C1 and API-C2
    timings = counts["timings"]
    assert set(timings) == {"inbox_s", "snapshot_and_campaigns_s", "dispatch_s", "total_s"}
    assert all(v >= 0 for v in timings.values())
    assert timings["total_s"] == pytest.approx(timings["inbox_s"] + timings["snapshot_and_campaigns_s"]
                                               + timings["dispatch_s"], abs=0.005)
    assert [r["id"] for r in listed] == sorted((r["id"] for r in listed), reverse=True)  # newest first
    assert len(read.get("/v1/runs", params={"limit": 1}).json()) == 1
    for bad in (0, 1001, "x"):
        assert read.get("/v1/runs", params={"limit": bad}).status_code == 422


def test_a_run_requested_while_the_workspace_is_busy_is_409_and_records_nothing(shop, write, ingested):
    wait_for_all_runs(write)
    before = write.get("/v1/runs").json()
    with shop.ws.lock(wait=0):  # what a `tenure run`, an ingest or an erasure holds
        r = write.post("/v1/runs")
    assert r.status_code == 409 and "in progress" in r.json()["detail"]
    assert write.get("/v1/runs").json() == before


def test_a_second_run_request_while_one_runs_is_409(shop, write, ingested):
    first = write.post("/v1/runs")
    second = write.post("/v1/runs")
    assert first.status_code == 202
    # The first answer comes once its run holds the workspace lock, and the run then takes a
    # couple of seconds: the second request, sent at once, meets it. Should the machine stall
    # for longer than the whole run between the two, the second may start a run of its own; the
    # run log below still shows runs one after another, never two at once.
    assert second.status_code in (409, 202)
    ids = [first.json()["run_id"]] + ([second.json()["run_id"]] if second.status_code == 202 else [])
    rows = [wait_for_run(write, i) for i in ids]
    assert [r["status"] for r in rows] == ["ok"] * len(rows)
    if second.status_code == 409:
        assert "in progress" in second.json()["detail"]
    else:
        assert rows[0]["finished_at"] <= rows[1]["started_at"]
    pipeline = [r for r in write.get("/v1/runs", params={"limit": 1000}).json() if r["kind"] == "pipeline"]
    spans = sorted((r["started_at"], r["finished_at"]) for r in pipeline)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_an_identical_order_posted_after_its_load_is_a_redelivery_not_a_second_order(shop, write, ingested):
    wait_for_all_runs(write)
    r = write.post("/v1/orders", json={"items": [ORDERS[0]]}).json()
    assert (r["accepted"], r["duplicates"], r["rejected"]) == (1, 0, [])  # waiting again: the first one was loaded
    run = wait_for_run(write, write.post("/v1/runs").json()["run_id"])
    assert run["status"] == "ok" and run["counts"]["inbox"] == {"orders": 1}
    assert warehouse(shop.ws, "SELECT count(*) FROM orders WHERE order_id = 'API-O1'") == [(1,)]


def test_an_order_posted_with_its_lines_loads_them_after_it(shop, write, ingested):
    wait_for_all_runs(write)
    # A customer of its own: other tests count API-C1's orders.
    order = {**ORDERS[0], "order_id": "API-LINES-1", "customer_id": "API-LINES-C",
             "lines": [{"sku": "SKU-1", "name": "Mug", "quantity": 2, "unit_price": 7.5}, {"sku": "SKU-2", "quantity": 1,
                                                                                          "unit_price": "3.00"}]}
    broken = {**order, "order_id": "API-LINES-2", "lines": [{"sku": "SKU-3", "quantity": "lots", "unit_price": 1}]}
    r = write.post("/v1/orders", json={"items": [order, broken]}).json()
    assert r["accepted"] == 1 and r["rejected"] == [
        {"index": 1, "reason": "quantity is not a number", "detail": "lines[0]: quantity=lots"}]
    run = wait_for_run(write, write.post("/v1/runs").json()["run_id"])
    assert run["status"] == "ok" and run["counts"]["inbox"] == {"orders": 1, "order_items": 2}
    assert warehouse(shop.ws, "SELECT sku, CAST(quantity AS DOUBLE), CAST(unit_price AS DOUBLE) FROM order_items "
                              "WHERE order_id = 'API-LINES-1' ORDER BY line") == [("SKU-1", 2.0, 7.5), ("SKU-2", 1.0, 3.0)]
    assert warehouse(shop.ws, "SELECT count(*) FROM orders WHERE order_id = 'API-LINES-2'") == [(0,)]


# -- read: profile -------------------------------------------------------------------------------------


def busiest_customer(ws) -> str:
    return warehouse(ws, "SELECT customer_id FROM orders WHERE customer_id IS NOT NULL GROUP BY 1 "
                         "ORDER BY count(*) DESC, customer_id LIMIT 1")[0][0]


def test_a_profile_equals_the_stored_snapshots_and_the_warehouse(shop, read):
    from tenure.profile import FEATURES

    ws = shop.ws
    cid = busiest_customer(ws)
    r = read.get(f"/v1/customers/{cid}")
    assert r.status_code == 200, r.text
    got = r.json()
    stored = days(ws)
    latest = snapshot_dicts(ws, stored[-1], "customer_id = ?", [cid])[0]
    assert got["customer_id"] == cid and got["as_of"] == stored[-1].isoformat()
    features = {k: plain(latest[k]) for k in FEATURES if k in latest}
    assert set(got["features"]) == set(features) and len(features) > 15
    assert all(same(got["features"][k], v) for k, v in features.items()), (got["features"], features)
    columns = ["lifecycle", "rf", "rfm_segment", "churn_risk", "vip", "unengaged"]
    assert got["labels"] == {c: latest[c] for c in columns}
    # The label history: the first snapshot, then each one where some label changed.
    history, last = [], None
    for day in stored:
        row = snapshot_dicts(ws, day, "customer_id = ?", [cid])
        labels = {c: row[0][c] for c in columns} if row else None
        if row and labels != last:
            history.append({"as_of": day.isoformat(), "labels": labels})
        last = labels if row else last
    assert got["label_history"] == history
    # The orders: the warehouse's, newest first.
    expected = warehouse(ws, "SELECT order_id, ordered_at, status, CAST(amount AS DOUBLE), currency, channel "
                             "FROM orders WHERE customer_id = ?", [cid])
    assert len(got["orders"]) == len(expected) > 5
    assert sorted((o["order_id"], o["ordered_at"], o["status"], o["amount"], o["currency"], o["channel"])
                  for o in got["orders"]) == sorted(tuple(plain(v) for v in row) for row in expected)
    assert [o["ordered_at"] for o in got["orders"]] == sorted((o["ordered_at"] for o in got["orders"]), reverse=True)
    record = warehouse(ws, "SELECT email, name, phone, acquisition_channel, created_at FROM customers "
                           "WHERE customer_id = ?", [cid])[0]
    assert [got["record"][k] for k in ("email", "name", "phone", "acquisition_channel", "created_at")] \
        == [plain(v) for v in record]
    for part in ("messages", "engagement", "consents", "suppressions"):  # a shop without campaigns
        assert got[part] == []


def test_a_profile_of_a_customer_posted_through_the_api(read, ingested):
    got = read.get("/v1/customers/API-C1").json()
    assert got["record"]["email"] == "api-c1@example.com" and got["features"]["orders"] == 2
    assert [o["order_id"] for o in got["orders"]] == ["API-O2", "API-O1"]
    assert [o["amount"] for o in got["orders"]] == [35.0, 120.5]


@pytest.mark.parametrize("cid", ["NOPE-1", "C99999999", " ", "é\u2014"])
def test_an_unknown_customer_is_404(read, cid):
    r = read.get(f"/v1/customers/{cid}")
    assert r.status_code == 404 and r.json() == {"detail": f"no customer {cid!r}"}


def test_a_customer_id_longer_than_200_characters_is_422(read):
    assert read.get("/v1/customers/" + "x" * 201).status_code == 422


# -- read: segments --------------------------------------------------------------------------------------
SEGMENTATIONS = [("lifecycle", "lifecycle"), ("rf", "rf"), ("rfm", "rfm_segment"), ("churn_risk", "churn_risk"),
                 ("vip", "vip")]


@pytest.mark.parametrize("by,column", SEGMENTATIONS)
@pytest.mark.parametrize("which", ["latest", "first"])
def test_segments_equal_a_group_by_of_the_snapshot(shop, read, by, column, which):
    ws = shop.ws
    day = days(ws)[-1] if which == "latest" else days(ws)[0]
    r = read.get("/v1/segments", params={"by": by} | ({"as_of": day.isoformat()} if which == "first" else {}))
    assert r.status_code == 200, r.text
    got = r.json()
    rows = snapshot_dicts(ws, day)
    labels = labels_of(rows, column)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(labels[row["customer_id"]], []).append(row)
    assert None not in groups
    spend = sum(row["spend"] for row in rows)
    assert got["segmentation"] == by and got["as_of"] == day.isoformat() and got["total"] == len(rows)
    assert {x["label"]: x["customers"] for x in got["labels"]} == {k: len(v) for k, v in groups.items()}
    assert [x["customers"] for x in got["labels"]] == sorted((x["customers"] for x in got["labels"]), reverse=True)
    for x in got["labels"]:
        members = groups[x["label"]]
        assert x["share"] == pytest.approx(len(members) / len(rows))
        assert x["revenue_share"] == pytest.approx(sum(m["spend"] for m in members) / spend)
        assert x["mean_orders"] == pytest.approx(sum(m["orders"] for m in members) / len(members))
        gaps = sorted(m["days_since_last"] for m in members if m["days_since_last"] is not None)
        median = None if not gaps else (gaps[(len(gaps) - 1) // 2] + gaps[len(gaps) // 2]) / 2
        assert x["median_days"] == (pytest.approx(median) if median is not None else None)


def test_segments_errors_name_what_to_change(read):
    r = read.get("/v1/segments", params={"by": "colour"})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("--by 'colour' is not a segmentation")
    assert "lifecycle, rf, rfm, churn_risk, vip, unengaged" in r.json()["detail"]
    r = read.get("/v1/segments", params={"as_of": "2020-01-01"})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("no snapshot stored for 2020-01-01 (latest: 2025-12-01, 2025-12-31")
    assert read.get("/v1/segments", params={"as_of": "2025-13-01"}).status_code == 422
    assert read.get("/v1/segments", params={"as_of": "yesterday"}).status_code == 422


# -- read: members ---------------------------------------------------------------------------------------


def members_sql(ws, day, column, label) -> list[str]:
    """Customer ids with `label`, biggest spenders first (ties by id)."""
    rows = snapshot_dicts(ws, day)
    labels = labels_of(rows, column)
    chosen = [r for r in rows if labels[r["customer_id"]] == label]
    return [r["customer_id"] for r in sorted(chosen, key=lambda r: (-r["spend"], r["customer_id"]))]


def test_members_pages_are_disjoint_in_spend_order_and_total_is_the_count(shop, read):
    ws = shop.ws
    day = days(ws)[-1]
    expected = members_sql(ws, day, "rf", "dormant")
    assert len(expected) > 20
    pages = [read.get("/v1/segments/rf/dormant/customers", params={"page": p, "page_size": 7}).json()
             for p in (1, 2)]
    for number, page in enumerate(pages, start=1):
        assert (page["segmentation"], page["label"], page["as_of"], page["page"], page["page_size"], page["total"]) \
            == ("rf", "dormant", day.isoformat(), number, 7, len(expected))
    ids = [[c["customer_id"] for c in page["customers"]] for page in pages]
    assert ids == [expected[:7], expected[7:14]] and not set(ids[0]) & set(ids[1])
    assert all(c["rf"] == "dormant" for page in pages for c in page["customers"])
    last = -(-len(expected) // 7)
    tail = read.get("/v1/segments/rf/dormant/customers", params={"page": last, "page_size": 7}).json()
    assert [c["customer_id"] for c in tail["customers"]] == expected[(last - 1) * 7:]
    beyond = read.get("/v1/segments/rf/dormant/customers", params={"page": last + 1, "page_size": 7}).json()
    assert beyond["customers"] == [] and beyond["total"] == len(expected)
    default = read.get("/v1/segments/rf/dormant/customers").json()  # server.page_size, 100
    assert default["page_size"] == 100 and [c["customer_id"] for c in default["customers"]] == expected[:100]


def test_members_of_an_older_snapshot_and_of_a_custom_segment(shop, read):
    ws = shop.ws
    first = days(ws)[0]
    got = read.get("/v1/segments/rfm/champions/customers", params={"as_of": first.isoformat(), "page_size": 500}).json()
    assert got["as_of"] == first.isoformat()
    assert [c["customer_id"] for c in got["customers"]] == members_sql(ws, first, "rfm_segment", "champions")
    vip = read.get("/v1/segments/vip/in/customers", params={"page_size": 500}).json()
    assert vip["total"] == len(members_sql(ws, days(ws)[-1], "vip", "in")) > 0


def test_members_without_a_purchase_have_null_dates_not_nat(read):
    got = read.get("/v1/segments/rf/none/customers", params={"page_size": 5}).json()
    assert got["total"] > 0 and got["customers"]
    for c in got["customers"]:
        assert c["orders"] == 0 and c["last_purchase"] is None and c["days_since_last"] is None


def test_members_as_csv_has_a_header_and_every_member(shop, read):
    ws = shop.ws
    day = days(ws)[-1]
    expected = members_sql(ws, day, "lifecycle", "lead")
    r = read.get("/v1/segments/lifecycle/lead/customers", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="lifecycle-lead-{day.isoformat()}.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    header = r.text.splitlines()[0].split(",")
    columns = snapshot(ws, day, "SELECT column_name FROM (DESCRIBE s)")
    from tenure.server.reads import MEMBER_COLUMNS
    assert header == [c for c in MEMBER_COLUMNS if (c,) in columns]
    assert len(rows) == len(expected) == read.get("/v1/segments/lifecycle/lead/customers").json()["total"]
    assert [row["customer_id"] for row in rows] == expected
    assert {row["lifecycle"] for row in rows} == {"lead"}


def test_members_csv_of_an_empty_or_odd_label_keeps_its_header_and_a_safe_file_name(read):
    # A label with non-Latin-1 characters or a NUL once made the server drop the connection
    # (the file name went into the header as it was); an empty label once gave no header at all.
    r = read.get("/v1/segments/rf/%C3%A9%E2%80%94%00%22x/customers", params={"format": "csv"})  # é—, NUL, "x
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith('attachment; filename="rf-_x-')
    assert r.text.splitlines() == [r.text.splitlines()[0]] and r.text.startswith("customer_id,lifecycle,rf,")
    assert read.get("/v1/segments/rf/\u00e9\u2014/customers").json()["total"] == 0


def test_members_errors(read):
    r = read.get("/v1/segments/colour/red/customers")
    assert r.status_code == 400 and "is not a segmentation" in r.json()["detail"]
    r = read.get("/v1/segments/rf/dormant/customers", params={"as_of": "2021-06-01"})
    assert r.status_code == 400 and r.json()["detail"].startswith("no snapshot stored for 2021-06-01")
    for params in ({"page": 0}, {"page_size": 0}, {"page_size": 10_001}, {"format": "xml"}, {"page": "two"}):
        assert read.get("/v1/segments/rf/dormant/customers", params=params).status_code == 422, params


# -- read: analyses ----------------------------------------------------------------------------------------


def test_cohorts_equal_the_warehouse_purchases(shop, read):
    ws = shop.ws
    got = read.get("/v1/cohorts").json()
    day = dt.date.fromisoformat(got["as_of"])
    assert day == days(ws)[-1]
    sql, params = purchases_sql(day)
    first = dict(warehouse(ws, f"WITH p AS ({sql}) SELECT strftime(f, '%Y-%m'), count(*) FROM "
                               "(SELECT customer_id, min(ordered_at) AS f FROM p GROUP BY 1) GROUP BY 1", params))
    sizes = {r["cohort"]: r["cohort_size"] for r in got["rows"] if r["month"] == 0}
    assert sizes == first
    for r in got["rows"]:
        y, m = map(int, r["cohort"].split("-"))
        assert 0 <= r["month"] <= (day.year * 12 + day.month) - (y * 12 + m)
        assert r["retention"] == pytest.approx(r["active_customers"] / r["cohort_size"])
        if r["month"] == 0:
            assert r["active_customers"] == r["cohort_size"] and r["retention"] == 1.0
    months = {c: (day.year * 12 + day.month) - (int(c[:4]) * 12 + int(c[5:])) + 1 for c in first}
    assert len(got["rows"]) == sum(months.values())
    revenue = warehouse(ws, f"SELECT sum(amount) FROM ({sql})", params)[0][0]
    assert sum(r["revenue"] for r in got["rows"]) == pytest.approx(revenue)
    by_channel = read.get("/v1/cohorts", params={"by_channel": "true", "as_of": day.isoformat()}).json()
    assert {"channel", "cohort", "month"} <= set(by_channel["rows"][0])
    assert sum(r["cohort_size"] for r in by_channel["rows"] if r["month"] == 0) == sum(first.values())
    assert sum(r["revenue"] for r in by_channel["rows"]) == pytest.approx(revenue)


def funnel_counts(ws, day: dt.date) -> list[int]:
    sql, params = purchases_sql(day)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return list(warehouse(ws, f"""
        WITH p AS ({sql}),
        n AS (SELECT customer_id, count(DISTINCT CAST(ordered_at AS DATE)) AS n FROM p GROUP BY 1),
        ids AS (SELECT customer_id FROM customers WHERE created_at IS NULL OR created_at < ?
                UNION SELECT customer_id FROM n)
        SELECT count(*), count(*) FILTER (WHERE n >= 1), count(*) FILTER (WHERE n >= 2),
               count(*) FILTER (WHERE n >= 3), count(*) FILTER (WHERE n >= 4)
        FROM ids LEFT JOIN n USING (customer_id)""", [*params, end])[0])


def test_funnel_equals_the_warehouse_purchase_days(shop, read):
    ws = shop.ws
    for day in (None, days(ws)[0]):
        got = read.get("/v1/funnel", params={"as_of": day.isoformat()} if day else {}).json()
        on = dt.date.fromisoformat(got["as_of"])
        assert on == (day or days(ws)[-1])
        rows = got["rows"]
        assert [r["step"] for r in rows] == ["lead", "1st purchase", "2nd purchase", "3rd purchase", "4th+ purchase"]
        assert [r["step_number"] for r in rows] == [0, 1, 2, 3, 4]
        counts = funnel_counts(ws, on)
        assert [r["customers"] for r in rows] == counts
        assert rows[0]["conversion"] is None and rows[0]["overall"] == 1.0
        for prev, r in zip(rows, rows[1:]):
            assert r["conversion"] == pytest.approx(r["customers"] / prev["customers"])
            assert r["overall"] == pytest.approx(r["customers"] / counts[0])
    latest = funnel_counts(ws, days(ws)[-1])
    for by in ("channel", "cohort"):
        grouped = read.get("/v1/funnel", params={"by": by}).json()["rows"]
        assert all(by in r for r in grouped) and len({r[by] for r in grouped}) > 1
        assert [sum(r["customers"] for r in grouped if r["step_number"] == k) for k in range(5)] == latest
    assert read.get("/v1/funnel", params={"by": "region"}).status_code == 422


def test_pareto_equals_the_top_buyers_share_of_revenue(shop, read):
    ws = shop.ws
    got = read.get("/v1/pareto").json()
    day = dt.date.fromisoformat(got["as_of"])
    sql, params = purchases_sql(day)
    revenue = sorted((r[0] for r in warehouse(ws, f"SELECT sum(amount) FROM ({sql}) GROUP BY customer_id", params)),
                     reverse=True)
    total = sum(revenue)
    assert [r["top_share"] for r in got["rows"]] == [0.01, 0.05, 0.1, 0.2, 0.5]
    for r in got["rows"]:
        k = math.ceil(len(revenue) * r["top_share"] - 1e-9)
        assert r["customers"] == k
        assert r["revenue_share"] == pytest.approx(sum(revenue[:k]) / total)
    assert read.get("/v1/pareto", params={"as_of": "1990-01-01"}).json() == {"as_of": "1990-01-01", "rows": []}


@pytest.mark.parametrize("path", ["/v1/cohorts", "/v1/funnel", "/v1/pareto", "/v1/campaigns"])
def test_an_analysis_of_a_day_after_today_is_400_and_a_malformed_day_422(shop, read, path):
    # A far-future day once made cohorts build every month up to it (a minute for year 6648) and
    # 9999-12-31 was a 500 (the end of the day overflowed).
    later = shop.ws.today() + dt.timedelta(days=2)  # after the server's today, even across a midnight
    for day in (later.isoformat(), "6648-05-05", "9999-12-31"):
        r = read.get(path, params={"as_of": day})
        assert r.status_code == 400 and r.json()["detail"].startswith(f"as_of {day} is after today"), r.text
    assert read.get(path, params={"as_of": "31/12/2025"}).status_code == 422


def test_flows_default_to_the_two_latest_snapshots_and_sum_to_the_later_one(shop, read):
    ws = shop.ws
    before, latest = days(ws)[-2:]
    for by, column in (("lifecycle", "lifecycle"), ("rf", "rf"), ("vip", "vip")):
        got = read.get("/v1/flows", params={"by": by}).json()
        assert (got["start"], got["end"], got["by"]) == (before.isoformat(), latest.isoformat(), by)
        old = labels_of(snapshot_dicts(ws, before), column)
        new = labels_of(snapshot_dicts(ws, latest), column)
        expected: dict[tuple, int] = {}
        for cid, label in new.items():
            key = (old.get(cid, "(new)"), label)
            expected[key] = expected.get(key, 0) + 1
        assert {(r["from_label"], r["to_label"]): r["customers"] for r in got["rows"]} == expected
        assert sum(r["customers"] for r in got["rows"]) == len(new)


def test_flows_between_chosen_snapshots_and_their_errors(shop, read):
    ws = shop.ws
    first, latest = days(ws)[0], days(ws)[-1]
    got = read.get("/v1/flows", params={"from": first.isoformat(), "to": latest.isoformat()}).json()
    assert (got["start"], got["end"]) == (first.isoformat(), latest.isoformat())
    assert sum(r["customers"] for r in got["rows"]) == len(snapshot_dicts(ws, latest))
    r = read.get("/v1/flows", params={"from": latest.isoformat(), "to": first.isoformat()})
    assert r.status_code == 400 and "is not after" in r.json()["detail"]
    r = read.get("/v1/flows", params={"from": "2021-01-01"})
    assert r.status_code == 400 and r.json()["detail"].startswith("no snapshot stored for 2021-01-01")
    r = read.get("/v1/flows", params={"by": "colour"})
    assert r.status_code == 400 and "is not a segmentation" in r.json()["detail"]
    assert read.get("/v1/flows", params={"to": "someday"}).status_code == 422


def test_campaigns_and_tasks_of_a_shop_without_campaigns_are_empty(shop, read):
    latest = days(shop.ws)[-1].isoformat()
    assert read.get("/v1/campaigns").json() == {"as_of": latest, "rows": []}
    assert read.get("/v1/campaigns", params={"campaign": "rf-new", "as_of": "2025-12-01"}).json() \
        == {"as_of": "2025-12-01", "rows": []}
    assert read.get("/v1/campaigns", params={"campaign": "x" * 101}).status_code == 422
    for status in ("open", "done", "all"):
        assert read.get("/v1/tasks", params={"status": status}).json() == {"as_of": None, "rows": []}
    assert read.get("/v1/tasks", params={"status": "closed"}).status_code == 422


# -- privacy: export and erasure (the erasure of a real customer is test_server_security.py's) -----------


def test_export_holds_the_warehouse_rows_and_every_snapshot_of_a_customer(shop, admin):
    ws = shop.ws
    cid = busiest_customer(ws)
    got = admin.get(f"/v1/customers/{cid}/export").json()
    assert got["customer_id"] == cid
    assert sorted(o["order_id"] for o in got["warehouse"]["orders"]) == sorted(
        r[0] for r in warehouse(ws, "SELECT order_id FROM orders WHERE customer_id = ?", [cid]))
    assert [c["customer_id"] for c in got["warehouse"]["customers"]] == [cid]
    held = [d.isoformat() for d in days(ws)
            if snapshot(ws, d, "SELECT count(*) FROM s WHERE customer_id = ?", [cid])[0][0]]
    assert [s["as_of"][:10] for s in got["snapshots"]] == held
    r = admin.get("/v1/customers/NOPE-1/export")
    assert r.status_code == 404 and r.json() == {"detail": "nothing is held about 'NOPE-1'"}


def test_erasing_an_id_nothing_is_held_about_removes_nothing_and_keeps_it_out(shop, admin, write):
    wait_for_all_runs(write)  # an erasure waits for the workspace lock
    r = admin.delete("/v1/customers/API-FORGET-ME")
    assert r.status_code == 200
    got = r.json()
    assert got["customer_id"] == "API-FORGET-ME" and got["removed"] and set(got["removed"].values()) == {0}
    assert admin.delete("/v1/customers/API-FORGET-ME").json() == got  # idempotent
    posted = write.post("/v1/orders", json={"items": [{"order_id": "API-FORGOTTEN-1", "customer_id": "API-FORGET-ME",
                                                        "ordered_at": "2025-12-30", "amount": 5}]}).json()
    assert posted["accepted"] == 0
    assert posted["rejected"] == [{"index": 0, "reason": "customer erased (privacy request)", "detail": None}]
    assert admin.get("/v1/customers/API-FORGET-ME/export").status_code == 404


# -- the schema and liveness ------------------------------------------------------------------------------


def app_operations(app) -> dict[tuple[str, str], bool]:
    """(path, method) -> in the schema, for every API route of `app`. FastAPI 0.165 keeps an
    included router as a router (its routes as "effective route contexts") rather than copying
    its routes into app.routes; older versions copy them. Both are walked."""
    from fastapi.routing import APIRoute

    out = {}
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for ctx in contexts():
                if isinstance(ctx.original_route, APIRoute):
                    out.update({(ctx.path, m): ctx.include_in_schema for m in ctx.methods})
        elif isinstance(route, APIRoute):
            out.update({(route.path, m): route.include_in_schema for m in route.methods})
    return out


def test_openapi_lists_every_route_of_the_app_and_the_errors_of_each(shop, read):
    from tenure import Workspace
    from tenure.server.app import create_app

    spec = read.get("/openapi.json").json()
    operations = app_operations(create_app(Workspace(shop.ws.root)))
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    assert documented == {op for op, shown in operations.items() if shown}
    api = {(path, method) for path, method in operations if path.startswith("/v1/")}
    assert api <= documented and len(api) == 21  # no /v1 route is left out of the schema
    assert {path for path, _ in operations} >= {"/healthz", "/t/o/{token}", "/t/c/{token}", "/u/{token}"}
    for path, method in api:
        op = spec["paths"][path][method.lower()]
        assert {"401", "403"} <= set(op["responses"]), (method, path)
        assert op["security"] == [{"HTTPBearer": []}], (method, path)
    assert spec["paths"]["/v1/runs"]["post"]["responses"].keys() >= {"202", "409"}
    for entity in ("customers", "orders", "events"):
        assert spec["paths"][f"/v1/{entity}"]["post"]["responses"].keys() >= {"200", "400", "422"}


def test_healthz_needs_no_key(served):
    import httpx

    _, server = served
    r = httpx.get(server.url + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


# -- campaigns and tasks of a shop with a campaign ----------------------------------------------------------
CAMPAIGN = """
[campaigns.year-end-call]
enabled = true
description = "a call to every customer at the end of the year"
trigger = { on = "12-31" }
steps = [{ offset_days = 0, channel = "task", template = "reactivation-call" }]
conversion_window_days = 14
holdout_share = 0.2
"""


@pytest.fixture(scope="module")
def campaign_shop(tmp_path_factory):
    """A shop whose one campaign enrols everyone on 31 December and makes a task for each of the
    treatment group; the run of that day dispatched it."""
    from tenure import Workspace

    shop = make_shop(tmp_path_factory.mktemp("api-campaign"), customers=150, days=("2025-12-01",))
    toml = shop.ws.root / "tenure.toml"
    toml.write_text(toml.read_text() + CAMPAIGN)
    ws = Workspace(shop.ws.root)
    ws.run(as_of=dt.date(2025, 12, 31), now=dt.datetime(2025, 12, 31, 12, 0))
    shop.ws = ws
    with Served(ws.root) as server:
        with server.client("read", shop) as client:
            yield shop, client


def test_campaigns_report_the_enrolments_and_the_holdout(campaign_shop):
    import sqlalchemy as sa

    from tenure.store.tables import enrollments, outbox

    shop, read = campaign_shop
    with shop.ws.store.connect() as conn:
        groups = dict(conn.execute(sa.select(enrollments.c.grp, sa.func.count()).group_by(enrollments.c.grp)).all())
        sent = conn.execute(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status == "sent")).scalar()
    got = read.get("/v1/campaigns", params={"as_of": "2025-12-31"}).json()
    assert got["as_of"] == "2025-12-31"
    rows = {str(r["step"]): r for r in got["rows"]}
    assert set(rows) == {"0", "all"} and {r["campaign"] for r in got["rows"]} == {"year-end-call"}
    assert rows["all"]["enrolled"] == sum(groups.values()) == 150
    assert rows["all"]["treatment_n"] == groups["treatment"] and rows["all"]["holdout_n"] == groups["holdout"]
    assert rows["0"]["sent"] == rows["all"]["sent"] == sent == groups["treatment"]
    assert rows["0"]["uplift"] is None  # per step: no holdout comparison, null rather than NaN
    assert read.get("/v1/campaigns", params={"campaign": "other", "as_of": "2025-12-31"}).json()["rows"] == []


def test_tasks_list_the_open_ones_then_the_done_ones(campaign_shop):
    from tenure.campaigns.views import finish_task

    shop, read = campaign_shop
    import sqlalchemy as sa

    from tenure.store.tables import enrollments

    with shop.ws.store.connect() as conn:
        treated = conn.execute(sa.select(sa.func.count()).select_from(enrollments)
                               .where(enrollments.c.grp == "treatment")).scalar()
    opened = read.get("/v1/tasks").json()
    assert opened["as_of"] is None and len(opened["rows"]) == treated > 0  # the holdout gets no task
    first = opened["rows"][0]
    assert (first["status"], first["campaign"], first["due_on"], first["done_at"]) == ("open", "year-end-call",
                                                                                      "2025-12-31", None)
    assert first["action"].startswith("Call ") and first["customer_id"].startswith("C")
    assert [r["id"] for r in opened["rows"]] == sorted(r["id"] for r in opened["rows"])
    finish_task(shop.ws, first["id"], note="called, will order", now=dt.datetime(2026, 1, 2, 9, 0))
    done = read.get("/v1/tasks", params={"status": "done"}).json()["rows"]
    assert [(r["id"], r["note"], r["done_at"]) for r in done] \
        == [(first["id"], "called, will order", "2026-01-02T09:00:00")]
    everything = read.get("/v1/tasks", params={"status": "all"}).json()["rows"]
    assert len(everything) == len(opened["rows"])
    assert all(r["done_at"] is None for r in everything if r["id"] != first["id"])  # null, never "NaT"
    assert len(read.get("/v1/tasks").json()["rows"]) == len(opened["rows"]) - 1
