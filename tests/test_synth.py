"""tenure generate: deterministic, consistent, and shaped like a real shop."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from tenure.errors import TenureError
from tenure.synth import GenerateSummary, customers_for_orders, generate
from tenure.synth.output import SCHEMAS

N = 2_000
SEED = 7
START, END = date(2023, 1, 1), date(2025, 12, 31)
TABLES = ("customers", "orders", "order_items", "events")
ENGAGEMENT = ("email_open", "email_click", "site_visit", "subscribe", "unsubscribe")
PROGRAMME = ("review", "referral", "membership_start", "membership_renew", "membership_cancel")
COLUMNS = {
    "customers": ["customer_id", "email", "phone", "name", "created_at", "consent_email",
                  "consent_sms", "acquisition_channel", "timezone", "country"],
    "orders": ["order_id", "customer_id", "ordered_at", "status", "amount", "currency", "channel"],
    "order_items": ["order_id", "line", "sku", "name", "quantity", "unit_price"],
    "events": ["event_id", "customer_id", "occurred_at", "type", "properties"],
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerateSummary, Path]:
    out = tmp_path_factory.mktemp("shop")
    return generate(customers=N, seed=SEED, out=out), out


@pytest.fixture(scope="module")
def db(shop: tuple[GenerateSummary, Path]) -> duckdb.DuckDBPyConnection:
    summary, _ = shop
    con = duckdb.connect()
    for name, path in summary.files.items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


def read(folder: Path, fmt: str) -> dict[str, pa.Table]:
    if fmt == "parquet":
        return {t: pq.read_table(folder / f"{t}.parquet") for t in TABLES}
    tables = {}
    for t in TABLES:
        schema = SCHEMAS[t]
        opts = pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True)
        tables[t] = pacsv.read_csv(folder / f"{t}.csv", convert_options=opts).cast(schema)
    return tables


def test_files_and_columns(shop):
    summary, out = shop
    assert set(summary.files) == set(TABLES)
    for t in TABLES:
        assert summary.files[t] == out / f"{t}.parquet"
        assert pq.read_schema(out / f"{t}.parquet").names == COLUMNS[t]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)


def test_column_types(shop):
    _, out = shop
    ts, s = pa.timestamp("us"), pa.string()
    tables = read(out, "parquet")
    assert tables["customers"].schema.types == [s, s, s, s, ts, pa.bool_(), pa.bool_(), s, s, s]
    assert tables["orders"].schema.types == [s, s, ts, s, pa.float64(), s, s]
    assert tables["order_items"].schema.types == [s, pa.int32(), s, s, pa.int32(), pa.float64()]
    assert tables["events"].schema.types == [s, s, ts, s, s]


def test_counts_match_files(shop, db):
    summary, _ = shop
    assert summary.customers == N == one(db, "SELECT count(*) FROM customers")
    assert summary.orders == one(db, "SELECT count(*) FROM orders")
    assert summary.order_items == one(db, "SELECT count(*) FROM order_items")
    assert summary.events == one(db, "SELECT count(*) FROM events")
    assert summary.buyers == one(db, "SELECT count(DISTINCT customer_id) FROM orders")
    assert summary.leads + summary.buyers == N


def test_same_seed_same_data_other_seed_other_data(shop, tmp_path):
    _, out = shop
    again = generate(customers=N, seed=SEED, out=tmp_path / "again")
    other = generate(customers=N, seed=SEED + 1, out=tmp_path / "other")
    first = read(out, "parquet")
    second = read(again.files["orders"].parent, "parquet")
    third = read(other.files["orders"].parent, "parquet")
    for t in TABLES:
        assert first[t].equals(second[t]), t
        assert not first[t].equals(third[t]), t


def test_csv_holds_the_same_data(shop, tmp_path):
    _, out = shop
    summary = generate(customers=N, seed=SEED, out=tmp_path / "csv", fmt="csv")
    assert summary.files["orders"].name == "orders.csv"
    from_csv, from_parquet = read(tmp_path / "csv", "csv"), read(out, "parquet")
    for t in TABLES:
        assert from_csv[t].equals(from_parquet[t]), t
    again = generate(customers=N, seed=SEED, out=tmp_path / "csv2", fmt="csv")
    for t in TABLES:
        assert again.files[t].read_bytes() == summary.files[t].read_bytes(), t
    head = (tmp_path / "csv" / "orders.csv").read_text(encoding="utf-8").splitlines()[:2]
    assert head[0].replace('"', "") == ",".join(COLUMNS["orders"])
    assert head[1].split(",")[2][:19].count(":") == 2  # 2023-01-01 10:22:05


def test_amount_is_the_sum_of_the_items(db):
    assert one(db, """
        SELECT count(*) FROM orders o LEFT JOIN (
            SELECT order_id, round(sum(quantity * unit_price), 2) AS total, count(*) AS n
            FROM order_items GROUP BY order_id) i USING (order_id)
        WHERE i.total IS NULL OR o.amount <> i.total""") == 0
    assert one(db, "SELECT count(*) FROM order_items WHERE quantity < 1 OR unit_price <= 0") == 0
    # Whole cents.
    assert one(db, "SELECT count(*) FROM order_items WHERE unit_price <> round(unit_price, 2)") == 0
    # Lines are numbered 1..n within each order.
    assert one(db, """SELECT count(*) FROM (SELECT order_id, min(line) lo, max(line) hi, count(*) n
                      FROM order_items GROUP BY order_id) WHERE lo <> 1 OR hi <> n""") == 0


def test_keys_and_times(db):
    assert one(db, "SELECT count(*) - count(DISTINCT order_id) FROM orders") == 0
    assert one(db, "SELECT count(*) - count(DISTINCT customer_id) FROM customers") == 0
    assert one(db, "SELECT count(*) - count(DISTINCT email) FROM customers") == 0
    assert one(db, "SELECT count(*) - count(DISTINCT event_id) FROM events") == 0
    assert one(db, "SELECT count(*) FROM customers WHERE email <> lower(email)") == 0
    assert one(db, """SELECT count(*) FROM orders o LEFT JOIN customers c USING (customer_id)
                      WHERE c.customer_id IS NULL OR o.ordered_at::DATE < c.created_at::DATE
                         OR o.ordered_at < c.created_at""") == 0
    stamped = (("orders", "ordered_at"), ("events", "occurred_at"), ("customers", "created_at"))
    for table, col in stamped:
        lo, hi = db.execute(f"SELECT min({col}), max({col}) FROM {table}").fetchone()
        assert lo.date() >= START and hi.date() <= END, table
    assert one(db, """SELECT count(*) FROM orders
                      WHERE status NOT IN ('completed', 'cancelled', 'returned')
                         OR currency <> 'USD' OR channel NOT IN ('web', 'app', 'store')""") == 0
    assert one(db, """SELECT count(*) FROM customers WHERE acquisition_channel NOT IN
                      ('organic','paid_search','social','referral','email','marketplace')""") == 0


def test_leads_and_buyers(shop, db):
    summary, _ = shop
    leads = one(db, """SELECT count(*) FROM customers c WHERE NOT EXISTS
                       (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id)""")
    assert leads == summary.leads
    assert 0.18 <= leads / N <= 0.32
    # Leads mostly consented (they subscribed); many of them open emails.
    consent = one(db, """SELECT avg(consent_email::INT) FROM customers c WHERE NOT EXISTS
                         (SELECT 1 FROM orders o WHERE o.customer_id = c.customer_id)""")
    assert consent > 0.6


def test_purchase_frequency_is_bg_nbd_like(db):
    per_buyer = "SELECT customer_id, count(*) n FROM orders GROUP BY customer_id"
    mean, one_time = db.execute(f"SELECT avg(n), avg((n = 1)::INT) FROM ({per_buyer})").fetchone()
    assert 3.0 <= mean <= 5.0
    assert 0.40 <= one_time <= 0.55
    # Order values: typical $30-120, median about $50.
    median = one(db, "SELECT median(amount) FROM orders")
    assert 30 <= median <= 80
    # Growth: the last year has more orders than the first; November-December peak.
    years = "SELECT year(ordered_at), count(*) FROM orders GROUP BY 1"
    by_year = dict(db.execute(years).fetchall())
    assert by_year[2025] > by_year[2023]
    months = """SELECT month(ordered_at), count(*) FROM orders
                  WHERE year(ordered_at) = 2024 GROUP BY 1"""
    by_month = dict(db.execute(months).fetchall())
    assert by_month[12] > by_month[6]


def test_status_shares(db):
    cancelled, returned = db.execute("""SELECT avg((status = 'cancelled')::INT),
                                      avg((status = 'returned')::INT) FROM orders""").fetchone()
    assert 0.02 <= cancelled <= 0.04
    assert 0.012 <= returned <= 0.03


def test_events(shop, db):
    summary, _ = shop
    assert 2 <= summary.events / N <= 6
    assert one(db, """SELECT count(*) FROM events e LEFT JOIN customers c USING (customer_id)
                      WHERE c.customer_id IS NULL""") == 0
    types = {r[0] for r in db.execute("SELECT DISTINCT type FROM events").fetchall()}
    assert types == set(ENGAGEMENT) | set(PROGRAMME)
    assert one(db, """SELECT count(*) FROM events e JOIN (
                        SELECT customer_id, min(occurred_at) t FROM events
                        WHERE type = 'unsubscribe' GROUP BY 1) u USING (customer_id)
                      WHERE e.type = 'email_open' AND e.occurred_at > u.t""") == 0
    # Unsubscribed customers no longer consent; opens need a subscription first.
    assert one(db, """SELECT count(*) FROM customers WHERE consent_email AND customer_id IN
                      (SELECT customer_id FROM events WHERE type = 'unsubscribe')""") == 0
    assert one(db, """SELECT count(*) FROM events e WHERE type = 'email_open' AND customer_id NOT IN
                      (SELECT customer_id FROM events WHERE type = 'subscribe')""") == 0
    assert one(db, "SELECT count(*) FROM events WHERE json_valid(properties) IS NOT TRUE") == 0
    assert one(db, """SELECT count(*) FROM events WHERE type = 'email_open'
                      AND json_extract_string(properties, '$.campaign')
                          NOT LIKE 'newsletter-%'""") == 0


def test_programme_events_came_last_and_changed_nothing_else(shop, tmp_path, monkeypatch):
    # Without the loyalty-programme events the same seed writes the same customers, orders and
    # items, and the events file is exactly the first rows of the one with them.
    import tenure.synth as synth
    from tenure.synth.programme import ProgrammeEvents

    def nothing(*args, **kwargs):
        return ProgrammeEvents(np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int8),
                               pa.array([], pa.string()))

    monkeypatch.setattr(synth, "make_programme", nothing)
    summary, out = shop
    before = generate(customers=N, seed=SEED, out=tmp_path / "before")
    first, second = read(out, "parquet"), read(tmp_path / "before", "parquet")
    for t in ("customers", "orders", "order_items"):
        assert first[t].equals(second[t]), t
    n = before.events
    assert 0 < n < summary.events
    assert first["events"].slice(0, n).equals(second["events"])
    assert set(first["events"].slice(n)["type"].to_pylist()) == set(PROGRAMME)
    assert not set(first["events"].slice(0, n)["type"].to_pylist()) & set(PROGRAMME)


def test_reviews_and_referrals(db):
    # A review comes days after a completed order of its author and names the order's first line.
    reviews = """SELECT e.customer_id, e.occurred_at, o.customer_id AS buyer, o.ordered_at,
                        o.status, i.sku, json_extract_string(e.properties, '$.sku') AS reviewed,
                        json_extract(e.properties, '$.rating')::INT AS rating
                 FROM events e
                 LEFT JOIN orders o ON o.order_id = json_extract_string(e.properties, '$.order_id')
                 LEFT JOIN order_items i ON i.order_id = o.order_id AND i.line = 1
                 WHERE e.type = 'review'"""
    assert one(db, f"""SELECT count(*) FROM ({reviews}) WHERE buyer IS DISTINCT FROM customer_id
                       OR status <> 'completed' OR reviewed IS DISTINCT FROM sku
                       OR occurred_at < ordered_at + INTERVAL 1 DAY
                       OR rating NOT BETWEEN 1 AND 5""") == 0
    completed = one(db, "SELECT count(*) FROM orders WHERE status = 'completed'")
    assert 0.03 <= one(db, f"SELECT count(*) FROM ({reviews})") / completed <= 0.12
    # Frequent buyers review a larger share of their orders.
    by_buyer = one(db, f"""SELECT corr(n, r / n) FROM (
        SELECT o.customer_id, count(*) n, count(r.customer_id) r FROM orders o LEFT JOIN
        ({reviews}) r ON r.customer_id = o.customer_id AND r.ordered_at = o.ordered_at
        GROUP BY 1)""")
    assert by_buyer > 0
    # A referral: a loyal customer's (two orders before) when a friend acquired through the
    # referral channel places their first order.
    referrals = """SELECT e.customer_id, e.occurred_at, c.acquisition_channel,
                          json_extract_string(e.properties, '$.referred') AS friend,
                          (SELECT min(ordered_at) FROM orders f
                           WHERE f.customer_id = json_extract_string(e.properties, '$.referred'))
                              AS friend_first,
                          (SELECT count(*) FROM orders o WHERE o.customer_id = e.customer_id
                           AND o.ordered_at < e.occurred_at) AS before
                   FROM events e LEFT JOIN customers c
                     ON c.customer_id = json_extract_string(e.properties, '$.referred')
                   WHERE e.type = 'referral'"""
    assert one(db, f"SELECT count(*) FROM ({referrals})") > 10
    assert one(db, f"""SELECT count(*) FROM ({referrals}) WHERE acquisition_channel <> 'referral'
                       OR friend = customer_id OR before < 2 OR occurred_at < friend_first
                       OR occurred_at > friend_first + INTERVAL 1 DAY""") == 0
    assert one(db, f"SELECT count(*) - count(DISTINCT friend) FROM ({referrals})") == 0


def test_memberships(db):
    m = """SELECT customer_id, type, occurred_at, occurred_at::DATE AS day,
                  json_extract_string(properties, '$.plan') AS plan,
                  row_number() OVER (PARTITION BY customer_id ORDER BY occurred_at) AS k,
                  lag(occurred_at::DATE) OVER (PARTITION BY customer_id ORDER BY occurred_at) AS prev,
                  lead(type) OVER (PARTITION BY customer_id ORDER BY occurred_at) AS next
           FROM events WHERE type LIKE 'membership_%'"""
    assert one(db, f"""SELECT count(*) FROM ({m}) WHERE plan NOT IN ('plus-monthly', 'plus-yearly')
                       OR (k = 1) <> (type = 'membership_start')""") == 0
    # One plan per member; each renewal a month (or a year) after the payment before it; nothing
    # after a cancellation, which comes after the last payment and before the next would be due.
    assert one(db, f"SELECT max(n) FROM (SELECT count(DISTINCT plan) n FROM ({m}) GROUP BY customer_id)") == 1
    assert one(db, f"""SELECT count(*) FROM ({m}) WHERE type = 'membership_renew' AND day <>
                       prev + CASE plan WHEN 'plus-yearly' THEN INTERVAL 1 YEAR
                                        ELSE INTERVAL 1 MONTH END""") == 0
    assert one(db, f"""SELECT count(*) FROM ({m}) WHERE type = 'membership_cancel'
                       AND (next IS NOT NULL OR day > prev + CASE plan
                            WHEN 'plus-yearly' THEN INTERVAL 1 YEAR ELSE INTERVAL 1 MONTH END)""") == 0
    # A few percent of the repeat buyers pay; some renew, some cancel, some let it lapse.
    per_buyer = "SELECT customer_id, count(*) n FROM orders GROUP BY 1"
    members = one(db, "SELECT count(DISTINCT customer_id) FROM events WHERE type = 'membership_start'")
    repeat = one(db, f"SELECT count(*) FROM ({per_buyer}) WHERE n >= 2")
    assert 0.04 <= members / repeat <= 0.10
    assert one(db, f"""SELECT count(*) FROM ({m}) s JOIN ({per_buyer}) b USING (customer_id)
                       WHERE type = 'membership_start' AND b.n < 2""") == 0
    assert one(db, "SELECT count(*) FROM events WHERE type = 'membership_renew'") > members
    assert 0 < one(db, "SELECT count(*) FROM events WHERE type = 'membership_cancel'") < members / 2
    # Members buy again after joining more often than other repeat buyers after one of their
    # orders from the second on (one a buyer, picked by a hash): who joins is who goes on buying.
    again = one(db, """SELECT avg((EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = s.customer_id
                                          AND o.ordered_at > s.t
                                          AND o.ordered_at <= s.t + INTERVAL 90 DAY))::INT)
                       FROM (SELECT customer_id, min(occurred_at) t FROM events
                             WHERE type = 'membership_start' GROUP BY 1) s
                       WHERE t < '2025-10-01'""")
    others = one(db, """SELECT avg(coalesce(nxt <= ordered_at + INTERVAL 90 DAY, false)::INT)
                        FROM (SELECT * FROM (
                                SELECT customer_id, ordered_at, row_number() OVER w k,
                                       lead(ordered_at) OVER w nxt FROM orders
                                WINDOW w AS (PARTITION BY customer_id ORDER BY ordered_at))
                              WHERE k >= 2 AND ordered_at < '2025-10-01' AND customer_id NOT IN
                                (SELECT customer_id FROM events WHERE type = 'membership_start')
                              QUALIFY row_number() OVER (PARTITION BY customer_id
                                                         ORDER BY hash(customer_id, k)) = 1)""")
    assert again > others + 0.05, (again, others)


def test_customers_for_orders_is_within_15_percent(tmp_path):
    n = 50_000
    summary = generate(customers=customers_for_orders(n), seed=3, out=tmp_path)
    assert abs(summary.orders - n) <= 0.15 * n


def test_user_mistakes_raise_tenure_errors(tmp_path):
    with pytest.raises(TenureError):
        generate(customers=-1, seed=1, out=tmp_path)
    with pytest.raises(TenureError):
        generate(customers=10, seed=1, out=tmp_path, start=date(2024, 1, 2), end=date(2024, 1, 1))
    (tmp_path / "file").write_text("x")
    with pytest.raises(TenureError):
        generate(customers=10, seed=1, out=tmp_path / "file")
    with pytest.raises(TenureError):
        customers_for_orders(-5)


def test_empty_and_tiny_shops(tmp_path):
    empty = generate(customers=0, seed=1, out=tmp_path / "empty", fmt="csv")
    assert (empty.orders, empty.events) == (0, 0)
    assert empty.files["orders"].read_text().startswith('"order_id"')
    may_day = date(2024, 5, 1)
    day = generate(customers=30, seed=1, out=tmp_path / "day", start=may_day, end=may_day)
    times = pq.read_table(day.files["orders"])["ordered_at"].to_pylist()
    assert all(t.date() == may_day for t in times)


def _app() -> typer.Typer:
    from tenure.cli.generate import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _main() -> None:  # keeps `generate` a sub-command, as in the real CLI
        pass

    return app


def test_cli(tmp_path):
    runner = CliRunner()
    app = _app()
    result = runner.invoke(app, ["generate", "--customers", "300", "--seed", "2",
                                 "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "orders" in result.output and "seconds" in result.output
    assert (tmp_path / "s" / "events.parquet").exists()
    result = runner.invoke(app, ["generate", "--orders", "2000", "--format", "csv",
                                 "--start", "2024-01-01", "--end", "2024-12-31",
                                 "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c" / "orders.csv").exists()
    for args in ([], ["--customers", "5", "--orders", "5"]):
        result = runner.invoke(app, ["generate", "--out", str(tmp_path / "x"), *args])
        assert isinstance(result.exception, TenureError)
    help_text = runner.invoke(app, ["generate", "--help"]).output
    for option in ("--customers", "--orders", "--seed", "--out", "--format", "--start", "--end"):
        assert option in help_text


def test_customers_for_orders_follows_the_window(tmp_path):
    start, end = date(2024, 1, 1), date(2024, 6, 30)
    n = 20_000
    customers = customers_for_orders(n, start=start, end=end)
    assert customers > customers_for_orders(n)  # a shorter history needs more customers
    summary = generate(customers=customers, seed=5, out=tmp_path, start=start, end=end)
    assert abs(summary.orders - n) <= 0.15 * n


def test_init_with_loyalty_turns_the_programme_on(tmp_path):
    # `make demo` makes its workspace with `tenure init --loyalty` to run on these events.
    from tenure.cli import app
    from tenure.config import Settings
    from tenure.workspace import Workspace

    result = CliRunner().invoke(app, ["init", "--loyalty", "--timezone", "Europe/London",
                                      str(tmp_path / "on")])
    assert result.exit_code == 0, result.output
    on = Workspace(tmp_path / "on").settings
    assert on.loyalty.enabled and on.workspace.timezone == "Europe/London"
    assert on.loyalty.model_copy(update={"enabled": False}) == Settings().loyalty
    assert not Workspace.init(tmp_path / "off").settings.loyalty.enabled
