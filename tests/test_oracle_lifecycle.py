"""Oracle tests: Tenure's snapshot against plain DuckDB SQL written from the definitions.

tests/oracle_sql.py computes, for every customer as of a day D, the lifecycle stage, the RF
ladder rung and the RFM scores and segment straight from the written definitions (one CTE per
definition). Here that oracle is first checked on a small hand-computed history, then compared
customer by customer with `Workspace.snapshot` on the real data sets: labels must be identical,
counts and days equal, cycles equal to 1e-9.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from decimal import Decimal

import duckdb
import pandas as pd
import pytest

from tenure import Workspace
from tests.conftest import NOW
from tests.oracle_sql import compute, purchase_days_of

ONLINE_RETAIL_2011 = dt.date(2011, 12, 10)
ONLINE_RETAIL_2010 = dt.date(2010, 12, 10)
CDNOW_AS_OF = dt.date(1998, 7, 1)

LABELS = ("lifecycle", "rf", "rfm", "rfm_segment")
SCORES = ("r", "f", "m")


# -- the oracle on a hand-computed history ---------------------------------------------------

def _toy() -> duckdb.DuckDBPyConnection:
    """customers/orders shaped like the warehouse's, with every case worked out by hand below."""
    con = duckdb.connect()
    con.execute("CREATE TABLE customers (customer_id VARCHAR, created_at TIMESTAMP)")
    con.execute("""CREATE TABLE orders (order_id VARCHAR, customer_id VARCHAR, ordered_at TIMESTAMP,
                                        status VARCHAR, amount DECIMAL(18, 4))""")
    days = {
        "A": ["2024-01-01", "2024-01-11", "2024-01-31", "2024-03-21", "2024-03-21"],
        "B": ["2024-02-01", "2024-03-01"],
        "E": ["2024-03-30"],
        "F": ["2023-12-01"],
        "I": ["2024-02-24"],
        "J": ["2024-01-01", "2024-01-05", "2024-01-09"],
        "K": ["2024-03-01", "2024-03-11", "2024-03-21", "2024-03-29"],
        "L2": ["2024-03-10", "2024-03-13", "2024-03-19", "2024-03-26", "2024-03-28"],
        "M": ["2024-03-20", "2024-03-31"],
        "N": ["2024-03-22"],
        "N2": ["2024-03-21"],
    }
    rows = []
    for cid, ds in days.items():
        for i, d in enumerate(ds):
            rows.append((f"{cid}-{i}", cid, f"{d} 10:00:00", "completed", 10 + 7 * i + len(cid)))
    rows += [
        ("H-0", "H", "2024-03-31 23:30:00", "completed", 5),        # last minute of D: counts
        ("H-1", "H", "2024-04-01 00:00:00", "completed", 100),      # first minute after D: not
        ("G-0", "G", "2024-01-10 10:00:00", "cancelled", -20),
        ("G-1", "G", "2024-01-12 10:00:00", "returned", 20),
        ("G-2", "G", "2024-01-14 10:00:00", "completed", 0),        # amount 0: not a purchase
        ("guest-0", None, "2024-01-01 10:00:00", "completed", 50),  # guests: nobody's interval
        ("guest-1", None, "2024-01-02 10:00:00", "completed", 50),
    ]
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", rows)
    customers = [(cid, f"{ds[0]} 10:00:00") for cid, ds in days.items()]
    customers += [("H", "2024-03-31 23:30:00"), ("G", "2024-01-10 10:00:00"), ("L", None),
                  ("FUT", "2024-04-01 00:00:00")]                   # created after D: absent
    con.executemany("INSERT INTO customers VALUES (?, ?)", customers)
    return con


def test_oracle_on_a_hand_computed_history():
    con = _toy()
    got = compute(con, dt.date(2024, 3, 31)).set_index("customer_id")
    # Pooled intervals: A 10 20 50, B 29, J 4 4, K 10 10 8, L2 3 6 7 2, M 11 (guests excluded)
    # = 2 3 4 4 6 7 8 10 10 10 11 20 29 50 -> C = (8 + 10) / 2 = 9.
    assert set(got.index) == {"A", "B", "E", "F", "G", "H", "I", "J", "K", "L", "L2", "M", "N", "N2"}
    assert (got["store_cycle_days"] == 9.0).all()
    want = {  # id: (lifecycle, rf, k, n, d, c)
        "A": ("reactivated", "recent", 5, 4, 10, 20.0),      # c = median(10, 20, 50); g = 50 > 20
        "B": ("lapsing", "promising", 2, 2, 30, 9.0),        # n = 2 -> c = C; 9 < 30 <= 36
        "E": ("new", "recent", 1, 1, 1, 9.0),
        "F": ("dormant", "dormant", 1, 1, 121, 9.0),         # 121 > 36; rung 75 reached
        "G": ("lead", "none", 0, 0, None, None),
        "H": ("new", "recent", 1, 1, 0, 9.0),
        "I": ("one-time", "promising", 1, 1, 36, 9.0),       # d = 4C exactly
        "J": ("dormant", "at-risk", 3, 3, 82, 4.0),          # 82 > 16; k = 3: 56 <= 82 < 113
        "K": ("active", "recent", 4, 4, 2, 10.0),            # g = 8 <= 10
        "L": ("lead", "none", 0, 0, None, None),
        "L2": ("active", "recent", 5, 5, 3, 4.5),            # c = median(3, 6, 7, 2); g = 2
        "M": ("reactivated", "recent", 2, 2, 0, 9.0),        # g = 11 > C = 9
        "N": ("new", "recent", 1, 1, 9, 9.0),                # d = C exactly
        "N2": ("one-time", "new", 1, 1, 10, 9.0),            # rung new at exactly 10 days
    }
    for cid, (stage, rf, k, n, d, c) in want.items():
        row = got.loc[cid]
        assert (row["lifecycle"], row["rf"], row["orders"], row["purchase_days"]) == (stage, rf, k, n), cid
        if k:
            assert (row["days_since_last"], row["own_cycle_days"]) == (d, c), cid
        else:
            assert pd.isna(row["days_since_last"]) and pd.isna(row["rfm"]) and row["rfm_segment"] == "none"
    assert got.loc["H", "spend"] == Decimal(5)  # only the order before midnight

    # RFM re-derived in Python from the definition (strictly-worse counts), for the 12 buyers.
    buyers = got[got["orders"] > 0]
    n_buyers = len(buyers)
    assert n_buyers == 12
    for cid, row in buyers.iterrows():
        w_r = int((buyers["days_since_last"] > row["days_since_last"]).sum())
        w_f = int((buyers["orders"] < row["orders"]).sum())
        w_m = int((buyers["spend"] < row["spend"]).sum())
        score = [min(5, 1 + math.floor(5 * w / n_buyers)) for w in (w_r, w_f, w_m)]
        assert [row["r"], row["f"], row["m"]] == score, cid
        assert row["rfm"] == "".join(map(str, score)), cid
    # F has the oldest purchase: no one is worse -> R = 1; H and M bought on D: 10 worse -> 5.
    assert got.loc["F", "r"] == 1 and got.loc["H", "r"] == 5 == got.loc["M", "r"]
    assert got.loc["A", "f"] == 5 and got.loc["L2", "f"] == 5   # k = 5: ten buyers have fewer
    # A (d = 10): worse are B F I J (30 121 36 82; N2's 10 is a tie) -> R = 1 + 20 // 12 = 2.
    assert got.loc["A", "r"] == 2 and got.loc["A", "rfm_segment"] == "cannot-lose-them"
    con.close()


@pytest.mark.parametrize(("r", "f", "segment"), [
    (5, 5, "champions"), (5, 4, "champions"), (4, 5, "loyal"), (3, 4, "loyal"),
    (5, 3, "potential-loyalists"), (4, 2, "potential-loyalists"), (5, 1, "new-customers"),
    (4, 1, "promising"), (3, 3, "need-attention"), (3, 2, "about-to-sleep"), (3, 1, "about-to-sleep"),
    (2, 4, "at-risk"), (1, 3, "at-risk"), (2, 5, "cannot-lose-them"), (1, 5, "cannot-lose-them"),
    (2, 2, "hibernating"), (1, 1, "hibernating"),
])
def test_oracle_segment_grid(r, f, segment):
    """The segment CASE of the oracle, cell by cell (the SQL's CASE run on one fake score row)."""
    from tests.oracle_sql import oracle_sql
    sql = oracle_sql(dt.date(2024, 1, 1))
    case = sql[sql.index("CASE WHEN x.r IS NULL"):sql.index("END AS rfm_segment") + 3]
    con = duckdb.connect()
    got = con.execute(f"SELECT {case} FROM (SELECT {r} AS r, {f} AS f) x").fetchone()[0]
    con.close()
    assert got == segment


# -- real data ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def retail_ws(tmp_path_factory, shared_data) -> Workspace:
    data = shared_data  # session-scoped: skips, or fails in CI, without the data sets
    ws = Workspace.init(tmp_path_factory.mktemp("retail") / "shop", timezone="Europe/London", currency="GBP")
    for part in (data / "online-retail-ii" / "online_retail_II_year_2009_2010.parquet",
                 data / "online-retail" / "online_retail.csv.gz"):
        summary = ws.ingest("orders", [part], preset="online-retail-ii", now=NOW)
        assert summary.count("quarantined") == 0, summary.reasons
    return ws


@pytest.fixture(scope="module")
def cdnow_ws(tmp_path_factory, shared_data) -> Workspace:
    data = shared_data  # session-scoped: skips, or fails in CI, without the data sets
    ws = Workspace.init(tmp_path_factory.mktemp("cdnow") / "shop", timezone="Europe/London", currency="GBP")
    summary = ws.ingest("orders", [data / "cdnow" / "CDNOW_master.txt"], preset="cdnow", now=NOW)
    assert summary.count("quarantined") == 0, summary.reasons
    return ws


def _oracle(ws: Workspace, as_of: dt.date) -> pd.DataFrame:
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        return compute(con, as_of)
    finally:
        con.close()


def _distribution(frame: pd.DataFrame) -> str:
    parts = []
    for col in ("lifecycle", "rf", "rfm_segment"):
        counts = Counter(frame[col])
        parts.append(f"{col}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return "\n".join(parts)


def _is_null(x) -> bool:
    return x is None or (not isinstance(x, str) and pd.isna(x))


def _as_date(x):
    if _is_null(x):
        return None
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, pd.Timestamp):
        return x.date()
    if isinstance(x, dt.date):
        return x
    return pd.Timestamp(x).date()


def _same(col: str, ours, theirs) -> bool:
    if col in LABELS:
        return (None if _is_null(ours) else str(ours)) == (None if _is_null(theirs) else str(theirs))
    if col in SCORES:
        if _is_null(ours) or _is_null(theirs):
            return _is_null(ours) and _is_null(theirs)
        return int(ours) == int(theirs) and float(theirs) == int(theirs)
    if col in ("orders", "purchase_days"):          # a customer without purchases: 0 or null
        o = 0 if _is_null(ours) else ours
        t = 0 if _is_null(theirs) else theirs
        return float(o) == float(t)
    if col == "days_since_last":
        return not _is_null(theirs) and float(ours) == float(theirs)
    if col in ("own_cycle_days", "store_cycle_days"):
        return not _is_null(theirs) and abs(float(ours) - float(theirs)) <= 1e-9
    if col in ("first_purchase", "last_purchase"):
        return _as_date(ours) == _as_date(theirs)
    if col == "spend":
        if _is_null(theirs):
            return False
        if isinstance(theirs, Decimal):
            return Decimal(ours) == theirs
        return abs(float(ours) - float(theirs)) <= 1e-6 * max(1.0, abs(float(ours)))
    raise AssertionError(col)


# Which columns to compare for customers with purchases and for those without.
BUYER_COLUMNS = ("lifecycle", "rf", "rfm_segment", "rfm", "r", "f", "m", "orders", "purchase_days",
                 "days_since_last", "own_cycle_days", "store_cycle_days", "first_purchase",
                 "last_purchase", "spend")
LEAD_COLUMNS = ("lifecycle", "rf", "rfm_segment", "rfm", "r", "f", "m", "orders", "purchase_days")


def _compare(ws: Workspace, as_of: dt.date) -> None:
    want = _oracle(ws, as_of)
    print(f"\noracle as of {as_of}: {len(want)} customers, store cycle "
          f"{want['store_cycle_days'].iloc[0]}\n{_distribution(want)}")

    got = ws.snapshot(as_of=as_of).to_pandas()
    missing_cols = [c for c in BUYER_COLUMNS + ("customer_id",) if c not in got.columns]
    assert not missing_cols, f"snapshot lacks columns {missing_cols}"
    got["customer_id"] = got["customer_id"].astype(str)
    assert not got["customer_id"].duplicated().any(), "snapshot repeats customers: " + \
        str(got.loc[got["customer_id"].duplicated(), "customer_id"].head(5).tolist())
    ours_ids, their_ids = set(want["customer_id"]), set(got["customer_id"])
    assert ours_ids == their_ids, (f"customer sets differ: {len(ours_ids - their_ids)} only in the oracle "
                                   f"(e.g. {sorted(ours_ids - their_ids)[:5]}), {len(their_ids - ours_ids)} "
                                   f"only in the snapshot (e.g. {sorted(their_ids - ours_ids)[:5]})")

    merged = want.merge(got, on="customer_id", suffixes=("", "_tenure"))
    problems: dict[str, list[str]] = {}
    for row in merged.itertuples(index=False):
        r = row._asdict()
        for col in (BUYER_COLUMNS if r["orders"] > 0 else LEAD_COLUMNS):
            if not _same(col, r[col], r[f"{col}_tenure"]):
                problems.setdefault(col, []).append(r["customer_id"])
    if not problems:
        return

    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        examples = sorted({cid for ids in problems.values() for cid in ids[:3]})
        days = purchase_days_of(con, as_of, examples)
    finally:
        con.close()
    lines = [f"snapshot disagrees with the oracle as of {as_of} "
             f"(store cycle: oracle {want['store_cycle_days'].iloc[0]}, "
             f"snapshot {sorted(set(got['store_cycle_days'].dropna()))[:3]}):"]
    for col, ids in sorted(problems.items()):
        lines.append(f"  {col}: {len(ids)} customers differ")
        for cid in ids[:3]:
            r = merged.loc[merged["customer_id"] == cid].iloc[0]
            lines.append(f"    {cid}: oracle {r[col]!r} vs tenure {r[col + '_tenure']!r}; "
                         f"k={r['orders']} n={r['purchase_days']} d={r['days_since_last']} "
                         f"c={r['own_cycle_days']} g={r['last_interval']} "
                         f"tenure(lifecycle={r['lifecycle_tenure']!r}, rf={r['rf_tenure']!r}, "
                         f"d={r['days_since_last_tenure']!r}, c={r['own_cycle_days_tenure']!r}); "
                         f"purchase days {days.get(cid, [])[-8:]}")
    pytest.fail("\n".join(lines))


realdata = pytest.mark.realdata


@realdata
@pytest.mark.parametrize("as_of", [ONLINE_RETAIL_2011, ONLINE_RETAIL_2010], ids=str)
def test_oracle_invariants_online_retail(retail_ws, as_of):
    """The oracle alone on the real data (its SQL invariants run inside compute)."""
    want = _oracle(retail_ws, as_of)
    print(f"\noracle as of {as_of}: {len(want)} customers\n{_distribution(want)}")
    assert (want["orders"] > 0).sum() > 4000
    assert want.loc[want["orders"] > 0, "last_purchase"].max() <= pd.Timestamp(as_of)


@realdata
def test_oracle_invariants_cdnow(cdnow_ws):
    want = _oracle(cdnow_ws, CDNOW_AS_OF)
    print(f"\noracle as of {CDNOW_AS_OF}: {len(want)} customers\n{_distribution(want)}")
    assert len(want) == 23_570
    # Every CDNOW customer bought something; the leads are those whose every purchase was $0.
    con = duckdb.connect(str(cdnow_ws.warehouse_path), read_only=True)
    zero_only = {cid for (cid,) in con.execute(
        "SELECT customer_id FROM orders GROUP BY customer_id HAVING max(amount) <= 0").fetchall()}
    con.close()
    assert set(want.loc[want["orders"] == 0, "customer_id"]) == zero_only


@realdata
@pytest.mark.parametrize("as_of", [ONLINE_RETAIL_2011, ONLINE_RETAIL_2010], ids=str)
def test_snapshot_matches_oracle_online_retail(retail_ws, as_of):
    _compare(retail_ws, as_of)


@realdata
def test_snapshot_matches_oracle_cdnow(cdnow_ws):
    _compare(cdnow_ws, CDNOW_AS_OF)
