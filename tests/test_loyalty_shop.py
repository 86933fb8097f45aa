"""The loyalty programme on the generated shop, against independent plain-SQL computations
written here from the definitions (DuckDB over the warehouse file):

- tiers: spend of completed orders over the 365 days up to a day; the highest tier reached on
  any day of the last 30 (the grace period), brute force over every day;
- points: each completed order earns floor(amount x the multiplier of the tier held the day
  before it); reviews and referrals earn their points; points expire 12 months after they were
  earned; with no redemption the balance is what has not expired yet;
- a campaign on entering gold enrolls exactly the customers whose tier became gold between the
  two runs, and its task shows the customer's points.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import sqlalchemy as sa

from tenure import Workspace, generate
from tenure.loyalty import ledger
from tenure.store.tables import enrollments, tasks

BEFORE, AS_OF = dt.date(2025, 11, 30), dt.date(2025, 12, 31)
WINDOW, GRACE = 365, 30
TIERS = (("gold", 1000.0, 2.0), ("silver", 300.0, 1.5), ("bronze", 0.0, 1.0))
EVENT_POINTS = {"referral": 200, "review": 50}
CONFIG = """
[campaigns.gold-welcome]
enabled = true
description = "a manager calls every customer who reaches gold"
trigger = { tier = "gold" }
steps = [{ offset_days = 0, channel = "task", template = "gold-call" }]
holdout_share = 0.2
"""


def enable_loyalty(ws_root) -> None:
    path = ws_root / "tenure.toml"
    text = path.read_text()
    head, tail = text.split("[loyalty]\n", 1)
    tail = tail.replace("enabled = false", "enabled = true", 1)
    # Tiers of this test (lower than the defaults, so that a month sees customers cross them).
    tail = tail.replace("min_spend = 500.0\npoints_multiplier = 1.25", "min_spend = 300.0\npoints_multiplier = 1.5")
    tail = tail.replace("min_spend = 2000.0\npoints_multiplier = 1.5", "min_spend = 1000.0\npoints_multiplier = 2.0")
    # Membership multipliers are tested on their own; here points depend on tiers only.
    for price in ("4.99", "49.0"):
        tail = tail.replace(f"price = {price}\npoints_multiplier = 2.0", f"price = {price}\npoints_multiplier = 1.0")
    path.write_text(head + "[loyalty]\n" + tail + CONFIG)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("loyalty-shop")
    generate(customers=3000, seed=11, out=root / "in", fmt="parquet")
    ws = Workspace.init(root / "ws")
    enable_loyalty(ws.root)
    (ws.root / "templates" / "gold-call").mkdir(parents=True)
    (ws.root / "templates" / "gold-call" / "task.txt").write_text(
        "Call {{ customer.customer_id }}: now {{ customer.tier }}, {{ customer.points_balance }} points\n")
    ws = Workspace(ws.root)
    assert ws.settings.loyalty.enabled and [t.min_spend for t in ws.settings.loyalty.tiers] == [0, 300, 1000]
    assert all(p.points_multiplier == 1.0 for p in ws.settings.loyalty.plans.values())
    for entity in ("customers", "orders", "order_items", "events"):
        ws.ingest(entity, [root / "in" / f"{entity}.parquet"])
    ws.run(as_of=BEFORE, dispatch=False)
    ws.run(as_of=AS_OF, now=dt.datetime(2025, 12, 31, 10), dispatch=True)
    return ws


def _tier_case(spend: str) -> str:
    return "CASE " + " ".join(f"WHEN {spend} >= {m} THEN '{n}'" for n, m, _ in TIERS[:-1]) + " ELSE 'bronze' END"


def oracle_tiers(con, as_of: dt.date) -> dict[str, str]:
    rows = con.execute(f"""
        WITH p AS (SELECT customer_id, CAST(ordered_at AS DATE) AS d, CAST(amount AS DOUBLE) AS amount FROM orders
                   WHERE status = 'completed' AND amount > 0 AND customer_id IS NOT NULL
                     AND ordered_at < DATE '{as_of}' + 1),
        days AS (SELECT CAST(x AS DATE) AS day
                 FROM range(DATE '{as_of}' - {GRACE}, DATE '{as_of}' + 1, INTERVAL 1 DAY) t(x)),
        spend AS (SELECT p.customer_id, days.day, sum(p.amount) AS s FROM p JOIN days
                  ON p.d <= days.day AND p.d > days.day - {WINDOW} GROUP BY ALL),
        best AS (SELECT customer_id, max(s) AS q FROM spend GROUP BY ALL)
        SELECT c.customer_id, {_tier_case("coalesce(q, 0)")} FROM customers c LEFT JOIN best USING (customer_id)
        WHERE c.created_at IS NULL OR c.created_at < DATE '{as_of}' + 1""").fetchall()
    return dict(rows)


def oracle_points(con, as_of: dt.date) -> dict[str, int]:
    mult = "CASE " + " ".join(f"WHEN q >= {m} THEN {x}" for _, m, x in TIERS[:-1]) + " ELSE 1.0 END"
    events = " ".join(f"WHEN '{k}' THEN {v}" for k, v in EVENT_POINTS.items())
    rows = con.execute(f"""
        WITH p AS (SELECT order_id, customer_id, CAST(ordered_at AS DATE) AS d, CAST(amount AS DOUBLE) AS amount
                   FROM orders WHERE status = 'completed' AND amount > 0 AND customer_id IS NOT NULL
                     AND ordered_at < DATE '{as_of}' + 1),
        -- the tier held the day before each order: every day of the grace span before it
        k AS (SELECT p.order_id, p.customer_id, p.d - 1 - CAST(g AS INTEGER) AS day FROM p, range(0, {GRACE} + 1) t(g)),
        s AS (SELECT k.order_id, k.day, coalesce(sum(q.amount), 0) AS s FROM k LEFT JOIN p q
              ON q.customer_id = k.customer_id AND q.d <= k.day AND q.d > k.day - {WINDOW} GROUP BY ALL),
        tier AS (SELECT order_id, max(s) AS q FROM s GROUP BY ALL),
        earned AS (
            SELECT p.customer_id, floor(p.amount * ({mult}) + 1e-9) AS points, p.d AS d
            FROM p JOIN tier USING (order_id)
            UNION ALL
            SELECT customer_id, CASE type {events} END, CAST(occurred_at AS DATE)
            FROM events WHERE type IN ({", ".join(f"'{k}'" for k in EVENT_POINTS)})
              AND occurred_at < DATE '{as_of}' + 1)
        SELECT customer_id, CAST(sum(points) AS BIGINT) FROM earned
        WHERE d + INTERVAL 12 MONTH > DATE '{as_of}' GROUP BY ALL HAVING sum(points) > 0""").fetchall()
    return dict(rows)


def test_tier_counts_match_an_independent_computation(shop):
    con = duckdb.connect(str(shop.warehouse_path), read_only=True)
    try:
        for day in (BEFORE, AS_OF):
            expected = oracle_tiers(con, day)
            snap = shop.history.read(day).select("customer_id", "tier").to_pandas()
            assert dict(zip(snap.customer_id, snap.tier)) == expected
            counts = snap.tier.value_counts().to_dict()
            assert counts.get("gold", 0) > 10 and counts.get("silver", 0) > 50
    finally:
        con.close()


def test_points_and_liability_match_an_independent_computation(shop):
    con = duckdb.connect(str(shop.warehouse_path), read_only=True)
    try:
        expected = oracle_points(con, AS_OF)
    finally:
        con.close()
    with shop.store.connect() as conn:
        stored = {cid: total for cid, total in ledger.balances(conn).items() if total}
        owed = ledger.liability(conn, today=AS_OF, settings=shop.settings.loyalty)
    assert stored == expected
    assert owed["outstanding_points"] == sum(expected.values()) > 10_000
    assert owed["value"] == round(sum(expected.values()) * 0.01, 2)
    assert owed["customers_with_points"] == len(expected)


def test_a_gold_entry_campaign_fires_for_exactly_those_who_crossed(shop):
    con = duckdb.connect(str(shop.warehouse_path), read_only=True)
    try:
        before, after = oracle_tiers(con, BEFORE), oracle_tiers(con, AS_OF)
    finally:
        con.close()
    crossed = {cid for cid, tier in after.items() if tier == "gold" and before.get(cid) != "gold"}
    assert len(crossed) >= 3
    with shop.store.connect() as conn:
        entered = conn.execute(sa.select(enrollments.c.customer_id, enrollments.c.grp)
                               .where(enrollments.c.campaign == "gold-welcome")).all()
        made = conn.execute(sa.select(tasks.c.customer_id, tasks.c.action)
                            .where(tasks.c.campaign == "gold-welcome")).all()
        balances = ledger.balances(conn)
    assert {cid for cid, _ in entered} == crossed and len(entered) == len(crossed)
    treated = {cid for cid, grp in entered if grp == "treatment"}
    assert {cid for cid, _ in made} == treated
    for cid, action in made:  # the template saw the tier and the day's balance
        assert action.strip() == f"Call {cid}: now gold, {balances.get(cid, 0)} points"


def test_a_rerun_and_a_rebuild_change_nothing(shop):
    from tenure.loyalty.accrual import rebuild
    from tenure.warehouse.backends import analytics_tables

    with shop.store.connect() as conn:
        before = ledger.balances(conn)
    again = shop.run(as_of=AS_OF, dispatch=False)
    assert again.loyalty.entries == 0
    result = rebuild(shop, AS_OF, tables=analytics_tables(shop, None), now=dt.datetime(2026, 1, 1))
    assert result.differences == [] and result.balances_changed == 0 and result.derived_after > 5_000
    with shop.store.connect() as conn:
        assert ledger.balances(conn) == before


def test_export_holds_a_customers_points_and_erasure_removes_them(shop):
    from tenure import privacy
    from tenure.store.tables import loyalty_accounts, loyalty_ledger

    with shop.store.connect() as conn:
        cid = max(ledger.balances(conn).items(), key=lambda kv: kv[1])[0]
    held = privacy.export(shop, cid)
    rows = held["operational_store"]["loyalty_ledger"]
    assert rows and {r["customer_id"] for r in rows} == {cid}
    privacy.erase(shop, cid)
    with shop.store.connect() as conn:
        for table in (loyalty_ledger, loyalty_accounts):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.customer_id == cid)).scalar_one() == 0


def test_the_liability_is_kept_until_the_ledger_changes(shop, monkeypatch):
    """views.liability answers again from what it kept while the ledger holds the same rows, and
    afresh after a write, an erasure or a deleted-and-replaced highest row (ids are not reused)."""
    from tenure import privacy
    from tenure.loyalty import views
    from tenure.store.tables import loyalty_ledger

    replays = []
    real = ledger.liability
    monkeypatch.setattr(ledger, "liability", lambda conn, **kw: replays.append(kw) or real(conn, **kw))
    first = views.liability(shop, AS_OF)
    assert views.liability(shop, AS_OF) == first and len(replays) == 1
    assert views.liability(shop, BEFORE) != first and len(replays) == 2  # another day, another answer

    with shop.store.connect() as conn:
        holders = sorted(ledger.balances(conn).items(), key=lambda kv: -kv[1])
    cid, other = holders[0][0], holders[1][0]
    ledger.adjust(shop.store, customer_id=cid, points=100, reason="goodwill", today=AS_OF,
                  now=dt.datetime(2026, 1, 1), settings=shop.settings.loyalty)
    added = views.liability(shop, AS_OF)
    assert added["outstanding_points"] == first["outstanding_points"] + 100 and len(replays) == 3

    # Delete the newest row and write one in its place: same count, but a new id.
    with shop.store.begin() as conn:
        newest = conn.execute(sa.select(loyalty_ledger).order_by(loyalty_ledger.c.id.desc()).limit(1)).one()
        conn.execute(loyalty_ledger.delete().where(loyalty_ledger.c.id == newest.id))
        again = {k: v for k, v in newest._asdict().items() if k != "id"}
        conn.execute(loyalty_ledger.insert().values(**{**again, "points": 40, "key": newest.key + ":again"}))
    assert views.liability(shop, AS_OF)["outstanding_points"] == first["outstanding_points"] + 40

    privacy.erase(shop, other)
    assert views.liability(shop, AS_OF)["outstanding_points"] == first["outstanding_points"] + 40 - holders[1][1]
    assert len(replays) == 5
