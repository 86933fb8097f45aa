"""Attribution and uplift: hand-made tables in, expected rows out; Newcombe's published
intervals; and the coverage of the uplift interval on simulated campaigns with a known effect."""

from __future__ import annotations

import datetime as dt
import math
import time

import numpy as np
import pandas as pd
import pytest

from tenure.campaigns.attribution import conversions, report
from tenure.campaigns.uplift import mean_difference_ci, rate_difference_ci, wilson_ci

D = dt.date(2025, 3, 1)
WINDOWS = {"two": 7, "one": 7}


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(f"2025-03-{text}")


def msg(campaign, customer, step, due_day, status, sent_at=None, entered=D):
    due = dt.date(2025, 3, due_day)
    key = f"{campaign}:{customer}:{entered}:{step}"
    return dict(key=key, campaign=campaign, customer_id=customer, entered_on=entered, step=step,
                due_on=due, status=status, sent_at=None if sent_at is None else ts(sent_at))


def order(customer, order_id, at, status="completed", amount=10.0):
    return dict(customer_id=customer, order_id=order_id, ordered_at=ts(at), status=status,
                amount=amount)


def frames(msgs: list[dict], orders: list[dict], holdout=()) -> tuple:
    messages = pd.DataFrame(msgs)
    messages["sent_at"] = pd.to_datetime(messages["sent_at"])
    enroll = messages[["campaign", "customer_id", "entered_on"]].drop_duplicates()
    enroll = enroll.assign(grp=np.where(enroll["customer_id"].isin(holdout), "holdout", "treatment"))
    return enroll.reset_index(drop=True), messages, pd.DataFrame(orders)


def by_customer(result: pd.DataFrame) -> dict:
    return {r.customer_id: r for r in result.itertuples()}


# Campaign "two": step 0 on entry (1 March), step 1 six days later; window 7 days.
# Campaign "one": a single step on entry; window 7 days.
MSGS = [
    msg("two", "first", 0, 1, "sent", "01 10:00"), msg("two", "first", 1, 7, "sent", "07 10:00"),
    msg("two", "latest", 0, 1, "sent", "01 10:00"), msg("two", "latest", 1, 7, "sent", "07 10:00"),
    msg("one", "lastday", 0, 1, "sent", "01 10:00"),
    msg("one", "daylater", 0, 1, "sent", "01 10:00"),
    msg("one", "cancelled", 0, 1, "sent", "01 10:00"),
    msg("one", "before", 0, 1, "sent", "01 10:00"),
    msg("one", "hold", 0, 1, "held_out"),
    msg("one", "holdlate", 0, 1, "held_out"),
    msg("two", "capped", 0, 1, "capped"), msg("two", "capped", 1, 7, "capped"),
    msg("two", "nobuy", 0, 1, "sent", "01 10:00"), msg("two", "nobuy", 1, 7, "suppressed"),
    msg("one", "free", 0, 1, "sent", "01 10:00"),
]
ORDERS = [
    order("first", "f1", "03 12:00", amount=25.5), order("first", "f2", "04 12:00", amount=99),
    order("latest", "l1", "07 12:00", amount=40),      # in both windows: step 1 is the latest anchor
    order("lastday", "d1", "08 09:59"),                # day 7 after sending, before the hour: counts
    order("daylater", "d2", "09 09:59"),               # a day later: outside
    order("cancelled", "c1", "02 12:00", status="cancelled"),
    order("cancelled", "c2", "03 12:00", status="returned"),
    order("cancelled", "c3", "05 12:00", amount=12),   # the first *completed* order converts
    order("before", "b1", "01 09:00"), order("before", "b2", "01 10:00"),  # before / at the anchor
    order("hold", "h1", "01 05:00", amount=30),        # holdout: anchored at the start of due_on
    order("holdlate", "h2", "08 00:00:01"),            # just after its window of 7 x 24 h
    order("capped", "k1", "02 08:00", amount=15),      # never messaged, still the treatment's
    order("free", "z1", "02 08:00", amount=0),         # a zero-value order is no purchase
    order(None, "g1", "02 08:00"),                     # a guest order belongs to nobody
]


def test_conversion_rules():
    enroll, messages, orders = frames(MSGS, ORDERS, holdout={"hold", "holdlate"})
    out = conversions(enroll, messages, orders, WINDOWS)
    assert len(out) == len(enroll)
    assert list(out.columns) == ["campaign", "customer_id", "entered_on", "grp", "converted",
                                 "order_id", "converted_at", "revenue", "step"]
    row = by_customer(out)
    expected = {  # customer: (order, step, revenue)
        "first": ("f1", 0, 25.5), "latest": ("l1", 1, 40.0), "lastday": ("d1", 0, 10.0),
        "cancelled": ("c3", 0, 12.0), "hold": ("h1", 0, 30.0), "capped": ("k1", 0, 15.0)}
    for customer, (order_id, step, revenue) in expected.items():
        r = row[customer]
        assert (r.converted, r.order_id, r.step, r.revenue) == (True, order_id, step, revenue), customer
    for customer in ("daylater", "before", "holdlate", "nobuy", "free"):
        r = row[customer]
        assert not r.converted and pd.isna(r.order_id) and pd.isna(r.step) and r.revenue == 0.0
    assert row["first"].converted_at == ts("03 12:00")
    # Intention to treat: the all-capped enrollment is in the treatment group and converted.
    assert row["capped"].grp == "treatment"


def test_window_edges_and_zero_window():
    msgs = [msg("one", "x", 0, 1, "sent", "01 10:00"), msg("one", "y", 0, 1, "sent", "01 10:00")]
    orders = [order("x", "x1", "08 10:00"), order("y", "y1", "08 10:00:01")]
    out = by_customer(conversions(*frames(msgs, orders), {"one": 7}))
    assert out["x"].converted and not out["y"].converted  # anchor + 7 days exactly is inside
    out = by_customer(conversions(*frames(msgs, orders), {"one": 0}))
    assert not out["x"].converted


def test_each_enrollment_on_its_own():
    # One order, two campaigns' enrollments and a re-entry: each enrollment is judged alone.
    msgs = [msg("one", "x", 0, 1, "sent", "01 10:00"), msg("two", "x", 0, 2, "sent", "02 10:00"),
            msg("two", "x", 0, 4, "sent", "04 10:00", entered=dt.date(2025, 3, 4)),
            msg("one", "x", 0, 20, "sent", "20 10:00", entered=dt.date(2025, 3, 20))]
    out = conversions(*frames(msgs, [order("x", "x1", "03 10:00")]), WINDOWS)
    out = out.sort_values(["campaign", "entered_on"])
    assert out["converted"].tolist() == [True, False, True, False]
    assert out["order_id"].tolist()[::2] == ["x1", "x1"]


def test_simultaneous_orders_resolve_by_id():
    # Two orders of one customer at the same instant: the smaller id, whatever the input order.
    msgs = [msg("one", "x", 0, 1, "sent", "01 10:00"), msg("one", "y", 0, 1, "sent", "01 10:00")]
    orders = [order("x", "b", "02 10:00", amount=2), order("y", "c", "02 10:00", amount=3),
              order("x", "a", "02 10:00", amount=1), order("x", "0", "01 09:00")]
    for rows in (orders, orders[::-1]):
        out = by_customer(conversions(*frames(msgs, rows), WINDOWS))
        assert (out["x"].order_id, out["x"].revenue) == ("a", 1.0)
        assert (out["y"].order_id, out["y"].revenue) == ("c", 3.0)


def plain_loop(enroll, messages, orders, windows) -> dict:
    """The definition, one enrollment at a time: {(campaign, customer, entered): (order, step)}."""
    buys = orders[(orders["status"] == "completed") & (orders["amount"] > 0)]
    buys = buys.sort_values(["ordered_at", "order_id"])
    result = {}
    for e in enroll.itertuples():
        mine = messages[(messages["campaign"] == e.campaign) & (messages["customer_id"] == e.customer_id)
                        & (messages["entered_on"] == e.entered_on)]
        anchors = [(r.sent_at if r.status == "sent" else pd.Timestamp(r.due_on), r.step)
                   for r in mine.itertuples()]
        w = pd.Timedelta(days=windows[e.campaign])
        result[(e.campaign, e.customer_id, e.entered_on)] = (None, None)
        for o in buys[buys["customer_id"] == e.customer_id].itertuples():
            if any(a < o.ordered_at <= a + w for a, _ in anchors):
                step = max((a, s) for a, s in anchors if a < o.ordered_at)[1]
                result[(e.campaign, e.customer_id, e.entered_on)] = (o.order_id, step)
                break
    return result


def test_against_a_plain_loop():
    # Times on whole hours, so that orders fall exactly on anchors and window ends, and tie.
    rng = np.random.default_rng(11)
    windows = {"a": 7, "b": 2, "c": 0}
    statuses = ["sent", "sent", "sent", "held_out", "capped", "suppressed", "failed", "pending"]
    msgs, seen = [], set()
    for _ in range(400):
        campaign, customer = rng.choice(list(windows)), f"u{rng.integers(60)}"
        entered = D + dt.timedelta(days=int(rng.integers(30)))
        if (campaign, customer, entered) in seen:
            continue
        seen.add((campaign, customer, entered))
        for step, offset in enumerate(sorted(rng.choice(8, size=rng.integers(1, 4), replace=False))):
            due = entered + dt.timedelta(days=int(offset))
            status = str(rng.choice(statuses))
            sent = pd.Timestamp(due) + pd.Timedelta(hours=int(rng.integers(0, 30)))
            msgs.append(dict(key=f"{campaign}{customer}{entered}{step}", campaign=campaign,
                             customer_id=customer, entered_on=entered, step=step, due_on=due,
                             status=status, sent_at=sent if status == "sent" else None))
    orders = [dict(customer_id=f"u{rng.integers(60)}", order_id=f"o{i:04d}",
                   ordered_at=pd.Timestamp(D) + pd.Timedelta(hours=int(rng.integers(40 * 24))),
                   status=str(rng.choice(["completed", "completed", "cancelled", "returned"])),
                   amount=float(rng.choice([0.0, 5.0, 20.0, -3.0]))) for i in range(1500)]
    enroll, messages, orders = frames(msgs, orders)
    out = conversions(enroll.sample(frac=1, random_state=1), messages, orders.sample(frac=1), windows)
    got = {(r.campaign, r.customer_id, r.entered_on):
           (None if pd.isna(r.order_id) else r.order_id, None if pd.isna(r.step) else int(r.step))
           for r in out.itertuples()}
    expected = plain_loop(enroll, messages, orders, windows)
    assert got == expected
    assert 50 < sum(v[0] is not None for v in got.values()) < len(got) - 50


def test_missing_window_and_empty_inputs():
    enroll, messages, orders = frames(MSGS, ORDERS)
    with pytest.raises(ValueError, match="two"):
        conversions(enroll, messages, orders, {"one": 7})
    out = conversions(enroll, messages, orders.iloc[:0], WINDOWS)
    assert not out["converted"].any() and len(out) == len(enroll)


def test_report():
    enroll, messages, orders = frames(MSGS, ORDERS, holdout={"hold", "holdlate"})
    conv = conversions(enroll, messages, orders, WINDOWS)
    k = "two:first:2025-03-01:"
    events = pd.DataFrame([
        dict(key=k + "0", type="open", occurred_at=ts("01 11:00")),
        dict(key=k + "0", type="open", occurred_at=ts("01 12:00")),   # one message, opened twice
        dict(key=k + "0", type="click", occurred_at=ts("01 12:00")),
        dict(key=k + "1", type="open", occurred_at=ts("07 11:00")),
        dict(key="two:latest:2025-03-01:1", type="bounce", occurred_at=ts("07 11:00"))])
    rep = report(enroll, messages, events, conv).set_index(["campaign", "step"])
    assert list(rep.index) == [("one", "0"), ("one", "all"), ("two", "0"), ("two", "1"), ("two", "all")]
    two = rep.loc["two"]
    cols = ["enrolled", "sent", "capped", "failed", "suppressed", "opened", "clicked", "converted"]
    assert two.loc["0", cols].tolist() == [4, 3, 1, 0, 0, 1, 1, 2]
    assert two.loc["1", cols].tolist() == [4, 2, 1, 0, 1, 1, 0, 1]
    assert two.loc["all", cols].tolist() == [4, 5, 2, 0, 1, 2, 1, 3]
    assert two.loc["all", "revenue"] == 25.5 + 40 + 15
    assert math.isnan(two.loc["0", "uplift"])  # the effect is a campaign's, on its 'all' row
    one = rep.loc[("one", "all")]
    # Campaign "one": 5 treatment enrollments (2 converted: lastday, cancelled), 2 holdout (1).
    assert (one["treatment_n"], one["holdout_n"], one["converted"]) == (5, 2, 2)
    assert (one["treatment_rate"], one["holdout_rate"]) == (0.4, 0.5)
    assert (one["uplift"], one["uplift_low"], one["uplift_high"]) == pytest.approx(
        rate_difference_ci(2, 5, 1, 2))
    t, h = np.array([10.0, 0, 12, 0, 0]), np.array([30.0, 0])
    diff, low, high = mean_difference_ci(t.mean(), t.std(ddof=1), 5, h.mean(), h.std(ddof=1), 2)
    assert one["incremental_revenue"] == pytest.approx(diff * 5) == pytest.approx((22 / 5 - 15) * 5)
    assert (one["incremental_revenue_low"], one["incremental_revenue_high"]) == pytest.approx(
        (low * 5, high * 5))
    # Campaign "two" has no holdout: no effect to estimate, said with NaN rather than a number.
    assert rep.loc[("two", "all"), "holdout_n"] == 0 and math.isnan(rep.loc[("two", "all"), "uplift"])


# Newcombe (1998), Table II, method 10 (score interval from Wilson's intervals), to 4 places.
NEWCOMBE = [
    ((56, 70, 48, 80), (0.2000, 0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.6000, 0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.5714, 0.0582, 0.8062)),
    ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),
    ((0, 10, 0, 20), (0.0000, -0.1611, 0.2775)),
    ((0, 10, 0, 10), (0.0000, -0.2775, 0.2775)),
    ((10, 10, 0, 20), (1.0000, 0.6791, 1.0000)),
    ((10, 10, 0, 10), (1.0000, 0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE)
def test_rate_difference_ci_published(counts, published):
    assert rate_difference_ci(*counts) == pytest.approx(published, abs=5e-5)


def test_rate_difference_ci_edges():
    assert all(math.isnan(v) for v in rate_difference_ci(0, 0, 1, 10))
    assert all(math.isnan(v) for v in rate_difference_ci(3, 10, 0, 0))
    d, lo, hi = rate_difference_ci(0, 1000, 0, 1000)
    assert d == 0 and -0.004 < lo < 0 < hi < 0.004
    d, lo, hi = rate_difference_ci(1000, 1000, 0, 1000)
    assert d == 1 and hi == 1 and 0.99 < lo < 1
    with pytest.raises(ValueError):
        rate_difference_ci(11, 10, 1, 10)
    # Arrays in, arrays out; a wider level gives a wider interval.
    d, lo, hi = rate_difference_ci(np.array([56, 9]), np.array([70, 10]), [48, 3], [80, 10])
    assert d.shape == (2,) and lo[0] == pytest.approx(0.0524, abs=5e-5)
    assert rate_difference_ci(56, 70, 48, 80, level=0.99)[1] < 0.0524
    assert wilson_ci(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-5)  # Newcombe Table I


def test_mean_difference_ci():
    d, lo, hi = mean_difference_ci(12.0, 3.0, 100, 10.0, 4.0, 50)
    se = math.sqrt(9 / 100 + 16 / 50)
    assert (d, lo, hi) == pytest.approx((2.0, 2 - 1.959964 * se, 2 + 1.959964 * se))
    assert math.isnan(mean_difference_ci(1.0, 0.0, 0, 1.0, 1.0, 10)[0])
    assert math.isnan(mean_difference_ci(1.0, float("nan"), 1, 1.0, 1.0, 10)[1])


ORDER_STATUS = ["completed", "cancelled"]


def simulate(rng: np.random.Generator, campaigns: int, customers: int, *, base: float,
             uplift: float, holdout: float, mean_amount: float) -> tuple:
    """Campaigns of two steps (0, +6), window 7, each with its own customers. Every converter
    gets one completed order inside step 0's window; everyone may also have orders before the
    entry, long after the windows, and cancelled ones inside them, none of which may count.
    5% of the treatment is capped on every step (still the treatment, by intention to treat)."""
    n = campaigns * customers
    camp = np.repeat(np.arange(campaigns), customers)
    cid = np.arange(n, dtype=np.int64)
    entered = (np.datetime64("2025-01-01") + (camp % 60)).astype("datetime64[ns]")
    treat = rng.random(n) >= holdout
    # Categoricals: building millions of strings would take longer than attributing them.
    grp = pd.Categorical.from_codes(treat.astype(int), ["holdout", "treatment"])
    names = pd.Categorical.from_codes(camp, [f"c{c:03d}" for c in range(campaigns)])
    enroll = pd.DataFrame({"campaign": names, "customer_id": cid, "entered_on": entered, "grp": grp})
    capped = treat & (rng.random(n) < 0.05)
    code = np.where(~treat, 0, np.where(capped, 1, 2))
    status = pd.Categorical.from_codes(code, ["held_out", "capped", "sent"])
    hour = np.timedelta64(1, "h")
    sent0 = entered + rng.integers(8, 18, n) * hour
    sent1 = sent0 + np.timedelta64(6, "D")
    rows = []
    for step, sent in ((0, sent0), (1, sent1)):
        due = entered + np.timedelta64(6 * step, "D")
        rows.append(pd.DataFrame({
            "key": cid * 2 + step, "campaign": names, "customer_id": cid, "entered_on": entered,
            "step": step, "due_on": due, "status": status,
            "sent_at": np.where(code == 2, sent, np.datetime64("NaT"))}))
    messages = pd.concat(rows, ignore_index=True)
    anchor = np.where(code == 2, sent0, entered)
    converts = rng.random(n) < base + uplift * treat
    sec = np.timedelta64(1, "s")
    parts = [  # (who, when, status code in ORDER_STATUS)
        (converts, anchor + rng.integers(1, 7 * 86400, n) * sec, 0),
        (rng.random(n) < 0.3, entered - rng.integers(86400, 60 * 86400, n) * sec, 0),
        (rng.random(n) < 0.3, entered + rng.integers(20 * 86400, 60 * 86400, n) * sec, 0),
        (rng.random(n) < 0.05, anchor + rng.integers(1, 13 * 86400, n) * sec, 1),
    ]
    sigma = 0.8
    mu = math.log(mean_amount) - sigma ** 2 / 2
    orders = pd.concat([pd.DataFrame({
        "customer_id": cid[who], "ordered_at": when[who],
        "status": pd.Categorical.from_codes(np.full(who.sum(), st), ORDER_STATUS),
        "amount": rng.lognormal(mu, sigma, who.sum())}) for who, when, st in parts], ignore_index=True)
    orders["order_id"] = np.arange(len(orders))
    return enroll, messages, orders


def test_uplift_interval_coverage():
    """200 campaigns of 20,000 customers, 10% holdout, 5% base rate, +1.5 points true uplift."""
    rng = np.random.default_rng(20250301)
    true_uplift, mean_amount = 0.015, 50.0
    enroll, messages, orders = simulate(rng, 200, 20_000, base=0.05, uplift=true_uplift,
                                        holdout=0.10, mean_amount=mean_amount)
    events = pd.DataFrame({"key": pd.Series(dtype="int64"), "type": pd.Series(dtype=str),
                           "occurred_at": pd.Series(dtype="datetime64[ns]")})
    windows = dict.fromkeys(enroll["campaign"].unique(), 7)
    started = time.perf_counter()
    conv = conversions(enroll, messages, orders, windows)
    took = time.perf_counter() - started
    rep = report(enroll, messages, events, conv)
    effect = rep[rep["step"] == "all"]
    assert len(effect) == 200 and (effect["enrolled"] == 20_000).all()
    covered = ((effect["uplift_low"] <= true_uplift) & (true_uplift <= effect["uplift_high"])).mean()
    true_rev = true_uplift * mean_amount * effect["treatment_n"]
    rev_covered = ((effect["incremental_revenue_low"] <= true_rev)
                   & (true_rev <= effect["incremental_revenue_high"])).mean()
    print(f"coverage: uplift {covered:.3f}, revenue {rev_covered:.3f}; "
          f"mean uplift {effect['uplift'].mean():.5f}; conversions() on {len(enroll):,} "
          f"enrollments in {took:.1f} s")
    assert covered >= 0.90, f"the 95% uplift interval covered the true effect in {covered:.1%}"
    assert rev_covered >= 0.90, f"the 95% revenue interval covered it in {rev_covered:.1%}"
    assert effect["uplift"].mean() == pytest.approx(true_uplift, abs=0.001)
