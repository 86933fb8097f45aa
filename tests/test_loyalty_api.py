"""The loyalty endpoints of `tenure serve` against a real server (uvicorn in a subprocess) on a
generated shop with the programme on: every answer checked against an independent reading (the
ledger table of the operational store, the snapshot's Parquet file, the settings), and every
refusal checked to have written nothing."""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from tenure import Workspace, generate
from tenure.access import create_key
from tenure.loyalty import ledger
from tenure.loyalty.simulate import simulate
from tenure.store.tables import loyalty_ledger
from tests.serving import Served, Shop

DAY = dt.date(2025, 12, 31)  # the generated history ends here; the run accrues up to it
L = loyalty_ledger.c


def enable_loyalty(root: Path) -> None:
    """Turn the programme on in a workspace's tenure.toml (the `enabled = false` line of [loyalty])."""
    path = root / "tenure.toml"
    text = path.read_text()
    head, rest = text.split("[loyalty]\n", 1)
    assert "enabled = false" in rest.split("\n[", 1)[0]
    path.write_text(head + "[loyalty]\n" + rest.replace("enabled = false", "enabled = true", 1))


def loyalty_workspace(root: Path, *, customers: int = 300, seed: int = 5) -> Workspace:
    """A generated shop with the loyalty programme on, ingested; no run yet."""
    generate(customers=customers, seed=seed, out=root / "in", fmt="parquet")
    Workspace.init(root / "ws")
    enable_loyalty(root / "ws")
    ws = Workspace(root / "ws")
    assert ws.settings.loyalty.enabled
    for entity in ("customers", "orders", "order_items", "events"):
        ws.ingest(entity, [root / "in" / f"{entity}.parquet"])
    return ws


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws = loyalty_workspace(tmp_path_factory.mktemp("loyalty-api"))
    result = ws.run(as_of=DAY, dispatch=False)  # one run: the snapshot with tiers, and the accrual
    assert result.loyalty is not None and result.loyalty.entries > 0
    shop = Shop(ws=ws)
    for scope in ("read", "write", "admin"):
        shop.keys[scope] = create_key(ws.store, scope=scope, name=f"test-{scope}")
    with Served(ws.root) as server:
        yield shop, server


@pytest.fixture(scope="module")
def shop(served):
    return served[0]


@pytest.fixture(scope="module")
def clients(served):
    shop, server = served
    made = {scope: server.client(scope, shop) for scope in ("read", "write", "admin")}
    made[None] = server.client()
    yield made
    for client in made.values():
        client.close()


@pytest.fixture(scope="module")
def read(clients):
    return clients["read"]


@pytest.fixture(scope="module")
def write(clients):
    return clients["write"]


@pytest.fixture(scope="module")
def admin(clients):
    return clients["admin"]


# -- independent readings -------------------------------------------------------------------------------


def ledger_rows(ws, customer_id: str | None = None) -> int:
    q = sa.select(sa.func.count()).select_from(loyalty_ledger)
    if customer_id is not None:
        q = q.where(L.customer_id == customer_id)
    with ws.store.connect() as conn:
        return conn.execute(q).scalar_one()


def ledger_sum(ws, customer_id: str) -> int:
    with ws.store.connect() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(L.points), 0))
                                .where(L.customer_id == customer_id)).scalar_one())


def rows_with_key(ws, key: str) -> list:
    with ws.store.connect() as conn:
        return conn.execute(sa.select(loyalty_ledger).where(L.key == key)).all()


def snapshot(ws, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{ws.history.path(DAY)}')")
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def customers_in(ws, tier: str) -> list[str]:
    return [r[0] for r in snapshot(ws, "SELECT customer_id FROM s WHERE tier = ? ORDER BY tier_spend DESC", [tier])]


_USED: dict[Path, set[str]] = {}


def fresh_customer(ws) -> str:
    """A customer of the snapshot no other test has written to."""
    used = _USED.setdefault(ws.root, set())
    for (cid,) in snapshot(ws, "SELECT customer_id FROM s WHERE orders > 0 ORDER BY customer_id"):
        if cid not in used:
            used.add(cid)
            return cid
    raise AssertionError("no customer left")


def funded(ws, admin, points: int = 1000) -> tuple[str, int]:
    """A fresh customer given `points` by an admin adjustment (dated today, so the test does not
    depend on which of the history's points have expired by the day it runs); their balance."""
    cid = fresh_customer(ws)
    r = admin.post(f"/v1/customers/{cid}/loyalty/adjustments", json={"points": points, "reason": "test funds"})
    assert r.status_code == 201, r.text
    return cid, r.json()["balance"]


def key() -> str:
    return str(uuid.uuid4())


# -- the programme ----------------------------------------------------------------------------------------


def test_the_programme_lists_tiers_with_their_customers_rewards_plans_and_the_liability(shop, read):
    ws = shop.ws
    r = read.get("/v1/loyalty")
    assert r.status_code == 200, r.text
    got = r.json()
    loyalty = ws.settings.loyalty
    assert got["as_of"] == DAY.isoformat() and got["today"] == ws.today().isoformat()
    assert [t["name"] for t in got["tiers"]] == loyalty.tier_names()
    counts = dict(snapshot(ws, "SELECT tier, count(*) FROM s GROUP BY tier"))
    assert {t["name"]: t["customers"] for t in got["tiers"]} == {n: counts.get(n, 0) for n in loyalty.tier_names()}
    assert sum(t["customers"] for t in got["tiers"]) == snapshot(ws, "SELECT count(*) FROM s")[0][0]
    assert {t["name"]: (t["min_spend"], t["points_multiplier"]) for t in got["tiers"]} == {
        t.name: (t.min_spend, t.points_multiplier) for t in loyalty.tiers}
    assert {x["name"]: x["cost"] for x in got["rewards"]} == {n: x.cost for n, x in loyalty.rewards.items()}
    assert {p["name"] for p in got["plans"]} == set(loyalty.plans)
    assert got["point_value"] == loyalty.point_value
    # The liability: every customer's points today, replayed here from the ledger's entries.
    today = ws.today()
    with ws.store.connect() as conn:
        per = ledger.all_entries(conn)
    states = [simulate(cid, fixed=items, as_of=today, expires=loyalty.expires_on) for cid, items in per.items()]
    outstanding = sum(s.balance for s in states)
    liability = got["liability"]
    assert liability["outstanding_points"] == outstanding
    assert liability["customers_with_points"] == sum(1 for s in states if s.balance > 0)
    assert liability["value"] == pytest.approx(round(outstanding * loyalty.point_value, 2))
    assert liability["expiring_30d"] == sum(s.expiring(today, today + dt.timedelta(days=30)) for s in states)


# -- a customer's points ----------------------------------------------------------------------------------


def test_a_customers_loyalty_matches_the_snapshot_and_the_ledger(shop, read):
    ws = shop.ws
    gold = customers_in(ws, "gold")
    cid = gold[0] if gold else customers_in(ws, "silver")[0]
    r = read.get(f"/v1/customers/{cid}/loyalty")
    assert r.status_code == 200, r.text
    got = r.json()
    row = dict(zip(["tier", "tier_spend", "next_tier", "spend_to_next_tier", "membership"],
                   snapshot(ws, "SELECT tier, tier_spend, next_tier, spend_to_next_tier, membership FROM s "
                                "WHERE customer_id = ?", [cid])[0]))
    assert got["customer_id"] == cid and got["as_of"] == DAY.isoformat()
    assert got["tier"] == row["tier"] and got["membership"] == row["membership"]
    assert got["tier_spend"] == pytest.approx(float(row["tier_spend"]))
    assert got["next_tier"] == row["next_tier"]
    today = ws.today()
    with ws.store.connect() as conn:
        state = simulate(cid, fixed=ledger.entries(conn, cid), as_of=today, expires=ws.settings.loyalty.expires_on)
    assert got["balance"] == state.balance >= 0
    assert got["expiring_30d"] == state.expiring(today, today + dt.timedelta(days=30))
    dated = sorted(lot.expires_on for lot in state.lots if lot.expires_on)
    assert got["next_expiry_on"] == (dated[0].isoformat() if dated else None)
    assert {x["name"] for x in got["rewards_affordable"]} == {
        n for n, x in ws.settings.loyalty.rewards.items() if x.cost <= got["balance"]}


def test_an_unknown_customer_is_404(read, write, admin, shop):
    before = ledger_rows(shop.ws)
    for r in (read.get("/v1/customers/NOBODY-9/loyalty"), read.get("/v1/customers/NOBODY-9/loyalty/history"),
              write.post("/v1/customers/NOBODY-9/loyalty/redemptions", json={"points": 1},
                         headers={"Idempotency-Key": key()}),
              admin.post("/v1/customers/NOBODY-9/loyalty/adjustments", json={"points": 5, "reason": "x"})):
        assert r.status_code == 404, r.text
        assert r.json() == {"detail": "no customer 'NOBODY-9' in the latest snapshot or the points ledger"}
    assert ledger_rows(shop.ws) == before


def test_history_is_the_ledger_newest_first(shop, read):
    ws = shop.ws
    with ws.store.connect() as conn:
        cid, n = conn.execute(sa.select(L.customer_id, sa.func.count()).group_by(L.customer_id)
                              .order_by(sa.func.count().desc(), L.customer_id).limit(1)).one()
    r = read.get(f"/v1/customers/{cid}/loyalty/history", params={"limit": 1000})
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    assert len(entries) == n > 1
    assert sum(e["points"] for e in entries) == ledger_sum(ws, cid)
    days = [e["effective_on"] for e in entries]
    assert days == sorted(days, reverse=True)
    assert all(e["created_at"].endswith("Z") or e["created_at"].endswith("+00:00") for e in entries)
    limited = read.get(f"/v1/customers/{cid}/loyalty/history", params={"limit": 2}).json()["entries"]
    assert limited == entries[:2]
    assert read.get(f"/v1/customers/{cid}/loyalty/history", params={"limit": 0}).status_code == 422


# -- keys and scopes ----------------------------------------------------------------------------------------


def test_keys_and_scopes(shop, clients):
    ws = shop.ws
    cid = fresh_customer(ws)
    before = ledger_rows(ws)
    anonymous, read, write = clients[None], clients["read"], clients["write"]
    for r in (anonymous.get("/v1/loyalty"), anonymous.get(f"/v1/customers/{cid}/loyalty"),
              anonymous.get(f"/v1/customers/{cid}/loyalty/history"),
              anonymous.post(f"/v1/customers/{cid}/loyalty/redemptions", json={"points": 1},
                             headers={"Idempotency-Key": key()}),
              anonymous.post(f"/v1/customers/{cid}/loyalty/adjustments", json={"points": 1, "reason": "x"})):
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == "Bearer"
    r = read.post(f"/v1/customers/{cid}/loyalty/redemptions", json={"points": 1}, headers={"Idempotency-Key": key()})
    assert r.status_code == 403 and r.json() == {"detail": "this key's scope is read; this needs write"}
    r = write.post(f"/v1/customers/{cid}/loyalty/adjustments", json={"points": 100, "reason": "x"})
    assert r.status_code == 403 and r.json() == {"detail": "this key's scope is write; this needs admin"}
    assert ledger_rows(ws) == before


# -- adjustments and redemptions ------------------------------------------------------------------------------


def test_an_adjustment_adds_a_lot_that_expires_like_earned_points_and_can_take_points_back(shop, admin, read):
    ws = shop.ws
    cid = fresh_customer(ws)
    start = read.get(f"/v1/customers/{cid}/loyalty").json()["balance"]
    r = admin.post(f"/v1/customers/{cid}/loyalty/adjustments", json={"points": 700, "reason": "goodwill: late"},
                   headers={"Idempotency-Key": "adj-1-" + cid})
    assert r.status_code == 201, r.text
    got = r.json()
    today = ws.today()
    assert got["replayed"] is False and got["balance"] == start + 700
    assert got["entry"] == {"kind": "adjust", "points": 700, "effective_on": today.isoformat(),
                            "expires_on": ws.settings.loyalty.expires_on(today).isoformat(),
                            "reason": "goodwill: late", "source": "admin", "source_id": "adj-1-" + cid, "reward": None}
    assert ledger_sum(ws, cid) == got["balance"]  # the adjustment settled the expiries due first
    again = admin.post(f"/v1/customers/{cid}/loyalty/adjustments", json={"points": 700, "reason": "goodwill: late"},
                       headers={"Idempotency-Key": "adj-1-" + cid})
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["entry"] == got["entry"] and len(rows_with_key(ws, "adjust:adj-1-" + cid)) == 1
    take = admin.post(f"/v1/customers/{cid}/loyalty/adjustments", json={"points": -200, "reason": "double credit"})
    assert take.status_code == 201 and take.json()["balance"] == start + 500
    assert read.get(f"/v1/customers/{cid}/loyalty").json()["balance"] == start + 500 == ledger_sum(ws, cid)


def test_a_redemption_takes_the_rewards_cost_once_per_key(shop, admin, write, read):
    ws = shop.ws
    cid, balance = funded(ws, admin, 1000)
    k = key()
    before = ledger_rows(ws)
    r = write.post(f"/v1/customers/{cid}/loyalty/redemptions", json={"reward": "discount-5"},
                   headers={"Idempotency-Key": k})
    assert r.status_code == 201, r.text
    got = r.json()
    cost = ws.settings.loyalty.rewards["discount-5"].cost
    assert got["balance"] == balance - cost and got["replayed"] is False and got["customer_id"] == cid
    assert got["entry"] == {"kind": "redeem", "points": -cost, "effective_on": ws.today().isoformat(),
                            "expires_on": None, "reason": "redeemed reward discount-5", "source": "api",
                            "source_id": k, "reward": "discount-5"}
    assert ledger_rows(ws) == before + 1
    # The same key and body again: the same entry, 200, nothing written.
    again = write.post(f"/v1/customers/{cid}/loyalty/redemptions", json={"reward": "discount-5"},
                       headers={"Idempotency-Key": k})
    assert again.status_code == 200, again.text
    assert again.json() == {**got, "replayed": True}
    assert ledger_rows(ws) == before + 1 and len(rows_with_key(ws, f"redeem:{k}")) == 1
    # Points instead of a reward.
    r = write.post(f"/v1/customers/{cid}/loyalty/redemptions", json={"points": 120}, headers={"Idempotency-Key": key()})
    assert r.status_code == 201 and r.json()["balance"] == balance - cost - 120
    assert r.json()["entry"]["reward"] is None and r.json()["entry"]["points"] == -120
    assert read.get(f"/v1/customers/{cid}/loyalty").json()["balance"] == balance - cost - 120 == ledger_sum(ws, cid)
    history = read.get(f"/v1/customers/{cid}/loyalty/history", params={"limit": 2}).json()["entries"]
    assert [e["points"] for e in history] == [-120, -cost]


def test_redeeming_more_than_the_balance_is_409_and_writes_nothing(shop, admin, write, read):
    ws = shop.ws
    cid, balance = funded(ws, admin, 400)
    before, rows = ledger_rows(ws), ledger_rows(ws, cid)
    r = write.post(f"/v1/customers/{cid}/loyalty/redemptions", json={"points": balance + 1},
                   headers={"Idempotency-Key": key()})
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith(f"customer {cid} has {balance} points; ")
    assert ledger_rows(ws) == before and ledger_rows(ws, cid) == rows
    assert read.get(f"/v1/customers/{cid}/loyalty").json()["balance"] == balance == ledger_sum(ws, cid)


@pytest.mark.parametrize(("body", "headers", "says"), [
    ({"reward": "no-such-reward"}, True, "unknown reward 'no-such-reward' (rewards: discount-5, free-shipping, sample)"),
    ({"points": -5}, True, "greater than 0"),
    ({"points": 0}, True, "greater than 0"),
    ({"points": 2.5}, True, "valid integer"),
    ({"points": "10"}, True, "valid integer"),
    ({"reward": "sample", "points": 10}, True, "exactly one of reward and points"),
    ({}, True, "exactly one of reward and points"),
    ({"reward": "sample", "note": "hi"}, True, "Extra inputs are not permitted"),
    ({"reward": "sample"}, False, "Idempotency-Key"),
])
def test_a_malformed_redemption_is_422_and_writes_nothing(shop, admin, write, body, headers, says):
    ws = shop.ws
    cid, balance = funded(ws, admin, 600)
    before = ledger_rows(ws)
    r = write.post(f"/v1/customers/{cid}/loyalty/redemptions", json=body,
                   headers={"Idempotency-Key": key()} if headers else {})
    assert r.status_code == 422, r.text
    assert says in str(r.json()["detail"])
    assert ledger_rows(ws) == before and ledger_sum(ws, cid) == balance


def test_a_body_that_is_not_json_writes_nothing(shop, admin, write):
    ws = shop.ws
    cid, balance = funded(ws, admin, 300)
    before = ledger_rows(ws)
    headers = {"Idempotency-Key": key(), "Content-Type": "application/json"}
    r = write.post(f"/v1/customers/{cid}/loyalty/redemptions", content=b'{"reward": "sam', headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = write.post(f"/v1/customers/{cid}/loyalty/redemptions", content=b'{"reward": "\xe9"}', headers=headers)
    assert r.status_code == 400 and r.json() == {"detail": "There was an error parsing the body"}  # not UTF-8
    assert ledger_rows(ws) == before and ledger_sum(ws, cid) == balance


def test_a_key_reused_for_a_different_request_is_422_and_writes_nothing(shop, admin, write):
    ws = shop.ws
    cid, balance = funded(ws, admin, 1000)
    other, _ = funded(ws, admin, 1000)
    k = key()
    first = write.post(f"/v1/customers/{cid}/loyalty/redemptions", json={"reward": "sample"},
                       headers={"Idempotency-Key": k})
    assert first.status_code == 201
    before = ledger_rows(ws)
    for url, body in ((f"/v1/customers/{cid}/loyalty/redemptions", {"reward": "free-shipping"}),
                      (f"/v1/customers/{cid}/loyalty/redemptions", {"points": 150}),
                      (f"/v1/customers/{other}/loyalty/redemptions", {"reward": "sample"})):
        r = write.post(url, json=body, headers={"Idempotency-Key": k})
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith("this idempotency key was already used for a different request")
    assert ledger_rows(ws) == before and len(rows_with_key(ws, f"redeem:{k}")) == 1
    assert ledger_sum(ws, cid) == first.json()["balance"]


@pytest.mark.parametrize(("body", "code", "says"), [
    ({"points": 100}, 422, "Field required"),
    ({"points": 100, "reason": "   "}, 422, "pattern"),
    ({"points": 100, "reason": ""}, 422, "at least 1 character"),
    ({"points": 0, "reason": "nothing"}, 422, "must not be 0 points"),
    ({"reason": "no points"}, 422, "Field required"),
    ({"points": 100, "reason": "x", "by": "me"}, 422, "Extra inputs are not permitted"),
    ({"points": -100_000, "reason": "too much"}, 409, "cannot take 100000"),
])
def test_a_refused_adjustment_writes_nothing(shop, admin, body, code, says):
    ws = shop.ws
    cid, balance = funded(ws, admin, 300)
    before = ledger_rows(ws)
    r = admin.post(f"/v1/customers/{cid}/loyalty/adjustments", json=body)
    assert r.status_code == code, r.text
    assert says in str(r.json()["detail"])
    assert ledger_rows(ws) == before and ledger_sum(ws, cid) == balance


def test_concurrent_redemptions_never_overdraw(shop, admin, write):
    ws = shop.ws
    cid, balance = funded(ws, admin, 1000)
    cost = ws.settings.loyalty.rewards["sample"].cost
    answers: list[int] = []
    lock = threading.Lock()

    def one():
        r = write.post(f"/v1/customers/{cid}/loyalty/redemptions", json={"reward": "sample"},
                       headers={"Idempotency-Key": key()})
        with lock:
            answers.append(r.status_code)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(answers)) <= [201, 409]
    assert answers.count(201) == balance // cost
    assert ledger_sum(ws, cid) == balance - answers.count(201) * cost >= 0


# -- the programme off ----------------------------------------------------------------------------------------


def test_every_loyalty_endpoint_is_404_while_the_programme_is_off(tmp_path):
    ws = Workspace.init(tmp_path / "off")
    keys = {scope: create_key(ws.store, scope=scope, name=scope) for scope in ("read", "admin")}
    off = "the loyalty programme is off: loyalty.enabled is false in tenure.toml — set it to true"
    with Served(ws.root) as server:
        shop = Shop(ws=ws, keys=keys)
        with server.client("admin", shop) as c, server.client() as anonymous:
            for r in (c.get("/v1/loyalty"), c.get("/v1/customers/C1/loyalty"), c.get("/v1/customers/C1/loyalty/history"),
                      c.post("/v1/customers/C1/loyalty/redemptions", json={"points": 5}, headers={"Idempotency-Key": "k"}),
                      c.post("/v1/customers/C1/loyalty/redemptions", json={"bad": "body"}),
                      c.post("/v1/customers/C1/loyalty/adjustments", json={"points": 5, "reason": "x"})):
                assert r.status_code == 404, r.text
                assert r.json() == {"detail": off}
            assert anonymous.get("/v1/loyalty").status_code == 401  # the key is checked first
        with server.client("read", shop) as c:
            assert c.post("/v1/customers/C1/loyalty/adjustments", json={"points": 5, "reason": "x"}).status_code == 403
    with ws.store.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(loyalty_ledger)).scalar_one() == 0


def test_the_new_paths_are_in_the_openapi_description_with_their_errors(served):
    import httpx

    _, server = served
    spec = httpx.get(server.url + "/openapi.json").json()
    ops = {(m.upper(), p): op for p, item in spec["paths"].items() for m, op in item.items() if "loyalty" in p}
    assert set(ops) == {("GET", "/v1/loyalty"), ("GET", "/v1/customers/{customer_id}/loyalty"),
                        ("GET", "/v1/customers/{customer_id}/loyalty/history"),
                        ("POST", "/v1/customers/{customer_id}/loyalty/redemptions"),
                        ("POST", "/v1/customers/{customer_id}/loyalty/adjustments")}
    assert all(op["tags"] == ["loyalty"] for op in ops.values())
    assert set(ops["POST", "/v1/customers/{customer_id}/loyalty/redemptions"]["responses"]) == {
        "200", "201", "400", "401", "403", "404", "409", "422"}
    header = [p for p in ops["POST", "/v1/customers/{customer_id}/loyalty/redemptions"]["parameters"]
              if p["in"] == "header"]
    assert header[0]["name"] == "Idempotency-Key" and header[0]["required"] is True
    for op in ops.values():
        assert re.search(r"\S", op["summary"]) and {"401", "403", "404"} <= set(op["responses"])
