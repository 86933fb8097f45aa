"""Each malformed input stops with one line naming the problem and the fix, exit code 2, no
traceback, and leaves the workspace exactly as it was."""

from __future__ import annotations

import gzip

import duckdb
import pytest

from tenure.cli import main
from tests.conftest import NOW, fingerprint, write

HEADER = "order_id,customer_id,ordered_at,amount\n"
GOOD = HEADER + "o1,c1,2025-01-02 10:00:00,12.50\no2,c2,2025-01-03 11:00:00,20\n"


@pytest.fixture
def loaded(ws, tmp_path):
    """A workspace that already holds two orders: what must survive every failure."""
    assert main(["ingest", "orders", str(write(tmp_path / "good.csv", GOOD)), "-w", str(ws.root),
                 "--now", "2026-01-01"]) == 0
    return ws


def run_failing(ws, capsys, args: list[str], *, keeps_rejects: bool = False) -> str:
    before = fingerprint(ws)
    code = main([*args, "-w", str(ws.root), "--now", "2026-01-01"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    after = fingerprint(ws)
    if keeps_rejects:  # the run log and the rejected rows' file are the only additions
        for state in (before, after):
            state.pop("ingest_runs")
            state["files"] = [f for f in state["files"] if not f.startswith("quarantine/")]
    assert after == before
    return err


def test_truncated_csv(loaded, tmp_path, capsys):
    cut = (HEADER + "o3,c3,2025-01-04 10:00:00,5\n" * 50 + "o9,c9,2025-0")
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "cut.csv", cut))])
    assert "cut.csv line 52: expected 4 fields, found 3" in err and "truncated" in err


def test_unterminated_quote(loaded, tmp_path, capsys):
    err = run_failing(loaded, capsys, ["ingest", "orders",
                                       str(write(tmp_path / "q.csv", HEADER + 'o3,"c3,2025-01-04,5\n'))])
    assert "never closed" in err


def test_wrong_delimiter(loaded, tmp_path, capsys):
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "semi.csv", GOOD.replace(",", ";")))])
    assert "looks ';'-separated" in err and "--delimiter ';'" in err


def test_text_in_amount_column_over_the_limit(loaded, tmp_path, capsys):
    bad = HEADER + "o5,c5,2025-01-04 10:00:00,twelve\no6,c6,2025-01-04 10:00:00,7\n"
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "amt.csv", bad))],
                      keeps_rejects=True)
    assert "50.0% of the 2 rows were quarantined" in err and "nothing was loaded" in err
    # The rejected rows are still kept, with their reason, for the user to inspect.
    kept = sorted((loaded.root / "quarantine").glob("*.csv"))
    assert len(kept) == 1
    text = kept[0].read_text()
    assert "amount is not a number" in text and "amount=twelve" in text


def test_text_in_amount_column_under_the_limit_is_quarantined(loaded, tmp_path):
    rows = "".join(f"p{i},c{i},2025-01-04 10:00:00,{i}\n" for i in range(200))
    path = write(tmp_path / "amt.csv", HEADER + rows + "p999,c9,2025-01-04 10:00:00,$12\n")
    summary = loaded.ingest("orders", [path], now=NOW)
    assert summary.count("loaded") == 200 and summary.reasons == {"amount is not a number": 1}
    con = duckdb.connect(str(loaded.warehouse_path), read_only=True)
    row = con.execute("SELECT source_row, key, reason, detail, original->>'amount' FROM quarantine").fetchone()
    con.close()
    assert row == (201, "p999", "amount is not a number", "amount=$12", "$12")


def test_missing_column(loaded, tmp_path, capsys):
    path = write(tmp_path / "nodate.csv", "order_id,customer_id,amount\no7,c7,3\n")
    err = run_failing(loaded, capsys, ["ingest", "orders", str(path)])
    assert "missing column for ordered_at" in err and "found: order_id, customer_id, amount" in err
    assert "--map ordered_at=COLUMN" in err


def test_missing_column_of_a_preset(loaded, tmp_path, capsys):
    path = write(tmp_path / "retail.csv", "Invoice,StockCode,Quantity,Price\n1,A,1,2\n")
    err = run_failing(loaded, capsys, ["ingest", "orders", str(path), "--preset", "online-retail-ii"])
    assert "missing column for" in err and "InvoiceDate" in err


def test_empty_file(loaded, tmp_path, capsys):
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "empty.csv", b""))])
    assert "empty.csv is empty (0 bytes)" in err


def test_non_utf8_file(loaded, tmp_path, capsys):
    body = (HEADER + "o8,c8,2025-01-04 10:00:00,4\n" * 30 + "o9,Ren\xe9e,2025-01-04 10:00:00,4\n").encode("latin-1")
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "latin.csv", body))])
    assert "not UTF-8" in err and "--encoding latin-1" in err


def test_non_utf8_header(loaded, tmp_path, capsys):
    body = "order_id,cliént,ordered_at,amount\n".encode("latin-1")
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "latin.csv", body))])
    assert "is not UTF-8 text" in err


def test_latin1_with_encoding_option_loads(loaded, tmp_path):
    body = (HEADER + "o9,Ren\xe9e,2025-01-04 10:00:00,4\n").encode("latin-1")
    code = main(["ingest", "orders", str(write(tmp_path / "latin.csv", body)), "--encoding", "latin-1",
                 "-w", str(loaded.root), "--now", "2026-01-01"])
    assert code == 0
    assert loaded.table("orders").filter(lambda t: t.order_id == "o9").customer_id.execute().tolist() == ["Renée"]


def test_corrupt_gzip(loaded, tmp_path, capsys):
    data = gzip.compress(GOOD.encode() * 2000)
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "cut.csv.gz", data[: len(data) // 2]))])
    assert "cut.csv.gz" in err


def test_xlsx_without_the_sheet(loaded, tmp_path, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.title = "Orders 2025"
    book.active.append(["order_id", "customer_id", "ordered_at", "amount"])
    path = tmp_path / "shop.xlsx"
    book.save(path)
    err = run_failing(loaded, capsys, ["ingest", "orders", str(path), "--sheet", "Orders 2024"])
    assert "sheet 'Orders 2024' not found; the workbook has: Orders 2025" in err


def test_not_an_xlsx(loaded, tmp_path, capsys):
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "fake.xlsx", GOOD))])
    assert "not a readable .xlsx workbook" in err


def test_not_a_parquet(loaded, tmp_path, capsys):
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "fake.parquet", GOOD))])
    assert "fake.parquet is not a Parquet file" in err


def test_unreachable_database(loaded, capsys):
    # Port 9 on loopback: nothing listens there, so the connection is refused at once.
    err = run_failing(loaded, capsys, ["ingest", "orders", "postgresql://shop:s3cret@127.0.0.1:9/shop",
                                       "--table", "orders"])
    assert "cannot connect to postgresql+psycopg://shop:***@127.0.0.1:9/shop" in err
    assert "s3cret" not in err


def test_sqlite_file_that_cannot_be_opened(loaded, tmp_path, capsys):
    err = run_failing(loaded, capsys, ["ingest", "orders", f"sqlite:///{tmp_path}/no/such/dir/shop.db",
                                       "--table", "orders"])
    assert "cannot connect to sqlite" in err


def test_database_table_that_does_not_exist(loaded, tmp_path, capsys):
    import sqlite3
    sqlite3.connect(tmp_path / "shop.db").close()
    err = run_failing(loaded, capsys, ["ingest", "orders", f"sqlite:///{tmp_path}/shop.db", "--table", "nope"])
    assert "cannot read table nope" in err and "no such table" in err


@pytest.mark.parametrize(("kind", "column"), [("csv", "_row"), ("parquet", "_row"), ("parquet", "file_row_number"),
                                             ("xlsx", "_row"), ("sqlite", "_row")])
def test_a_column_named_like_the_row_number_is_refused(loaded, tmp_path, capsys, kind, column):
    """It would hide the row number a rejected row is found by (or be overwritten by it)."""
    header = ["order_id", "customer_id", "ordered_at", "amount", column]
    rows = [["o3", "c3", "2025-01-04 10:00:00", "5", "7"]]
    if kind == "csv":
        args = [str(write(tmp_path / "x.csv", ",".join(header) + "\n" + ",".join(rows[0]) + "\n"))]
    elif kind == "parquet":
        con = duckdb.connect()
        con.execute(f"""COPY (SELECT 'o3' AS order_id, 'c3' AS customer_id, TIMESTAMP '2025-01-04 10:00:00' AS ordered_at,
                        5 AS amount, 7 AS "{column}") TO '{tmp_path}/x.parquet'""")
        args = [str(tmp_path / "x.parquet")]
    elif kind == "xlsx":
        openpyxl = pytest.importorskip("openpyxl")
        book = openpyxl.Workbook()
        book.active.append(header)
        book.active.append(rows[0])
        book.save(tmp_path / "x.xlsx")
        args = [str(tmp_path / "x.xlsx")]
    else:
        import sqlite3
        with sqlite3.connect(tmp_path / "shop.db") as db:
            db.execute(f"CREATE TABLE orders ({', '.join(header)})")
            db.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", rows[0])
        args = [f"sqlite:///{tmp_path}/shop.db", "--table", "orders"]
    err = run_failing(loaded, capsys, ["ingest", "orders", *args])
    assert f"has a column named '{column}', a name Tenure keeps for its own use" in err and "rename" in err


def test_no_such_file(loaded, tmp_path, capsys):
    err = run_failing(loaded, capsys, ["ingest", "orders", str(tmp_path / "missing.csv")])
    assert "no such file" in err


def test_unknown_preset(loaded, tmp_path, capsys):
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "g.csv", GOOD)), "--preset", "magento"])
    assert "unknown preset 'magento'" in err


def test_map_names_a_missing_column(loaded, tmp_path, capsys):
    err = run_failing(loaded, capsys, ["ingest", "orders", str(write(tmp_path / "g.csv", GOOD)),
                                       "--map", "ordered_at=Created"])
    assert "--map ordered_at=Created names no column" in err


def test_not_a_workspace(tmp_path, capsys):
    code = main(["status", "-w", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "is not a Tenure workspace" in err and len(err.strip().splitlines()) == 1


def test_invalid_setting(ws, capsys):
    cfg = ws.root / "tenure.toml"
    cfg.write_text(cfg.read_text().replace("max_quarantine_share = 0.01", "max_quarantine_share = 5"))
    code = main(["status", "-w", str(ws.root)])
    err = capsys.readouterr().err
    assert code == 2 and "ingest.max_quarantine_share: Input should be less than or equal to 1" in err


@pytest.mark.parametrize("args", [["ingest", "orders"], ["ingest", "orders", "x.csv", "--bogus"], ["nosuch"],
                                  ["ingest", "parcels", "x.csv"]])
def test_usage_errors_exit_2_without_traceback(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and ("Usage" in err or "Error" in err)
