"""The lifecycle commands end to end on a generated shop: run, backfill, segments, transitions,
customer, export; stored files, and the messages a user sees."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from tenure import Workspace, generate
from tenure.cli import main
from tests.conftest import NOW


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    generate(customers=1500, seed=3, out=root / "in", fmt="parquet")
    ws = Workspace.init(root / "shop", timezone="UTC")
    for entity in ("customers", "orders", "events"):
        ws.ingest(entity, [root / "in" / f"{entity}.parquet"], now=NOW)
    return ws


def cli(ws, capsys, *args) -> tuple[int, str, str]:
    code = main([*args, "-w", str(ws.root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_backfill_and_read_back(shop, capsys):
    code, out, _ = cli(shop, capsys, "backfill", "--from", "2025-09-01", "--to", "2025-12-01", "--every", "2w")
    assert code == 0 and "Stored 7 snapshots from 2025-09-01 to 2025-11-24" in out
    code, out, _ = cli(shop, capsys, "run", "--as-of", "2025-12-31")
    assert code == 0 and "since 2025-11-24" in out and "lifecycle" in out
    assert [d.isoformat() for d in shop.history.dates()][-2:] == ["2025-11-24", "2025-12-31"]

    snap = shop.history.read(dt.date(2025, 12, 31)).execute()
    direct = shop.snapshot(as_of=dt.date(2025, 12, 31)).execute()
    assert len(snap) == len(direct) == snap.customer_id.nunique()
    assert {"vip", "unengaged"} <= set(snap.columns)
    assert snap.vip.dtype == bool and 0 < snap.vip.sum() < len(snap)

    code, out, _ = cli(shop, capsys, "segments", "--by", "rfm")
    assert code == 0 and "champions" in out and "revenue" in out
    code, out, _ = cli(shop, capsys, "segments", "--by", "vip", "--as-of", "2025-12-31")
    assert code == 0 and " in " in out and " out " in out
    code, out, _ = cli(shop, capsys, "transitions", "--from", "2025-11-24", "--to", "2025-12-31", "--by", "lifecycle")
    assert code == 0 and "(new)" in out and "dormant" in out

    # The stored transitions of a day are exactly the label changes between the two files.
    con = duckdb.connect()
    f = str(shop.history.folder)
    stored = con.execute(f"SELECT count(*) FROM '{f}/transitions-2025-12-31.parquet' WHERE segmentation = 'lifecycle'").fetchone()[0]
    expected = con.execute(f"""SELECT count(*) FROM '{f}/snapshot-2025-12-31.parquet' a
        LEFT JOIN '{f}/snapshot-2025-11-24.parquet' b USING (customer_id)
        WHERE b.customer_id IS NULL OR a.lifecycle <> b.lifecycle""").fetchone()[0]
    assert stored == expected > 0


def test_customer_and_export(shop, capsys, tmp_path):
    shop.run(as_of=dt.date(2025, 6, 30))
    someone = shop.history.read(dt.date(2025, 6, 30)).filter(lambda t: t.orders > 2).customer_id.execute().iloc[0]
    code, out, _ = cli(shop, capsys, "customer", someone)
    assert code == 0 and f"customer {someone}" in out and "label changes over" in out
    assert "purchase_probability_90d" in out and "clv_365d" in out and "churn_risk" in out
    for suffix in ("csv", "parquet"):
        target = tmp_path / f"snap.{suffix}"
        code, out, _ = cli(shop, capsys, "export", "snapshot", "--as-of", "2025-06-30", "--out", str(target))
        assert code == 0
        cols = duckdb.connect().execute(f"SELECT * FROM '{target}' LIMIT 0").description
        names = [c[0] for c in cols]
        assert names[:19] == ["customer_id", "as_of", "orders", "purchase_days", "first_purchase", "last_purchase",
                              "days_since_last", "spend", "spend_365", "avg_spend", "own_cycle_days",
                              "store_cycle_days", "lifecycle", "rf", "r", "f", "m", "rfm", "rfm_segment"]
        assert {"vip", "unengaged", "p_alive", "purchase_probability_90d", "clv_365d", "churn_risk"} <= set(names)


@pytest.mark.parametrize(("args", "message"), [
    (("run", "--as-of", "2025-13-01"), "--as-of '2025-13-01' is not a date"),
    (("segments", "--by", "nope"), "--by 'nope' is not a segmentation"),
    (("segments", "--as-of", "1999-01-01"), "no snapshot stored for 1999-01-01"),
    (("transitions", "--from", "1999-01-01", "--to", "2025-12-31"), "no snapshot stored for 1999-01-01"),
    (("customer", "no-such-customer"), "customer 'no-such-customer' is in no stored snapshot"),
    (("backfill", "--from", "2025-02-01", "--to", "2025-01-01"), "is before --from"),
    (("backfill", "--from", "2025-01-01", "--to", "2025-02-01", "--every", "soon"), "--every 'soon'"),
    (("export", "snapshot", "--out", "x.xlsx"), "unknown file type"),
])
def test_user_mistakes_are_one_line(shop, capsys, args, message):
    code, _, err = cli(shop, capsys, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_store_cycle_fallback_is_announced(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "w")
    (tmp_path / "o.csv").write_text("order_id,customer_id,ordered_at,amount\no1,a,2025-01-02,5\no2,b,2025-01-03,6\n")
    ws.ingest("orders", [tmp_path / "o.csv"], now=NOW)
    code, out, _ = cli(ws, capsys, "run", "--as-of", "2025-02-01")
    assert code == 0 and "no customer has bought twice" in out and "30 days" in out
