"""Every source format and preset, the time-zone rules, idempotency and conflicts."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid

import duckdb
import pytest

from tenure.cli import main
from tenure.ingest.readers import ReadOptions
from tests.conftest import NOW, write

ORDERS = ("order_id,customer_id,ordered_at,amount,status\n"
          "o1,c1,2025-01-02 10:00:00,12.50,paid\n"
          "o2,c2,2025-07-03 11:00:00+02:00,20,refunded\n"
          "o3,,2025-01-04 09:00:00Z,5,completed\n")


def rows(ws, sql: str):
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_generic_csv_statuses_guests_and_time_zones(ws, tmp_path):
    s = ws.ingest("orders", [write(tmp_path / "o.csv", ORDERS)], now=NOW)
    assert s.rows == {"loaded": 2, "guest": 1} and s.extra == {"returned orders": 1}
    got = rows(ws, "SELECT order_id, customer_id, CAST(ordered_at AS VARCHAR), status, amount, currency "
                   "FROM orders ORDER BY 1")
    # The workspace is Europe/London: zoneless times stay, +02:00 in July is BST (+01:00), Z is UTC (GMT in January).
    assert [r[:4] for r in got] == [("o1", "c1", "2025-01-02 10:00:00", "completed"),
                                    ("o2", "c2", "2025-07-03 10:00:00", "returned"),
                                    ("o3", None, "2025-01-04 09:00:00", "completed")]
    assert {r[5] for r in got} == {"GBP"}
    assert rows(ws, "SELECT customer_id, origin FROM customers ORDER BY 1") == [("c1", "orders"), ("c2", "orders")]


def test_same_file_twice_changes_nothing(ws, tmp_path):
    path = write(tmp_path / "o.csv", ORDERS)
    ws.ingest("orders", [path], now=NOW)
    before = rows(ws, "SELECT * FROM orders ORDER BY order_id")
    again = ws.ingest("orders", [path], now=NOW)
    assert again.rows == {"redelivered": 3}
    assert rows(ws, "SELECT * FROM orders ORDER BY order_id") == before


def test_conflicting_redelivery_keeps_the_first_version(ws, tmp_path):
    ws.ingest("orders", [write(tmp_path / "a.csv", ORDERS)], now=NOW)
    later = ORDERS.replace("o1,c1,2025-01-02 10:00:00,12.50", "o1,c1,2025-01-02 10:00:00,99.00") + \
        "o4,c4,2025-02-01 08:00:00,7,completed\n"
    s = ws.ingest("orders", [write(tmp_path / "b.csv", later)], now=NOW, max_quarantine_share=0.5)
    assert s.rows == {"loaded": 1, "redelivered": 2, "quarantined": 1}
    assert s.reasons == {"conflicts with an order already loaded": 1}
    assert rows(ws, "SELECT amount FROM orders WHERE order_id = 'o1'") == [(12.5,)]
    assert rows(ws, "SELECT key, reason FROM quarantine") == [("o1", "conflicts with an order already loaded")]


def test_duplicates_within_one_file(ws, tmp_path):
    text = ORDERS + "o1,c1,2025-01-02 10:00:00,12.50,paid\no1,c1,2025-01-02 10:00:00,13,paid\n"
    s = ws.ingest("orders", [write(tmp_path / "d.csv", text)], now=NOW, max_quarantine_share=0.5)
    assert s.rows == {"loaded": 2, "guest": 1, "redelivered": 1, "quarantined": 1}
    assert s.reasons == {"conflicts with an earlier row of this ingest": 1}


def test_future_dates_and_bad_values_are_quarantined_with_reasons(ws, tmp_path):
    text = ("order_id,customer_id,ordered_at,amount,status\n"
            "f1,c1,2027-01-01 00:00:00,5,completed\n"
            "f2,c1,yesterday,5,completed\n"
            "f3,c1,2025-01-01,5,lost-in-post\n"
            ",c1,2025-01-01,5,completed\n"
            "f5,c1,2025-01-01,-5,completed\n")
    s = ws.ingest("orders", [write(tmp_path / "f.csv", text)], now=NOW, max_quarantine_share=1)
    assert s.reasons == {"date after the ingest time": 1, "unparseable date": 1, "unknown status": 1,
                         "missing order id": 1, "negative amount on a completed order": 1}
    details = dict(rows(ws, "SELECT reason, detail FROM quarantine"))
    assert details["unparseable date"] == "ordered_at=yesterday"
    assert details["unknown status"] == "status=lost-in-post"


def test_map_option_and_toml_mapping(ws, tmp_path):
    text = "Number,Client,Created,Total\nA-1,17850.0,01/02/2025 10:00,3.5\n"
    path = write(tmp_path / "m.csv", text)
    code = main(["ingest", "orders", str(path), "-w", str(ws.root), "--now", "2026-01-01",
                 "--map", "order_id=Number", "--map", "customer_id=Client", "--map", "ordered_at=Created",
                 "--map", "amount=Total", "--date-format", "%d/%m/%Y %H:%M"])
    assert code == 0
    assert rows(ws, "SELECT order_id, customer_id, CAST(ordered_at AS VARCHAR) FROM orders") == \
        [("A-1", "17850", "2025-02-01 10:00:00")]
    cfg = ws.root / "tenure.toml"
    cfg.write_text(cfg.read_text() + '\n[ingest.mapping.orders]\norder_id = "Number"\ncustomer_id = "Client"\n'
                   'ordered_at = "Created"\namount = "Total"\n')
    from tenure import Workspace
    again = Workspace(ws.root).ingest("orders", [path], now=NOW, date_format="%d/%m/%Y %H:%M")
    assert again.rows == {"redelivered": 1}


def test_excel_sheet(ws, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    sheet = book.create_sheet("Orders")
    sheet.append(["order_id", "customer_id", "ordered_at", "amount"])
    sheet.append(["x1", 17850, dt.datetime(2025, 3, 1, 9, 30), 10.25])
    sheet.append(["x2", "c2", "2025-03-02 10:00", 4])
    book.save(tmp_path / "shop.xlsx")
    s = ws.ingest("orders", [tmp_path / "shop.xlsx"], now=NOW,
                  options=ReadOptions(sheet="Orders"))
    assert s.rows == {"loaded": 2}
    assert rows(ws, "SELECT order_id, customer_id, CAST(ordered_at AS VARCHAR), amount FROM orders ORDER BY 1") == \
        [("x1", "17850", "2025-03-01 09:30:00", 10.25), ("x2", "c2", "2025-03-02 10:00:00", 4)]


def test_sqlite_table_and_query(ws, tmp_path):
    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE sales (id TEXT, who INTEGER, at TEXT, total REAL, state TEXT)")
    con.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?)",
                    [(f"s{i}", 100 + i % 7, f"2025-04-{1 + i % 28:02d} 12:00:00", 10 + i, "complete") for i in range(300)])
    con.commit()
    con.close()
    mapping = {"order_id": "id", "customer_id": "who", "ordered_at": "at", "amount": "total", "status": "state"}
    opts = ReadOptions
    s = ws.ingest("orders", [f"sqlite:///{db}"], mapping=mapping, now=NOW, options=opts(table="sales"))
    assert s.rows == {"loaded": 300}
    q = ws.ingest("orders", [f"sqlite:///{db}"], mapping=mapping, now=NOW,
                  options=opts(query="SELECT * FROM sales WHERE total < 50"))
    assert q.rows == {"redelivered": 40}
    assert rows(ws, "SELECT count(*), sum(amount), count(DISTINCT customer_id) FROM orders") == [(300, 47850, 7)]


@pytest.mark.postgres
def test_postgresql_table(ws):
    url = os.environ.get("TENURE_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs TENURE_TEST_POSTGRES_URL")
        pytest.skip("set TENURE_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to run")
    psycopg = pytest.importorskip("psycopg")
    name = f"tenure_orders_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute(f"CREATE TABLE {name} (order_id text, customer_id bigint, ordered_at timestamptz, "
                   "amount numeric(12,2), status text)")
        pg.execute(f"INSERT INTO {name} SELECT 'pg' || g, g % 50, timestamptz '2025-05-01 12:00+00' + g * interval '1 hour', "
                   "g * 1.25, CASE WHEN g % 10 = 0 THEN 'cancelled' ELSE 'completed' END FROM generate_series(1, 1000) g")
        try:
            opts = ReadOptions(table=name)
            s = ws.ingest("orders", [url], now=NOW, options=opts)
        finally:
            pg.execute(f"DROP TABLE {name}")
    assert s.rows == {"loaded": 1000} and s.extra == {"cancelled orders": 100}
    # timestamptz values arrive with their offset and land in London wall-clock time (BST in May).
    assert rows(ws, "SELECT CAST(min(ordered_at) AS VARCHAR), sum(amount) FROM orders") == \
        [("2025-05-01 14:00:00", 625625.0)]


def test_shopify_export(ws, tmp_path):
    header = ("Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Total,Created at,"
              "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Cancelled at,Source\n")
    body = ("#1001,Ann@Example.com,paid,2025-03-01 10:00:00 -0500,fulfilled,USD,30.00,2025-03-01 10:00:00 -0500,1,Mug,10.00,MUG-1,,web\n"
            "#1001,Ann@Example.com,,,,,,2025-03-01 10:00:00 -0500,2,Tea,10.00,TEA-1,,\n"
            "#1002,bob@example.com,refunded,,,EUR,15.00,2025-03-02 09:00:00 +0100,1,Pot,15.00,POT-1,,pos\n"
            "#1003,ann@example.com,voided,,,USD,8.00,2025-03-03 09:00:00 -0500,1,Cup,8.00,CUP-1,,web\n"
            "#1004,cy@example.com,paid,,,USD,5.00,2025-03-04 09:00:00 -0500,1,Lid,5.00,LID-1,2025-03-05 10:00:00 -0500,web\n")
    s = ws.ingest("orders", [write(tmp_path / "orders_export.csv", header + body)], preset="shopify", now=NOW)
    assert s.rows == {"loaded": 5} and s.units == {"loaded": 4}
    assert rows(ws, "SELECT order_id, customer_id, CAST(ordered_at AS VARCHAR), status, amount, currency, channel "
                    "FROM orders ORDER BY 1") == [
        ("#1001", "ann@example.com", "2025-03-01 15:00:00", "completed", 30, "USD", "web"),
        ("#1002", "bob@example.com", "2025-03-02 08:00:00", "returned", 15, "EUR", "pos"),
        ("#1003", "ann@example.com", "2025-03-03 14:00:00", "cancelled", 8, "USD", "web"),
        ("#1004", "cy@example.com", "2025-03-04 14:00:00", "cancelled", 5, "USD", "web")]
    assert rows(ws, "SELECT order_id, line, sku, quantity FROM order_items ORDER BY 1, 2")[:2] == \
        [("#1001", 1, "MUG-1", 1), ("#1001", 2, "TEA-1", 2)]


def test_customers_load_then_update_without_erasing(ws, tmp_path):
    ws.ingest("orders", [write(tmp_path / "o.csv", ORDERS)], now=NOW)
    first = ("customer_id,email,name,created_at,consent_email,consent_sms,acquisition_channel,country\n"
             "c1,ANN@example.com,Ann,2024-12-01 09:00:00,yes,no,organic,UK\n"
             "c9,zed@example.com,Zed,2024-11-01 09:00:00,true,false,paid_search,FR\n")
    s = ws.ingest("customers", [write(tmp_path / "c1.csv", first)], now=NOW)
    assert s.rows == {"updated": 1, "loaded": 1}
    second = ("customer_id,email,name,consent_email\n"
              "c1,,Ann B,no\n"
              "c9,zed@example.com,Zed,true\n")
    s2 = ws.ingest("customers", [write(tmp_path / "c2.csv", second)], now=NOW)
    assert s2.rows == {"updated": 1, "redelivered": 1}
    assert rows(ws, "SELECT customer_id, email, name, consent_email, consent_sms, CAST(created_at AS VARCHAR), "
                    "attributes->>'country', origin FROM customers ORDER BY 1") == [
        ("c1", "ann@example.com", "Ann B", False, False, "2024-12-01 09:00:00", "UK", "orders"),
        ("c2", None, None, None, None, "2025-07-03 10:00:00", None, "orders"),
        ("c9", "zed@example.com", "Zed", True, False, "2024-11-01 09:00:00", "FR", "customers")]


def test_events_get_content_ids_and_are_idempotent(ws, tmp_path):
    text = ("customer_id,occurred_at,type,properties\n"
            'c1,2025-01-05 10:00:00,email_open,"{""campaign"": ""jan""}"\n'
            "c1,2025-01-05 10:01:00,Email_Click,\n"
            "c7,2025-01-06 10:00:00,site visit,\n"
            'c7,2025-01-06 10:00:00,review,"{not json"\n')
    path = write(tmp_path / "e.csv", text)
    s = ws.ingest("events", [path], now=NOW, max_quarantine_share=1)
    assert s.rows == {"loaded": 2, "quarantined": 2}
    assert s.reasons == {"invalid event type": 1, "properties are not JSON": 1}
    assert ws.ingest("events", [path], now=NOW, max_quarantine_share=1).rows == {"redelivered": 2, "quarantined": 2}
    assert rows(ws, "SELECT type, properties->>'campaign' FROM events ORDER BY occurred_at") == \
        [("email_open", "jan"), ("email_click", None)]
    assert rows(ws, "SELECT customer_id, origin FROM customers") == [("c1", "events")]


def test_order_items_need_their_order(ws, tmp_path):
    ws.ingest("orders", [write(tmp_path / "o.csv", ORDERS)], now=NOW)
    items = ("order_id,sku,name,quantity,unit_price\n"
             "o1,A,Apple,2,5\no1,B,Bread,1,2.5\no2,C,Cake,1,20\nzz,D,Dough,1,1\n")
    path = write(tmp_path / "i.csv", items)
    s = ws.ingest("order_items", [path], now=NOW, max_quarantine_share=1)
    assert s.rows == {"loaded": 3, "quarantined": 1}
    assert s.reasons == {"order not loaded (ingest orders first)": 1}
    assert ws.ingest("order_items", [path], now=NOW, max_quarantine_share=1).rows == {"redelivered": 3, "quarantined": 1}
    changed = items.replace("o1,B,Bread,1,2.5", "o1,B,Bread,2,2.5")
    c = ws.ingest("order_items", [write(tmp_path / "j.csv", changed)], now=NOW, max_quarantine_share=1)
    assert c.reasons["conflicts with lines already loaded"] == 2
    assert rows(ws, "SELECT order_id, line, sku FROM order_items ORDER BY 1, 2") == \
        [("o1", 1, "A"), ("o1", 2, "B"), ("o2", 1, "C")]


def test_concurrent_writer_is_reported_as_busy(ws, tmp_path, capsys, monkeypatch):
    import subprocess
    import sys

    from tenure import warehouse

    monkeypatch.setattr(warehouse, "WRITE_WAIT_S", 1.0)  # how long a writer waits (30 s in use)

    # A real second process holds DuckDB's write lock on the warehouse file.
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(30)", str(ws.warehouse_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        before = ws.root.joinpath("tenure.toml").read_text()
        code = main(["ingest", "orders", str(write(tmp_path / "o.csv", ORDERS)), "-w", str(ws.root)])
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert code == 2 and "is busy: another process kept it open for 1 s" in err
    assert ws.root.joinpath("tenure.toml").read_text() == before


def test_a_writer_waits_for_a_reader_to_let_go(ws, tmp_path):
    """What the server does while `tenure run` runs: it answers a read (a read-only connection
    for a moment). The run's ingest waits for it instead of failing as busy."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], "
                               "read_only=True); print('ready', flush=True); time.sleep(1.5); c.close()",
                               str(ws.warehouse_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        summary = ws.ingest("orders", [write(tmp_path / "o.csv", ORDERS)], now=NOW)
    finally:
        holder.kill()
        holder.wait()
    assert summary.rows["loaded"] > 0
