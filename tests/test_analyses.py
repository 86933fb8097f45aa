"""Cohorts, funnel, Pareto, cycles, RFM grid, stage history and flows: exact figures on a hand-made
shop, edge cases (empty, one customer, a day before any order), the CLI, and real-data oracles
(Online Retail II) computed independently in pandas from the warehouse's orders."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd
import pytest

from tenure import Workspace, analyses
from tenure.cli import main
from tenure.errors import TenureError
from tests.conftest import NOW, online_retail_shop, write

D = dt.date(2024, 3, 31)
TOTAL = 510.0  # a 210 + b 200 + c 100

CUSTOMERS = """customer_id,created_at,acquisition_channel,consent_email
a,2024-01-05 09:00:00,ads,true
b,2024-01-10 09:00:00,organic,true
c,2024-02-01 09:00:00,,false
d,2024-03-01 09:00:00,ads,true
e,2024-05-01 09:00:00,ads,true
"""
# a: 4 purchase days (two orders on 5 Jan are one), gaps 30, 30, 10; b: one purchase (the
# cancelled and the zero-value order do not count); c: gap 10, then an order after D; d: a lead;
# e: not yet known on D; o12: a guest order.
ORDERS = """order_id,customer_id,ordered_at,amount,status
o1,a,2024-01-05 10:00:00,100,completed
o2,a,2024-01-05 15:00:00,50,completed
o3,a,2024-02-04 10:00:00,30,completed
o4,a,2024-03-05 10:00:00,20,completed
o5,a,2024-03-15 10:00:00,10,completed
o6,b,2024-01-20 10:00:00,200,completed
o7,b,2024-03-20 10:00:00,80,cancelled
o8,b,2024-03-25 10:00:00,0,completed
o9,c,2024-02-10 10:00:00,40,completed
o10,c,2024-02-20 10:00:00,60,completed
o11,c,2024-04-02 10:00:00,99,completed
o12,,2024-02-01 10:00:00,500,completed
"""


def make_shop(root, customers: str | None, orders: str | None) -> Workspace:
    ws = Workspace.init(root, timezone="Europe/London", currency="GBP")
    if customers:
        ws.ingest("customers", [write(root / "in" / "customers.csv", customers)], now=NOW)
    if orders:
        ws.ingest("orders", [write(root / "in" / "orders.csv", orders)], now=NOW)
    return ws


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Workspace:
    return make_shop(tmp_path_factory.mktemp("analyses") / "shop", CUSTOMERS, ORDERS)


def rows(df: pd.DataFrame, *cols) -> list[tuple]:
    return [tuple(None if (isinstance(v, float) and math.isnan(v)) else v for v in r)
            for r in df[list(cols)].itertuples(index=False)]


def flat(table: list[tuple]) -> list:
    """Rows as one flat list, for pytest.approx (which takes no nested sequences)."""
    return [v for row in table for v in row]


# -- hand-made shop ---------------------------------------------------------------------------
def test_cohorts(shop):
    df = analyses.cohorts(shop, as_of=D)
    assert list(df.columns) == analyses.COHORT_COLUMNS
    assert rows(df, *analyses.COHORT_COLUMNS) == [
        ("2024-01", 0, 2, 2, 1.0, 350.0, 175.0),
        ("2024-01", 1, 2, 1, 0.5, 30.0, 15.0),
        ("2024-01", 2, 2, 1, 0.5, 30.0, 15.0),
        ("2024-02", 0, 1, 1, 1.0, 100.0, 100.0),
        ("2024-02", 1, 1, 0, 0.0, 0.0, 0.0),     # nobody bought: still a row
    ]


def test_cohorts_by_channel(shop):
    df = analyses.cohorts(shop, as_of=D, by_channel=True)
    assert list(df.columns) == ["cohort", "channel", *analyses.COHORT_COLUMNS[1:]]
    assert rows(df, "cohort", "channel", "month", "cohort_size", "active_customers", "revenue") == [
        ("2024-01", "ads", 0, 1, 1, 150.0), ("2024-01", "ads", 1, 1, 1, 30.0), ("2024-01", "ads", 2, 1, 1, 30.0),
        ("2024-01", "organic", 0, 1, 1, 200.0), ("2024-01", "organic", 1, 1, 0, 0.0),
        ("2024-01", "organic", 2, 1, 0, 0.0),
        ("2024-02", "unknown", 0, 1, 1, 100.0), ("2024-02", "unknown", 1, 1, 0, 0.0),
    ]


def test_funnel(shop):
    df = analyses.funnel(shop, as_of=D)
    assert list(df.columns) == analyses.FUNNEL_COLUMNS
    # median_days: 1st = days from sign-up (a 0, b 10, c 9); 2nd: a 30, c 10; 3rd: a 30; 4th+: a 10.
    assert rows(df, *analyses.FUNNEL_COLUMNS) == [
        ("lead", 0, 4, None, 1.0, None),
        ("1st purchase", 1, 3, 0.75, 0.75, 9.0),
        ("2nd purchase", 2, 2, 2 / 3, 0.5, 20.0),
        ("3rd purchase", 3, 1, 0.5, 0.25, 30.0),
        ("4th+ purchase", 4, 1, 1.0, 0.25, 10.0),
    ]


def test_funnel_by_channel_and_cohort(shop):
    df = analyses.funnel(shop, as_of=D, by="channel")
    assert list(df.columns) == ["channel", *analyses.FUNNEL_COLUMNS]
    counts = df.pivot(index="channel", columns="step_number", values="customers")
    assert counts.to_dict("index") == {"ads": {0: 2, 1: 1, 2: 1, 3: 1, 4: 1},
                                       "organic": {0: 1, 1: 1, 2: 0, 3: 0, 4: 0},
                                       "unknown": {0: 1, 1: 1, 2: 1, 3: 0, 4: 0}}
    organic = df[df.channel == "organic"]
    assert rows(organic, "conversion")[2:] == [(0.0,), (None,), (None,)]  # 0 of 1, then 0 of 0

    df = analyses.funnel(shop, as_of=D, by="cohort")  # the month first seen: d is a lead of March
    counts = df.pivot(index="cohort", columns="step_number", values="customers")
    assert counts.to_dict("index") == {"2024-01": {0: 2, 1: 2, 2: 1, 3: 1, 4: 1},
                                       "2024-02": {0: 1, 1: 1, 2: 1, 3: 0, 4: 0},
                                       "2024-03": {0: 1, 1: 0, 2: 0, 3: 0, 4: 0}}
    with pytest.raises(TenureError, match="cohort or channel"):
        analyses.funnel(shop, as_of=D, by="country")


def test_pareto_and_lorenz(shop):
    df = analyses.pareto(shop, as_of=D)
    assert list(df.columns) == analyses.PARETO_COLUMNS
    # N = 3: ceil(0.03 .. 0.6) = 1 customer (a, 210), ceil(1.5) = 2 (a and b, 410).
    assert flat(rows(df, *analyses.PARETO_COLUMNS)) == pytest.approx(flat([
        (0.01, 1, 210 / TOTAL), (0.05, 1, 210 / TOTAL), (0.10, 1, 210 / TOTAL), (0.20, 1, 210 / TOTAL),
        (0.50, 2, 410 / TOTAL)]))
    lz = analyses.lorenz(shop, as_of=D, points=4)
    assert list(lz.columns) == analyses.LORENZ_COLUMNS
    # Bottom floor(p * 3 / 4) customers, ascending (c 100, b 200, a 210): 0, 0, 1, 2, 3.
    assert flat(rows(lz, "customer_share", "revenue_share")) == pytest.approx(flat([
        (0.0, 0.0), (0.25, 0.0), (0.5, 100 / TOTAL), (0.75, 300 / TOTAL), (1.0, 1.0)]))
    assert len(analyses.lorenz(shop, as_of=D)) == 101


def test_cycles(shop):
    c = analyses.cycles(shop, as_of=D)
    assert rows(c.intervals, "days", "intervals") == [(10, 2), (30, 2)]
    assert list(c.by_purchase_number.columns) == analyses.BY_NUMBER_COLUMNS
    assert rows(c.by_purchase_number, *analyses.BY_NUMBER_COLUMNS) == [
        ("2nd", 2, 2, 20.0, 20.0), ("3rd", 3, 1, 30.0, 30.0), ("4th", 4, 1, 10.0, 10.0)]
    assert c.median_days == 20.0 and c.store_cycle_days == 20.0


def test_rfm_grid_computed_then_stored(shop):
    want = [(1, 1, 1, 200 / TOTAL, 2.0, 200.0),   # b: oldest, one order
            (2, 2, 1, 100 / TOTAL, 1.0, 100.0),   # c
            (4, 4, 1, 210 / TOTAL, 4.0, 210.0)]   # a: 2 of 3 buyers strictly worse: 1 + floor(10/3)
    computed = analyses.rfm_grid(shop, as_of=D)
    assert list(computed.columns) == analyses.RFM_GRID_COLUMNS
    assert flat(rows(computed, *analyses.RFM_GRID_COLUMNS)) == pytest.approx(flat(want))
    shop.run(as_of=D)
    assert flat(rows(analyses.rfm_grid(shop, as_of=D), *analyses.RFM_GRID_COLUMNS)) == pytest.approx(flat(want))


def test_stage_history_and_flows(shop):
    days = [dt.date(2024, 2, 15), D]
    for day in days:
        shop.run(as_of=day)
    snaps = {day: pd.read_parquet(shop.history.path(day)) for day in days}
    hist = analyses.stage_history(shop)
    assert list(hist.columns) == analyses.STAGE_COLUMNS
    for day, snap in snaps.items():
        got = hist[pd.to_datetime(hist.as_of) == pd.Timestamp(day)]
        assert dict(zip(got.label, got.customers)) == snap.lifecycle.value_counts().to_dict()

    flows = analyses.flows(shop, start=days[0], end=days[1], by="rf")
    assert list(flows.columns) == analyses.FLOW_COLUMNS
    m = snaps[days[1]].merge(snaps[days[0]], on="customer_id", how="left", suffixes=("", "_before"))
    want = m.fillna({"rf_before": "(new)"}).groupby(["rf_before", "rf"]).size().to_dict()
    assert dict(zip(zip(flows.from_label, flows.to_label), flows.customers)) == want
    assert flows.customers.sum() == len(snaps[D]) == 4  # a, b, c, d (e is not known yet)

    with pytest.raises(TenureError, match="no snapshot stored for 2024-03-01"):
        analyses.flows(shop, start=dt.date(2024, 3, 1), end=D)
    with pytest.raises(TenureError, match="not a segmentation"):
        analyses.stage_history(shop, by="colour")


# -- edge cases -------------------------------------------------------------------------------
def test_empty_workspace_gives_empty_frames(tmp_path):
    ws = make_shop(tmp_path / "empty", None, None)
    for df, cols in ((analyses.cohorts(ws, as_of=D), analyses.COHORT_COLUMNS),
                     (analyses.cohorts(ws, as_of=D, by_channel=True), ["cohort", "channel", *analyses.COHORT_COLUMNS[1:]]),
                     (analyses.funnel(ws, as_of=D), analyses.FUNNEL_COLUMNS),
                     (analyses.funnel(ws, as_of=D, by="channel"), ["channel", *analyses.FUNNEL_COLUMNS]),
                     (analyses.pareto(ws, as_of=D), analyses.PARETO_COLUMNS),
                     (analyses.lorenz(ws, as_of=D), analyses.LORENZ_COLUMNS),
                     (analyses.rfm_grid(ws, as_of=D), analyses.RFM_GRID_COLUMNS),
                     (analyses.stage_history(ws), analyses.STAGE_COLUMNS)):
        assert df.empty and list(df.columns) == cols
    c = analyses.cycles(ws)  # default as_of: today
    assert c.intervals.empty and c.by_purchase_number.empty and c.median_days is None
    assert c.store_cycle_days == ws.settings.cycle.fallback_days


def test_one_customer(tmp_path):
    ws = make_shop(tmp_path / "one", None, "order_id,customer_id,ordered_at,amount\nx1,z,2024-03-10 12:00:00,42.5\n")
    assert rows(analyses.cohorts(ws, as_of=D), *analyses.COHORT_COLUMNS) == [("2024-03", 0, 1, 1, 1.0, 42.5, 42.5)]
    assert list(analyses.funnel(ws, as_of=D).customers) == [1, 1, 0, 0, 0]
    assert rows(analyses.pareto(ws, as_of=D), "customers", "revenue_share") == [(1, 1.0)] * 5
    lz = analyses.lorenz(ws, as_of=D, points=4)
    assert list(lz.revenue_share) == [0.0, 0.0, 0.0, 0.0, 1.0]
    c = analyses.cycles(ws, as_of=D)
    assert c.intervals.empty and c.median_days is None


def test_as_of_before_the_first_order(shop):
    day = dt.date(2024, 1, 4)  # nobody known, nothing bought
    assert analyses.cohorts(shop, as_of=day).empty and analyses.funnel(shop, as_of=day).empty
    assert analyses.pareto(shop, as_of=day).empty and analyses.cycles(shop, as_of=day).intervals.empty
    day = dt.date(2024, 1, 12)  # a bought on 5 January; b registered on the 10th
    assert rows(analyses.cohorts(shop, as_of=day), "cohort", "month", "cohort_size") == [("2024-01", 0, 1)]
    assert list(analyses.funnel(shop, as_of=day).customers) == [2, 1, 0, 0, 0]


# -- CLI --------------------------------------------------------------------------------------
def cli(ws, capsys, *args) -> tuple[int, str, str]:
    code = main([*args, "-w", str(ws.root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_cohorts_prints_a_triangle_and_writes_csv_and_parquet(shop, capsys, tmp_path):
    code, out, _ = cli(shop, capsys, "cohorts", "--as-of", "2024-03-31")
    assert code == 0 and "2024-01" in out and "50%" in out
    want = analyses.cohorts(shop, as_of=D)
    for name in ("c.csv", "c.parquet"):
        code, out, _ = cli(shop, capsys, "cohorts", "--as-of", "2024-03-31", "--out", str(tmp_path / name))
        assert code == 0 and "Wrote 5 rows" in out
        got = pd.read_csv(tmp_path / name) if name.endswith(".csv") else pd.read_parquet(tmp_path / name)
        assert list(got.columns) == ["cohort", "month", "cohort_size", "active_customers", "retention", "revenue",
                                     "revenue_per_customer"]
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_cli_funnel_pareto_cycles_flows(shop, capsys, tmp_path):
    code, out, _ = cli(shop, capsys, "funnel", "--as-of", "2024-03-31", "--by", "channel", "--out", str(tmp_path / "f.csv"))
    assert code == 0 and "4th+ purchase" in out and "organic" in out
    assert list(pd.read_csv(tmp_path / "f.csv").columns)[:4] == ["channel", "step", "customers", "conversion"]
    code, out, _ = cli(shop, capsys, "pareto", "--as-of", "2024-03-31", "--out", str(tmp_path / "p.parquet"))
    assert code == 0 and "80.4%" in out
    assert list(pd.read_parquet(tmp_path / "p.parquet").columns) == ["top_share", "revenue_share", "customers"]
    code, out, _ = cli(shop, capsys, "cycles", "--as-of", "2024-03-31")
    assert code == 0 and "median 20 days" in " ".join(out.split()) and "2nd" in out
    shop.run(as_of=dt.date(2024, 2, 15))
    shop.run(as_of=D)
    code, out, _ = cli(shop, capsys, "flows", "--from", "2024-02-15", "--to", "2024-03-31", "--by", "lifecycle")
    assert code == 0 and "(new)" in out


def test_cli_mistakes_are_one_line(shop, capsys, tmp_path):
    for args, message in (
        (["cohorts", "--out", str(tmp_path / "c.xlsx")], "--out must end in .csv or .parquet"),
        (["funnel", "--by", "country"], "not a funnel grouping"),
        (["pareto", "--as-of", "9 Dec"], "is not a date"),
        (["flows", "--from", "2020-01-01", "--to", "2020-02-01"], "no snapshot stored for 2020-01-01"),
    ):
        code, out, err = cli(shop, capsys, *args)
        assert code == 2 and message in err and err.strip().count("\n") == 0, (args, err)
    assert not (tmp_path / "c.xlsx").exists()


# -- real data: Online Retail II + Online Retail, against pandas from the definitions ----------
REAL_AS_OF = dt.date(2011, 12, 9)


@pytest.fixture(scope="module")
def retail(tmp_path_factory, shared_data):
    ws = online_retail_shop(tmp_path_factory.mktemp("retail") / "shop", shared_data)
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        orders = con.execute("SELECT customer_id, ordered_at, status, CAST(amount AS DOUBLE) AS amount FROM orders").df()
        customers = con.execute("SELECT customer_id, created_at FROM customers").df()
    finally:
        con.close()
    end = pd.Timestamp(REAL_AS_OF + dt.timedelta(days=1))
    bought = orders[(orders.status == "completed") & (orders.amount > 0) & orders.customer_id.notna()
                    & (orders.ordered_at < end)].copy()
    bought["day"] = bought.ordered_at.dt.normalize()
    return ws, bought, customers[customers.created_at.isna() | (customers.created_at < end)]


@pytest.mark.realdata
def test_real_cohorts(retail):
    ws, bought, _ = retail
    got = analyses.cohorts(ws, as_of=REAL_AS_OF)
    bought = bought.assign(month=bought.ordered_at.dt.year * 12 + bought.ordered_at.dt.month - 1)
    first = bought.groupby("customer_id").month.min().rename("first")
    bought = bought.join(first, on="customer_id")
    sizes = first.value_counts()
    month1 = bought[bought.month == bought["first"] + 1].groupby("first").customer_id.nunique()
    for idx, size in sizes.items():
        label = f"{idx // 12}-{idx % 12 + 1:02d}"
        row = got[(got.cohort == label) & (got.month == 0)]
        assert int(row.cohort_size.iloc[0]) == size, label
        if idx < 2011 * 12 + 11:  # December 2011 has no month 1 yet
            m1 = got[(got.cohort == label) & (got.month == 1)].iloc[0]
            assert m1.active_customers == month1.get(idx, 0), label
            assert m1.retention == pytest.approx(month1.get(idx, 0) / size)
    assert got[got.month == 0].cohort.tolist() == [f"{i // 12}-{i % 12 + 1:02d}" for i in sorted(sizes.index)]
    assert len(sizes) == 25 and sizes.sum() == 5878
    assert got.revenue.sum() == pytest.approx(bought.amount.sum())


@pytest.mark.realdata
def test_real_funnel_pareto_cycles(retail):
    ws, bought, known = retail
    days = bought[["customer_id", "day"]].drop_duplicates().sort_values(["customer_id", "day"])
    n = days.groupby("customer_id").size()
    leads = len(set(known.customer_id) | set(n.index))
    want = [leads, (n >= 1).sum(), (n >= 2).sum(), (n >= 3).sum(), (n >= 4).sum()]
    f = analyses.funnel(ws, as_of=REAL_AS_OF)
    assert list(f.customers) == want
    assert f.conversion.iloc[2] == pytest.approx(want[2] / want[1])

    revenue = bought.groupby("customer_id").amount.sum().sort_values(ascending=False).to_numpy()
    p = analyses.pareto(ws, as_of=REAL_AS_OF)
    for share, got_n, got_share in p[["top_share", "customers", "revenue_share"]].itertuples(index=False):
        k = math.ceil(share * len(revenue) - 1e-9)
        assert got_n == k and got_share == pytest.approx(revenue[:k].sum() / revenue.sum(), rel=1e-9)
    lz = analyses.lorenz(ws, as_of=REAL_AS_OF, points=10)
    ascending = revenue[::-1].cumsum() / revenue.sum()
    want_lz = [0.0, *(ascending[i * len(revenue) // 10 - 1] for i in range(1, 11))]
    assert list(lz.revenue_share) == pytest.approx(want_lz, rel=1e-9)

    gaps = days.groupby("customer_id").day.diff().dt.days.dropna()
    c = analyses.cycles(ws, as_of=REAL_AS_OF)
    assert c.median_days == gaps.median() and c.intervals.intervals.sum() == len(gaps)
    assert dict(zip(c.intervals.days, c.intervals.intervals)) == gaps.astype(int).value_counts().to_dict()
