"""The loyalty programme in the report and the dashboard: members against non-members, their
cohort retention and the spend tiers, checked against an independent computation in plain DuckDB
SQL written from the definitions (docs/report.md, "Loyalty"), over the warehouse and the stored
snapshot's Parquet file; the report's Loyalty section only when `[loyalty]` is enabled; the
dashboard's page and its nav link likewise; both rendered in headless Chromium.

The generated shop holds few paid memberships (about 7% of its repeat buyers join), too few to
compare four statuses and twelve months of retention in 400 customers, so `add_members` ingests
a small events file of more memberships (starts, renewals, cancellations) for some of its buyers,
through the ordinary events ingest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tenure import Workspace
from tests.serving import PASSWORD, Served, make_shop

DAYS = (dt.date(2025, 12, 1), dt.date(2025, 12, 31))
# The tiers the test shop runs with: the defaults' thresholds (500, 2000) are lowered so that the
# generated shop (a few hundred dollars a year per buyer) fills all three.
TIERS = (("bronze", 0.0), ("silver", 150.0), ("gold", 400.0))


# -- the shop -----------------------------------------------------------------------------------
def enable_loyalty(ws: Workspace) -> Workspace:
    """[loyalty] enabled = true, with TIERS' thresholds; the workspace reopened on its new settings."""
    toml = ws.root / "tenure.toml"
    text = re.sub(r"(\[loyalty\][^\[]*?)enabled = false", r"\1enabled = true", toml.read_text(), count=1)
    text = text.replace("min_spend = 500.0", f"min_spend = {TIERS[1][1]}")
    text = text.replace("min_spend = 2000.0", f"min_spend = {TIERS[2][1]}")
    toml.write_text(text)
    ws = Workspace(ws.root)
    assert ws.settings.loyalty.enabled and [t.min_spend for t in ws.settings.loyalty.tiers] == [m for _, m in TIERS]
    return ws


def _monthly(start: dt.date, count: int) -> list[dt.date]:
    out = []
    for i in range(count):
        year, month = divmod(start.month - 1 + i, 12)
        out.append(dt.date(start.year + year, month + 1, start.day))
    return out


def membership_events(orders: pd.DataFrame) -> pd.DataFrame:
    """Paid memberships for buyers who first bought before June 2025, most frequent buyers first:
    of the first half every one, of the rest one in four, in five patterns by position (i % 5):
    0 a yearly plan from 10 Mar 2025 (member on both DAYS); 1 monthly from 5 Jul 2025, renewed to
    December (member); 2 monthly from 1 May 2025, renewed to September, then nothing (lapsed);
    3 yearly from 1 Feb 2025, cancelled on 15 Nov 2025 (cancelled: benefits to 31 Jan 2026);
    4 nothing."""
    done = orders[(orders.status == "completed") & (orders.amount > 0) & orders.customer_id.notna()]
    first = done.groupby("customer_id").ordered_at.min()
    count = done.groupby("customer_id").size()
    buyers = sorted(first[first < "2025-06-01"].index, key=lambda c: (-count[c], c))
    rows = []

    def event(cid: str, day: dt.date, kind: str, plan: str | None = None) -> None:
        rows.append({"event_id": f"M-{cid}-{kind}-{day}", "customer_id": cid, "occurred_at": f"{day} 10:00:00",
                     "type": kind, "properties": json.dumps({"plan": plan}) if plan else None})

    for i, cid in enumerate(buyers):
        if i >= len(buyers) // 2 and i % 4:
            continue
        pattern = i % 5
        if pattern == 0:
            event(cid, dt.date(2025, 3, 10), "membership_start", "plus-yearly")
        elif pattern in (1, 2):
            days = _monthly(dt.date(2025, 7, 5), 6) if pattern == 1 else _monthly(dt.date(2025, 5, 1), 5)
            event(cid, days[0], "membership_start", "plus-monthly")
            for day in days[1:]:
                event(cid, day, "membership_renew", "plus-monthly")
        elif pattern == 3:
            event(cid, dt.date(2025, 2, 1), "membership_start", "plus-yearly")
            event(cid, dt.date(2025, 11, 15), "membership_cancel")
    return pd.DataFrame(rows, columns=["event_id", "customer_id", "occurred_at", "type", "properties"])


def add_members(ws: Workspace, generated: Path) -> int:
    """Ingest membership_events of the generated shop in `generated` (make_shop's root / "in")."""
    events = membership_events(pd.read_parquet(generated / "orders.parquet"))
    path = generated / "memberships.csv"
    events.to_csv(path, index=False)
    summary = ws.ingest("events", [path])
    assert summary.rows == {"loaded": len(events)}, summary
    return len(events)


def loyalty_shop(root: Path, *, days=DAYS) -> Workspace:
    """make_shop's generated shop with loyalty enabled, memberships ingested and `days` run."""
    ws = enable_loyalty(make_shop(root, days=()).ws)
    add_members(ws, root / "in")
    for day in days:
        ws.run(as_of=day, dispatch=False, now=dt.datetime.combine(day, dt.time(12)))
    return ws


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Workspace:
    return loyalty_shop(tmp_path_factory.mktemp("loyalty"))


@pytest.fixture(scope="module")
def switched_off(shop, tmp_path_factory) -> Workspace:
    """A copy of the shop with `[loyalty] enabled = false` (its snapshots keep their columns)."""
    root = tmp_path_factory.mktemp("loyalty-off") / "ws"
    shutil.copytree(shop.root, root, ignore=shutil.ignore_patterns(".tenure.lock"))
    toml = root / "tenure.toml"
    toml.write_text(re.sub(r"(\[loyalty\][^\[]*?)enabled = true", r"\1enabled = false", toml.read_text(), count=1))
    ws = Workspace(root)
    assert not ws.settings.loyalty.enabled
    return ws


# -- the oracle: plain SQL from the definitions ---------------------------------------------------
def oracle(ws: Workspace, day: dt.date) -> duckdb.DuckDBPyConnection:
    """The warehouse (read-only) with `snap`, the stored snapshot of `day`, and `grp`, its customers
    as members or non-members."""
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    con.execute(f"CREATE TEMP VIEW snap AS SELECT * FROM read_parquet('{ws.history.path(day)}')")
    # "members: membership on the day is `member` or `cancelled` (the plan's benefits run);
    #  non-members: every other customer of the snapshot, leads included."
    con.execute("""CREATE TEMP VIEW grp AS
        SELECT customer_id, CASE WHEN membership IN ('member', 'cancelled') THEN 'members' ELSE 'non-members' END AS grp
        FROM snap""")
    return con


def oracle_comparison(con, day: dt.date) -> pd.DataFrame:
    start, end = day - dt.timedelta(days=364), day + dt.timedelta(days=1)
    return con.execute(f"""
        -- "completed orders (status completed, amount > 0) of the last 365 days ending with the day":
        --  from midnight 364 days before it to midnight after it.
        WITH w AS (
            SELECT customer_id, count(*) AS n, sum(amount) AS spend FROM orders
            WHERE status = 'completed' AND amount > 0 AND customer_id IS NOT NULL
              AND ordered_at >= TIMESTAMP '{start} 00:00:00' AND ordered_at < TIMESTAMP '{end} 00:00:00'
            GROUP BY customer_id),
        g AS (
            SELECT grp, count(*) AS customers,
                   count(*) FILTER (WHERE n >= 1) AS buyers,          -- "bought at least once in them"
                   count(*) FILTER (WHERE n >= 2) AS repeat_buyers,   -- "at least twice"
                   coalesce(sum(n), 0) AS orders, coalesce(sum(spend), 0) AS spend
            FROM grp LEFT JOIN w USING (customer_id) GROUP BY grp)
        SELECT grp AS "group", customers, buyers, repeat_buyers, orders, CAST(spend AS DOUBLE) AS spend,
               repeat_buyers / nullif(buyers, 0) AS repeat_rate,
               spend / nullif(customers, 0) AS spend_per_customer,
               spend / nullif(buyers, 0) AS spend_per_buyer,
               spend / nullif(orders, 0) AS average_order_value,
               orders / nullif(buyers, 0) AS orders_per_buyer
        FROM g ORDER BY grp""").df()


def oracle_retention(con, day: dt.date, months: int = 12) -> pd.DataFrame:
    # "counting only cohorts whose month m is over by the day": the month before the one holding
    # the next day is the last one that is over.
    nxt = day + dt.timedelta(days=1)
    last_over = nxt.year * 12 + nxt.month - 1 - 1
    return con.execute(f"""
        WITH pm AS (   -- calendar months (year * 12 + month - 1) in which a customer completed an order
            SELECT DISTINCT customer_id, year(ordered_at) * 12 + month(ordered_at) - 1 AS m FROM orders
            WHERE status = 'completed' AND amount > 0 AND customer_id IS NOT NULL
              AND ordered_at < TIMESTAMP '{nxt} 00:00:00'),
        cohort AS (SELECT customer_id, min(m) AS c FROM pm GROUP BY customer_id),
        eligible AS (  -- buyer x month k after the first purchase, while that month is over
            SELECT g.grp, k.k, c.customer_id, c.c FROM cohort c JOIN grp g USING (customer_id),
                   range(1, {months + 1}) k(k)
            WHERE c.c + k.k <= {last_over})
        SELECT e.grp AS "group", e.k AS month, count(DISTINCT e.c) AS cohorts, count(*) AS customers,
               count(pm.customer_id) AS active_customers,
               count(pm.customer_id) / count(*) AS retention
        FROM eligible e LEFT JOIN pm ON pm.customer_id = e.customer_id AND pm.m = e.c + e.k
        GROUP BY e.grp, e.k ORDER BY e.grp, e.k""").df()


def oracle_tiers(con) -> pd.DataFrame:
    values = ", ".join(f"('{name}', {i}, {low}, {TIERS[i + 1][1] if i + 1 < len(TIERS) else 'NULL'})"
                       for i, (name, low) in enumerate(TIERS))
    return con.execute(f"""
        WITH tiers(tier, rank, min_spend, next_min) AS (VALUES {values})
        SELECT t.tier, count(s.customer_id) AS customers,
               count(s.customer_id) / (SELECT count(*) FROM snap) AS share,
               count(s.customer_id) FILTER (WHERE s.membership IN ('member', 'cancelled')) AS members,
               CAST(coalesce(sum(s.spend_365), 0) AS DOUBLE) AS spend_365,
               -- "close to the next tier: spend_to_next_tier under 10% of the next tier's min_spend"
               count(s.customer_id) FILTER (WHERE s.spend_to_next_tier < 0.1 * t.next_min) AS near_next
        FROM tiers t LEFT JOIN snap s ON s.tier = t.tier
        GROUP BY t.tier, t.rank ORDER BY t.rank""").df()


def same(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str]) -> None:
    ours = ours.sort_values(keys).reset_index(drop=True)
    theirs = theirs.sort_values(keys).reset_index(drop=True)
    assert len(ours) == len(theirs), (ours, theirs)
    for col in theirs.columns:
        a, b = ours[col], theirs[col]
        if col in keys or a.dtype == object:
            assert list(a) == list(b), (col, list(a), list(b))
        else:
            pd.testing.assert_series_equal(a.astype("float64"), b.astype("float64"), check_names=False,
                                           rtol=1e-9, obj=col)


# -- the measures ---------------------------------------------------------------------------------
@pytest.mark.parametrize("day", DAYS, ids=str)
def test_measures_agree_with_plain_sql(shop, day):
    from tenure.report.loyalty import figures

    figs = figures(shop, as_of=day, snapshot=shop.history.read(day))
    con = oracle(shop, day)
    try:
        comparison, retention, tiers = oracle_comparison(con, day), oracle_retention(con, day), oracle_tiers(con)
        counts = dict(con.execute("SELECT membership, count(*) FROM snap GROUP BY ALL").fetchall())
    finally:
        con.close()
    # The shop has members and non-members, buyers and repeat buyers in both, every tier filled
    # and someone close to the next tier: the comparison below can fail.
    assert set(counts) == {"member", "cancelled", "lapsed", "none"}, counts
    assert (comparison.repeat_buyers > 0).all() and (tiers.customers > 0).all() and tiers.near_next.sum() > 0
    same(figs.comparison, comparison, ["group"])
    same(figs.retention, retention, ["group", "month"])
    assert set(retention.month) == set(range(1, 13))
    same(figs.tiers[list(tiers.columns)], tiers, ["tier"])
    assert figs.tiers.near_next_share.isna().tolist() == [False, False, True]  # gold has no next tier
    mix = figs.mix.groupby("membership").customers.sum().to_dict()
    assert mix == counts


def test_retention_waits_for_a_month_to_be_over(shop):
    """On 1 December, December is not over: month k of a cohort counts only up to November."""
    from tenure.analytics.loyalty_measures import last_complete_month

    assert last_complete_month(dt.date(2025, 12, 1)) == 2025 * 12 + 10
    assert last_complete_month(dt.date(2025, 12, 31)) == 2025 * 12 + 11
    assert last_complete_month(dt.date(2024, 2, 29)) == 2024 * 12 + 1


def test_the_points_liability_is_the_ledgers(shop):
    """Outstanding points are the ledger's sum on the day (every expiry due is written by the run);
    the report and the dashboard show ledger.liability, formatted."""
    import sqlite3

    from tenure.report.fmt import Numbers
    from tenure.report.loyalty import figures, tiles

    day = DAYS[-1]
    figs = figures(shop, as_of=day, snapshot=shop.history.read(day))
    li = figs.liability
    with sqlite3.connect(shop.root / "store.sqlite") as db:
        total, holders = db.execute("""SELECT sum(b), count(*) FILTER (WHERE b > 0) FROM (
            SELECT customer_id, sum(points) AS b FROM loyalty_ledger WHERE effective_on <= ? GROUP BY customer_id)""",
                                    [day.isoformat()]).fetchone()
    assert li["outstanding_points"] == total > 0 and li["customers_with_points"] == holders
    assert li["value"] == round(total * 0.01, 2)
    assert 0 < li["expiring_30d"] <= total
    shown = {t["label"]: t for t in tiles(figs, Numbers("en_US", "USD"))}
    assert shown["Points liability"]["value"] == f"${li['value']:,.2f}"
    assert shown["Points liability"]["change"] == f"{total:,} points outstanding"
    assert shown["Expiring in 30 days"]["value"] == f"{li['expiring_30d']:,} points"
    m = figs.comparison.set_index("group")
    assert shown["Members"]["value"] == f"{m.customers['members']:,}"
    assert shown["Repeat rate, members"]["value"] == f"{m.repeat_rate['members'] * 100:.1f}%"


def test_a_snapshot_without_loyalty_columns_says_so(shop):
    from tenure.report.loyalty import figures

    snap = shop.history.read(DAYS[-1]).drop("tier", "membership")
    figs = figures(shop, as_of=DAYS[-1], snapshot=snap)
    assert "stored before the loyalty programme was enabled" in figs.problem
    assert "tenure run --as-of 2025-12-31" in figs.problem


def test_without_members_the_comparison_and_the_chart_are_sentences(shop):
    import ibis

    from tenure.report.fmt import Numbers
    from tenure.report.loyalty import comparison_reading, figures, retention_part, tiles

    snap = shop.history.read(DAYS[-1]).mutate(membership=ibis.literal("none"), membership_plan=ibis.null("string"))
    figs = figures(shop, as_of=DAYS[-1], snapshot=snap)
    nums = Numbers("en_US", "USD")
    shown = {t["label"]: t for t in tiles(figs, nums)}
    assert shown["Members"]["value"] == "0" and shown["Repeat rate, members"]["value"] == "–"
    assert shown["Repeat rate, members"]["change"] == "no buyer to compare"
    assert comparison_reading(figs, nums).startswith("No members bought in the last 365 days")
    chart, reading, message = retention_part(figs, nums)
    assert chart is None and reading == "" and message.startswith("No member has bought")


# -- the report -----------------------------------------------------------------------------------
def test_the_report_has_a_loyalty_section_only_when_enabled(shop, switched_off):
    from tenure.report import build_report
    from tenure.report.build import context

    ctx = context(shop, as_of=DAYS[-1])
    sec = {s["key"]: s for s in ctx["sections"]}["loyalty"]
    assert [s["key"] for s in ctx["sections"]][-1] == "loyalty"
    assert [t["label"] for t in sec["loyalty"]["tiles"]] == [
        "Members", "Non-members", "Repeat rate, members", "Repeat rate, non-members", "Points liability",
        "Expiring in 30 days"]
    assert [r["tier"] for r in sec["loyalty"]["tiers"]] == ["bronze", "silver", "gold"]
    assert "chart-loyalty-retention" in ctx["charts"]
    html = build_report(shop, as_of=DAYS[-1])
    assert '<section id="loyalty">' in html and 'id="loyalty-tiers"' in html and "Members against non-members" in html

    off = context(switched_off, as_of=DAYS[-1])
    assert "loyalty" not in [s["key"] for s in off["sections"]] and off["sections"]
    html = build_report(switched_off, as_of=DAYS[-1])
    assert 'id="loyalty' not in html and "Points liability" not in html


# -- the dashboard (HTTP) -------------------------------------------------------------------------
def log_in(c, user: str) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": user, "password": PASSWORD, "csrf": token, "next": "/"})
    assert r.status_code == 303, r.text


def test_the_dashboard_page_links_tiers_to_their_members_and_shows_only_when_enabled(shop, switched_off):
    from tenure.access import add_user

    for ws in (shop, switched_off):
        add_user(ws.store, username="loyal@example.com", password=PASSWORD, scope="read")
    with Served(shop.root) as served, served.client() as c:
        log_in(c, "loyal@example.com")
        home = c.get("/").text
        assert '<a href="/loyalty"' in home
        page = c.get("/loyalty")
        assert page.status_code == 200 and 'aria-current="page">Loyalty' in page.text
        assert 'id="loyalty-figures"' in page.text and 'id="chart-loyalty-retention"' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        links = re.findall(r'href="(/segments/tier/[a-z]+)"', page.text)
        assert links == ["/segments/tier/bronze", "/segments/tier/silver", "/segments/tier/gold"]
        snap = shop.history.read(DAYS[-1]).to_pandas()
        for link in links:
            members = c.get(link)
            tier = link.rsplit("/", 1)[1]
            n = int((snap.tier == tier).sum())
            assert members.status_code == 200 and f"{n:,} customer" in members.text, link
            rows = c.get(link + ".csv").text.strip().splitlines()
            assert len(rows) == n + 1
        assert "/segments/membership/member" in page.text
        assert c.get("/segments/membership/cancelled").status_code == 200
        assert not re.search(r'src="https?://|href="https?://', page.text)  # every asset from the server
        # A redemption changes the liability at once: the page reads it afresh, nothing kept from before.
        from tenure.loyalty import ledger

        def shown_liability() -> str:
            return re.search(r'Points liability</div>\s*<div class="value">([^<]+)<', c.get("/loyalty").text).group(1)

        before = shown_liability()
        with shop.store.connect() as conn:
            li = ledger.liability(conn, today=DAYS[-1], settings=shop.settings.loyalty)
            cid = max(ledger.balances(conn).items(), key=lambda kv: kv[1])[0]
        assert before == f"${li['value']:,.2f}"
        ledger.redeem(shop.store, customer_id=cid, idempotency_key="views-test", today=DAYS[-1],
                      now=dt.datetime(2025, 12, 31, 13), settings=shop.settings.loyalty, points=500)
        assert shown_liability() == f"${li['value'] - 5:,.2f}"
    with Served(switched_off.root) as served, served.client() as c:
        log_in(c, "loyal@example.com")
        assert 'href="/loyalty"' not in c.get("/").text
        page = c.get("/loyalty")
        assert page.status_code == 200 and "The loyalty programme is off" in page.text
        assert c.get("/segments/tier/gold").status_code == 400  # no tier segmentation while it is off


# -- in Chromium ----------------------------------------------------------------------------------
def test_the_report_section_renders_in_chromium(shop, tmp_path):
    """Offline, no console error, the retention chart drawn; the section's screenshot is saved in
    $TENURE_SCREENSHOTS when set (docs/images/report-loyalty.png comes from there), else tmp_path."""
    from playwright.sync_api import sync_playwright

    from tenure.report import write_report
    from tests.test_dashboard_browser import chromium

    exe = chromium()
    html = write_report(shop, as_of=DAYS[-1], out=tmp_path / "report.html")
    folder = Path(os.environ.get("TENURE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    errors, fetched = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu",
                                                               "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                          else (fetched.append(route.request.url), route.abort()))
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.as_uri())
            page.wait_for_selector("body[data-rendered]", timeout=60_000)
            lines = page.evaluate("document.querySelectorAll('#chart-loyalty-retention svg path').length")
            labels = page.inner_text("#chart-loyalty-retention")
            tiles = page.locator("#loyalty-figures .tile").count()
            page.locator("section#loyalty").screenshot(path=str(folder / "report-loyalty.png"))
        finally:
            browser.close()
    assert errors == [] and fetched == []
    assert lines >= 2 and "members" in labels and "non-members" in labels
    assert tiles == 6
