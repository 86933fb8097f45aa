"""Real exports: every row gets a fate, checked against counts made here with plain DuckDB SQL."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from tests.conftest import NOW

pytestmark = pytest.mark.realdata


def test_online_retail_ii_then_online_retail_every_row_accounted(ws, shared_data):
    part1 = shared_data / "online-retail-ii" / "online_retail_II_year_2009_2010.parquet"
    part2 = shared_data / "online-retail" / "online_retail.csv.gz"
    first = ws.ingest("orders", [part1], preset="online-retail-ii", now=NOW)
    second = ws.ingest("orders", [part2], preset="online-retail", now=NOW)

    sql = duckdb.connect()
    sql.execute(f"""CREATE VIEW p1 AS SELECT Invoice AS inv, "Customer ID" AS cust,
                    Quantity * Price AS value FROM '{part1}'""")
    sql.execute(f"""CREATE VIEW p2 AS SELECT InvoiceNo AS inv, CustomerID AS cust,
                    CAST(Quantity AS DOUBLE) * CAST(UnitPrice AS DOUBLE) AS value
                    FROM read_csv('{part2}', all_varchar = true)""")

    def expected(view: str, earlier: str | None) -> dict:
        seen = f"inv IN (SELECT inv FROM {earlier})" if earlier else "false"
        return dict(zip(
            ("read", "adjustment", "redelivered", "guest", "loaded", "guest_orders", "loaded_orders"),
            sql.execute(f"""SELECT count(*),
                count(*) FILTER (WHERE inv LIKE 'A%'),
                count(*) FILTER (WHERE inv NOT LIKE 'A%' AND {seen}),
                count(*) FILTER (WHERE inv NOT LIKE 'A%' AND NOT {seen} AND cust IS NULL),
                count(*) FILTER (WHERE inv NOT LIKE 'A%' AND NOT {seen} AND cust IS NOT NULL),
                count(DISTINCT inv) FILTER (WHERE inv NOT LIKE 'A%' AND NOT {seen} AND cust IS NULL),
                count(DISTINCT inv) FILTER (WHERE inv NOT LIKE 'A%' AND NOT {seen} AND cust IS NOT NULL)
                FROM {view}""").fetchone()))

    for summary, want in ((first, expected("p1", None)), (second, expected("p2", "p1"))):
        assert summary.read == want["read"]
        assert summary.count("quarantined") == 0, summary.reasons
        assert summary.count("adjustment") == want["adjustment"]
        assert summary.count("redelivered") == want["redelivered"]
        assert summary.count("guest") == want["guest"]
        assert summary.count("loaded") == want["loaded"]
        assert summary.units["guest"] == want["guest_orders"]
        assert summary.units["loaded"] == want["loaded_orders"]
        assert summary.accounted
        assert sum(summary.rows.values()) == summary.read
    assert first.read == 525_461 and second.read == 541_909
    # The 2010-2011 file repeats 2010-12-01..09: those invoices are re-deliveries, not new orders.
    assert second.count("redelivered") == 22_523

    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    n_orders, n_ids = con.execute("SELECT count(*), count(DISTINCT order_id) FROM orders").fetchone()
    want_orders = sql.execute("SELECT count(DISTINCT inv) FROM (SELECT inv FROM p1 UNION ALL SELECT inv FROM p2) "
                              "WHERE inv NOT LIKE 'A%'").fetchone()[0]
    assert n_orders == n_ids == want_orders
    assert con.execute("SELECT count(*) FROM customers").fetchone()[0] == 5_942
    total = con.execute("SELECT sum(amount) FROM orders").fetchone()[0]
    want_total = sql.execute("""SELECT sum(value) FROM (SELECT * FROM p1 UNION ALL
        SELECT * FROM p2 WHERE inv NOT IN (SELECT inv FROM p1)) WHERE inv NOT LIKE 'A%'""").fetchone()[0]
    assert float(total) == pytest.approx(want_total, abs=0.01)
    n_items = con.execute("SELECT count(*) FROM order_items").fetchone()[0]
    assert n_items == first.count("loaded") + first.count("guest") + second.count("loaded") + second.count("guest")
    assert con.execute("SELECT count(*) FROM orders WHERE status = 'cancelled'").fetchone()[0] == \
        sql.execute("SELECT count(DISTINCT inv) FROM (SELECT inv FROM p1 UNION SELECT inv FROM p2) "
                    "WHERE inv LIKE 'C%'").fetchone()[0]
    con.close()

    again = ws.ingest("orders", [part2], preset="online-retail", now=NOW)
    assert again.count("redelivered") + again.count("adjustment") == again.read


def test_cdnow_master(ws, shared_data):
    path = shared_data / "cdnow" / "CDNOW_master.txt"
    summary = ws.ingest("orders", [path], preset="cdnow", now=NOW)
    # Independent count: split the file's lines in Python.
    lines = [ln.split() for ln in path.read_text().splitlines()[1:] if ln.strip()]
    assert summary.read == len(lines) == 69_659
    assert summary.count("loaded") == len(lines)
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    n_customers = con.execute("SELECT count(*) FROM customers").fetchone()[0]
    n_orders, total = con.execute("SELECT count(*), sum(amount) FROM orders").fetchone()
    assert n_customers == len({ln[0] for ln in lines}) == 23_570
    assert n_orders == len(lines)
    assert total == sum(Decimal(ln[3]) for ln in lines)
    first, last = con.execute("SELECT min(ordered_at), max(ordered_at) FROM orders").fetchone()
    assert (first.date().isoformat(), last.date().isoformat()) == ("1997-01-01", "1998-06-30")
    con.close()
    again = ws.ingest("orders", [path], preset="cdnow", now=NOW)
    assert again.count("redelivered") == again.read
