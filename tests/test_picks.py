"""Personal picks: hand-computed baskets, and an independent pandas computation of the definition
on a generated shop, both run on DuckDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import pandas as pd
import pytest

from tenure.campaigns.picks import cooccurrence, personal_picks
from tenure.synth import generate

AS_OF = dt.date(2025, 3, 31)

# order: (customer, day, status, amount, [(sku, name), ...])
BASKETS = {
    "o1": ("c1", "2025-03-01", "completed", 10, [("A", "Apple"), ("B", "Bean")]),
    "o2": ("c1", "2025-03-05", "completed", 10, [("C", "Cocoa")]),
    "o3": ("c2", "2025-03-02", "completed", 10, [("A", "Apple"), ("B", "Bean v2")]),
    "o4": ("c3", "2025-03-02", "completed", 10, [("A", "Acorn"), ("C", "Cocoa"), ("D", "Date")]),
    "o5": ("c4", "2025-03-03", "completed", 10, [("B", "Bean"), ("D", "Damson")]),
    "o6": ("c5", "2025-03-03", "cancelled", 10, [("A", "Apple"), ("E", "Elder"), ("C", "Aardvark")]),
    "o7": ("c6", "2025-04-01", "completed", 10, [("A", "Apple"), ("E", "Elder"), ("C", "Aardvark")]),  # after
    "o8": ("c7", "2025-03-04", "completed", 0, [("A", "Apple"), ("C", "Aardvark")]),  # nothing paid
    "o9": ("c4", "2025-03-31", "returned", 10, [("A", "Apple")]),
}
# Customers who bought both: A-B {c1, c2}, A-C {c1, c3}, A-D {c3}, B-C {c1}, B-D {c4}, C-D {c3}.
TOGETHER = {("A", "B"): 2, ("A", "C"): 2, ("A", "D"): 1, ("B", "C"): 1, ("B", "D"): 1, ("C", "D"): 1}


@pytest.fixture(scope="module")
def con():
    return ibis.duckdb.connect()


@pytest.fixture(scope="module")
def baskets(con):
    orders, items = [], []
    for order_id, (customer, day, status, amount, lines) in BASKETS.items():
        orders.append(dict(order_id=order_id, customer_id=customer, status=status, amount=amount,
                           ordered_at=pd.Timestamp(day) + pd.Timedelta(hours=12)))
        items += [dict(order_id=order_id, line=i + 1, sku=sku, name=name, quantity=1, unit_price=5.0)
                  for i, (sku, name) in enumerate(lines)]
    items.append(dict(order_id="o1", line=3, sku="A", name="Apple", quantity=-1, unit_price=5.0))
    items.append(dict(order_id="o1", line=4, sku=None, name="Shipping", quantity=1, unit_price=5.0))
    return ibis.memtable(pd.DataFrame(items)), ibis.memtable(pd.DataFrame(orders))


def rows(con, expr) -> list[tuple]:
    return [tuple(r) for r in con.to_pandas(expr).itertuples(index=False)]


def test_cooccurrence_by_hand(con, baskets):
    got = rows(con, cooccurrence(*baskets, as_of=AS_OF).order_by(["sku", "other_sku"]))
    expected = sorted([(a, b, k) for (a, b), k in TOGETHER.items()]
                      + [(b, a, k) for (a, b), k in TOGETHER.items()])
    assert got == expected
    # top_k=1: A's partners B and C tie at 2 (B, the smaller, stays); D's three tie at 1 (A).
    got = rows(con, cooccurrence(*baskets, as_of=AS_OF, top_k=1).order_by("sku"))
    assert got == [("A", "B", 2), ("B", "A", 2), ("C", "A", 2), ("D", "A", 1)]
    # The day before c1's second order, C and A went together for c3 only.
    got = rows(con, cooccurrence(*baskets, as_of=dt.date(2025, 3, 4)).filter(ibis._.sku == "A")
               .order_by("other_sku"))
    assert got == [("A", "B", 2), ("A", "C", 1), ("A", "D", 1)]


def test_personal_picks_by_hand(con, baskets):
    got = rows(con, personal_picks(*baskets, as_of=AS_OF))
    # c1 {A,B,C}: D = 1+1+1. c2 {A,B}: C = 2+1, D = 1+1. c3 {A,C,D}: B = 2+1+1.
    # c4 {B,D}: A = 2+1, C = 1+1. Names, from bought lines only: "Apple" 2 beats "Acorn" 1;
    # "Cocoa" 2 beats "Aardvark" (3 lines, none bought); "Damson" ties "Date" 1-1: the smaller.
    assert got == [("c1", 1, "D", "Damson", 3),
                   ("c2", 1, "C", "Cocoa", 3), ("c2", 2, "D", "Damson", 2),
                   ("c3", 1, "B", "Bean", 4),
                   ("c4", 1, "A", "Apple", 3), ("c4", 2, "C", "Cocoa", 2)]
    assert rows(con, personal_picks(*baskets, as_of=AS_OF, n=1)) == [
        ("c1", 1, "D", "Damson", 3), ("c2", 1, "C", "Cocoa", 3), ("c3", 1, "B", "Bean", 4),
        ("c4", 1, "A", "Apple", 3)]
    # top_k=1 keeps A->B, B->A, C->A, D->A: c1 and c2 already have every partner.
    assert rows(con, personal_picks(*baskets, as_of=AS_OF, top_k=1)) == [
        ("c3", 1, "B", "Bean", 2), ("c4", 1, "A", "Apple", 3)]


def test_personal_picks_for_some_customers(con, baskets):
    # Scores still come from everyone's baskets; only the rows are restricted.
    who = ibis.memtable(pd.DataFrame({"customer_id": ["c2", "c4", "c9", "c2"]}))
    got = rows(con, personal_picks(*baskets, as_of=AS_OF, customers=who))
    assert got == [("c2", 1, "C", "Cocoa", 3), ("c2", 2, "D", "Damson", 2),
                   ("c4", 1, "A", "Apple", 3), ("c4", 2, "C", "Cocoa", 2)]


def test_arguments_checked(baskets):
    with pytest.raises(ValueError, match="top_k"):
        cooccurrence(*baskets, as_of=AS_OF, top_k=0)
    with pytest.raises(ValueError, match="n=0"):
        personal_picks(*baskets, as_of=AS_OF, n=0)


def pandas_picks(items: pd.DataFrame, orders: pd.DataFrame, as_of: dt.date, n: int, top_k: int,
                 customers=None, basket: int = 50) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The definition, in plain pandas: (co-occurrence, picks)."""
    end = pd.Timestamp(as_of + dt.timedelta(days=1))
    o = orders[(orders.ordered_at < end) & (orders.status == "completed") & (orders.amount > 0)
               & orders.customer_id.notna()]
    lines = items[items.sku.notna() & (items.quantity > 0)].merge(o[["order_id", "customer_id", "ordered_at"]])
    owned = lines[["customer_id", "sku"]].drop_duplicates()
    # Pairs come from each customer's `basket` most recently bought products (ties: sku).
    last = lines.groupby(["customer_id", "sku"]).ordered_at.max().rename("at").reset_index()
    last = last.sort_values(["customer_id", "at", "sku"], ascending=[True, False, True])
    recent = last.groupby("customer_id").head(basket)[["customer_id", "sku"]]
    pairs = recent.merge(recent.rename(columns={"sku": "other_sku"}), on="customer_id")
    pairs = pairs[pairs.sku != pairs.other_sku]
    co = pairs.groupby(["sku", "other_sku"]).size().rename("together").reset_index()
    co = co.sort_values(["sku", "together", "other_sku"], ascending=[True, False, True])
    co = co.groupby("sku").head(top_k)
    mine = owned if customers is None else owned[owned.customer_id.isin(customers)]
    cand = mine.merge(co, on="sku").groupby(["customer_id", "other_sku"])["together"].sum()
    cand = cand.rename("score").reset_index().rename(columns={"other_sku": "sku"})
    have = set(zip(owned.customer_id, owned.sku))
    cand = cand[[pair not in have for pair in zip(cand.customer_id, cand.sku)]]
    cand = cand.sort_values(["customer_id", "score", "sku"], ascending=[True, False, True])
    picks = cand.groupby("customer_id").head(n).copy()
    picks["rank"] = picks.groupby("customer_id").cumcount() + 1
    names = lines[lines.name.notna()].groupby(["sku", "name"]).size().rename("k").reset_index()
    names = names.sort_values(["sku", "k", "name"], ascending=[True, False, True])
    picks = picks.merge(names.drop_duplicates("sku")[["sku", "name"]], on="sku", how="left")
    picks = picks[["customer_id", "rank", "sku", "name", "score"]]
    return co.reset_index(drop=True), picks.sort_values(["customer_id", "rank"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    summary = generate(customers=4000, seed=17, out=tmp_path_factory.mktemp("shop"))
    con = ibis.duckdb.connect()
    tables = {name: con.read_parquet(Path(summary.files[name]), table_name=name)
              for name in ("order_items", "orders")}
    frames = {name: pd.read_parquet(summary.files[name]) for name in ("order_items", "orders")}
    return con, tables, frames


@pytest.mark.parametrize(("as_of", "n", "top_k", "basket"), [(dt.date(2025, 6, 30), 3, 20, 50),
                                                              (dt.date(2024, 3, 31), 5, 4, 50),
                                                              (dt.date(2025, 6, 30), 3, 20, 4)])
def test_against_pandas_on_a_generated_shop(shop, as_of, n, top_k, basket):
    con, t, f = shop
    co_expected, expected = pandas_picks(f["order_items"], f["orders"], as_of, n, top_k, basket=basket)
    co = con.to_pandas(cooccurrence(t["order_items"], t["orders"], as_of=as_of, top_k=top_k, basket=basket))
    co = co.sort_values(["sku", "together", "other_sku"], ascending=[True, False, True])
    pd.testing.assert_frame_equal(co.reset_index(drop=True), co_expected, check_dtype=False)
    got = con.to_pandas(personal_picks(t["order_items"], t["orders"], as_of=as_of, n=n, top_k=top_k,
                                       basket=basket))
    assert len(got) > 1000 and got["customer_id"].nunique() > 300
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    # Restricted to some customers: the same rows as the full run, for those customers.
    some = sorted(expected["customer_id"].unique())[::7]
    who = ibis.memtable(pd.DataFrame({"customer_id": some}))
    got = con.to_pandas(personal_picks(t["order_items"], t["orders"], as_of=as_of, n=n,
                                       top_k=top_k, customers=who, basket=basket))
    pd.testing.assert_frame_equal(got, expected[expected["customer_id"].isin(some)]
                                  .reset_index(drop=True), check_dtype=False)
