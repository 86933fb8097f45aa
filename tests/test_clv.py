"""Predictions against outside oracles: the published CDNOW parameters (from the published summary
and from the raw transactions through Tenure's own summary), parameter recovery on simulated
data, invariants under Hypothesis, and the explicit failures."""

from __future__ import annotations

import datetime as dt
import json
import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenure import Workspace
from tenure.cli import main
from tenure.clv import BetaGeo, GammaGamma, ModelError, scoring
from tenure.clv.simulate import simulate_spend, simulate_summary
from tenure.clv.summary import customer_summary
from tenure.errors import TenureError
from tenure.warehouse.backends import analytics_tables
from tests.conftest import NOW, online_retail_shop, write

CDNOW_END = dt.date(1997, 9, 30)


def _published_cdnow(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "cdnow" / "cdnow_customers_summary_with_transactions.csv")


def _check_cdnow_bgnbd(bg: BetaGeo) -> None:
    p = bg.params
    assert p["r"] == pytest.approx(0.243, abs=0.001)
    assert p["alpha"] == pytest.approx(4.414, abs=0.001)
    assert p["a"] == pytest.approx(0.793, abs=0.001)
    assert p["b"] == pytest.approx(2.426, abs=0.001)
    assert bg.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert bg.customers == 2357
    assert float(bg.expected_purchases(39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=0.001)


@pytest.mark.realdata
def test_cdnow_published_summary_gives_the_published_parameters(shared_data):
    d = _published_cdnow(shared_data)
    _check_cdnow_bgnbd(BetaGeo(unit="weeks").fit(d.x, d.t_x, d["T"]))


@pytest.fixture(scope="module")
def cdnow_ws(tmp_path_factory):
    from tests.conftest import shared_data_dir

    folder = shared_data_dir()
    if not folder.is_dir():
        pytest.skip("real data sets not found; set TENURE_SHARED_DATA")  # CI fails earlier via shared_data
    ws = Workspace.init(tmp_path_factory.mktemp("cdnow") / "shop", timezone="UTC", currency="USD")
    ws.ingest("orders", [folder / "cdnow" / "CDNOW_sample.txt"], preset="cdnow-sample", now=NOW)
    return ws


@pytest.mark.realdata
def test_cdnow_raw_transactions_through_tenure_summary(cdnow_ws, shared_data):
    summary = customer_summary(analytics_tables(cdnow_ws), as_of=CDNOW_END).to_pandas()
    # The summary itself equals the published one (weeks, two decimals) customer by customer.
    pub = _published_cdnow(shared_data).set_index("ID")
    mine = summary.assign(ID=summary.customer_id.astype(int)).set_index("ID").loc[pub.index]
    assert (mine.x.to_numpy() == pub.x.to_numpy()).all()
    assert np.allclose(mine.t_x / 7, pub.t_x, atol=0.006) and np.allclose(mine["T"] / 7, pub["T"], atol=0.006)
    rep = pub.x > 0
    assert np.allclose(mine.monetary[rep], pub.zbar[rep], atol=0.006)

    models = scoring.fit(summary, unit="weeks")
    _check_cdnow_bgnbd(models.bgnbd)
    gg = models.gamma_gamma
    assert gg.customers == 946
    assert gg.params["p"] == pytest.approx(6.25, abs=0.02)
    assert gg.params["q"] == pytest.approx(3.74, abs=0.02)
    assert gg.params["gamma"] == pytest.approx(15.44, abs=0.02)
    # Days give the same model: alpha scales by 7, the rest is unchanged.
    days = scoring.fit(summary, unit="days").bgnbd
    assert days.params["alpha"] == pytest.approx(7 * models.bgnbd.params["alpha"], rel=1e-4)
    assert days.params["r"] == pytest.approx(models.bgnbd.params["r"], rel=1e-4)


@pytest.mark.realdata
def test_clv_fit_json_for_scripts(cdnow_ws, capsys, tmp_path):
    code = main(["clv", "fit", "--as-of", "1997-09-30", "--json", "--save", str(tmp_path / "m.json"),
                 "-w", str(cdnow_ws.root)])
    body = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(body) == {"bgnbd", "gamma_gamma"}
    assert set(body["bgnbd"]) == {"r", "alpha", "a", "b", "log_likelihood", "customers", "std_errors"}
    assert set(body["gamma_gamma"]) == {"p", "q", "gamma", "log_likelihood", "customers", "std_errors"}
    assert body["bgnbd"]["r"] == pytest.approx(0.243, abs=0.001) and body["gamma_gamma"]["customers"] == 946
    assert set(body["bgnbd"]["std_errors"]) == {"r", "alpha", "a", "b"}
    assert json.loads((tmp_path / "m.json").read_text())["unit"] == "weeks"


def test_parameter_recovery_within_two_standard_errors():
    truth = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
    T = np.random.default_rng(11).uniform(10, 60, 100_000)
    s = simulate_summary(100_000, **truth, T=T, seed=12)
    bg = BetaGeo(unit="weeks").fit(s.x, s.t_x, s["T"])
    for name, value in truth.items():
        assert abs(bg.params[name] - value) < 2 * bg.std_errors[name], (name, bg.params, bg.std_errors)
    spend_truth = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    m = simulate_spend(s.x.to_numpy(), **spend_truth, seed=13)
    gg = GammaGamma().fit(s.x, m)
    for name, value in spend_truth.items():
        assert abs(gg.params[name] - value) < 2 * gg.std_errors[name], (name, gg.params, gg.std_errors)


def _cdnow_like() -> BetaGeo:
    bg = BetaGeo(unit="weeks")
    bg._set([0.243, 4.414, 0.793, 2.426], [0.01] * 4, -9582.4, 2357)
    return bg


customers = st.tuples(st.integers(0, 60), st.floats(0, 1), st.floats(0, 150)).map(
    lambda v: (v[0], 0.0 if v[0] == 0 else v[1] * v[2], v[2]))


@settings(max_examples=300, deadline=None)
@given(customers, st.floats(0.1, 200), st.floats(0.1, 200))
def test_predictions_are_probabilities_and_grow_with_the_horizon(c, h1, h2):
    bg = _cdnow_like()
    x, t_x, T = c
    lo, hi = sorted((h1, h2))
    pa = float(bg.p_alive(x, t_x, T))
    p_lo, p_hi = float(bg.probability_of_purchase(lo, x, t_x, T)), float(bg.probability_of_purchase(hi, x, t_x, T))
    e_lo, e_hi = float(bg.expected_purchases(lo, x, t_x, T)), float(bg.expected_purchases(hi, x, t_x, T))
    assert 0 <= pa <= 1 and 0 <= p_lo <= p_hi <= pa + 1e-12
    assert 0 <= e_lo <= e_hi + 1e-9
    if x == 0:
        assert pa == 1.0  # the model's known property (docs/clv.md)


def test_a_customer_just_acquired_follows_the_unconditional_curve():
    # Eq. 10 at x = t_x = T = 0 is eq. 9: nothing is known about a customer yet but the population.
    bg = _cdnow_like()
    t = np.array([1.0, 10.0, 39.0, 78.0])
    assert np.allclose(bg.expected_purchases(t, 0, 0.0, 0.0), bg.expected_purchases_new_customer(t), rtol=1e-12)


def test_clv_falls_with_the_discount_rate():
    bg = _cdnow_like()
    gg = GammaGamma()
    gg._set([6.25, 3.74, 15.44], [1, 1, 1], -4055.9, 946)
    summary = pd.DataFrame({"customer_id": ["a", "b", "c"], "x": [0, 2, 10], "t_x": [0.0, 213.0, 250.0],
                            "T": [100.0, 272.0, 260.0], "monetary": [np.nan, 22.35, 40.0]})
    values = [scoring.score(summary, scoring.Models(bg, gg), as_of=CDNOW_END, discount_rate=d).clv_365d.to_numpy()
              for d in (0.0, 0.1, 0.3)]
    assert (values[0] > values[1]).all() and (values[1] > values[2]).all() and (values[2] > 0).all()


def test_spend_is_pulled_toward_the_population_mean():
    gg = GammaGamma()
    gg._set([6.25, 3.74, 15.44], [1, 1, 1], 0, 946)
    mean = gg.population_mean_spend
    assert float(gg.expected_spend(0, np.nan)) == pytest.approx(mean)
    few, many = gg.expected_spend([1, 50], [200.0, 200.0])
    assert mean < few < many < 200


def test_refused_fits_say_what_is_wrong():
    with pytest.raises(ModelError, match="only 1 customer"):
        BetaGeo().fit([3], [10.0], [20.0])
    with pytest.raises(ModelError, match="all purchases fall on one day"):
        BetaGeo().fit([0, 0, 0], [0.0, 0.0, 0.0], [5.0, 5.0, 5.0])
    with pytest.raises(ModelError, match="no customer has bought on two different days"):
        BetaGeo().fit([0, 0, 0], [0.0, 0.0, 0.0], [5.0, 8.0, 9.0])
    # Everyone bought again on the last day: nothing says anyone dropped out; a runs to 0.
    rng = np.random.default_rng(0)
    T = rng.uniform(10, 50, 500)
    with pytest.raises(ModelError, match="cannot pin down"):
        BetaGeo().fit(rng.integers(1, 5, 500), T, T)
    with pytest.raises(ModelError, match="same mean amount"):
        GammaGamma().fit([1, 2, 3], [10.0, 10.0, 10.0])
    with pytest.raises(TenureError, match="not fitted"):
        BetaGeo().p_alive(1, 1, 2)


def test_save_load_and_show(tmp_path):
    bg = _cdnow_like()
    again = BetaGeo.load(bg.save(tmp_path / "bg.json"))
    assert again.params == bg.params and again.std_errors == bg.std_errors and again.unit == "weeks"
    assert "r=0.243" in repr(bg) and "log_likelihood=-9582.40" in repr(bg)
    assert "std error" in bg.summary() and "log-likelihood -9582.4" in bg.summary()
    with pytest.raises(TenureError, match="holds a 'BetaGeo' model"):
        GammaGamma.load(tmp_path / "bg.json")


def _orders_ws(ws, rows: str):
    write(ws.root / "o.csv", "order_id,customer_id,ordered_at,amount,status\n" + rows)
    ws.ingest("orders", [ws.root / "o.csv"], now=NOW)
    return ws


def test_summary_against_its_definition(ws):
    _orders_ws(ws, "1,a,2025-01-01 10:00,10,completed\n2,a,2025-01-01 18:00,5,completed\n"
                   "3,a,2025-01-11 09:00,30,completed\n4,a,2025-01-21 09:00,50,completed\n"
                   "5,a,2025-02-01 09:00,99,cancelled\n6,b,2025-01-15 09:00,0,completed\n"
                   "7,c,2025-03-01 09:00,20,completed\n")
    s = customer_summary(analytics_tables(ws), as_of=dt.date(2025, 1, 31)).to_pandas().set_index("customer_id")
    assert sorted(s.index) == ["a", "b"]                      # c bought after the as-of day
    assert s.loc["a"].tolist() == [2, 20.0, 30.0, 40.0]   # x, t_x, T, mean of the repeat days (30, 50)
    assert s.loc["b", "x"] == 0 and s.loc["b", "T"] == 16.0 and pd.isna(s.loc["b", "monetary"])
    paid = customer_summary(analytics_tables(ws), as_of=dt.date(2025, 1, 31), include_free=False).to_pandas()
    assert sorted(paid.customer_id) == ["a"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from tenure import generate

    root = tmp_path_factory.mktemp("gen")
    generate(customers=3000, seed=5, out=root / "in", fmt="parquet")
    ws = Workspace.init(root / "shop", timezone="UTC")
    for entity in ("customers", "orders"):
        ws.ingest(entity, [root / "in" / f"{entity}.parquet"], now=NOW)
    return ws


def test_run_adds_predictions_and_churn_risk(shop, capsys):
    day = dt.date(2025, 12, 31)
    assert main(["run", "--as-of", day.isoformat(), "-w", str(shop.root)]) == 0
    assert "churn_risk" in capsys.readouterr().out
    snap = shop.history.read(day).execute()
    cols = ["p_alive", "purchase_probability_90d", "expected_purchases_90d", "expected_spend", "clv_365d",
            "next_purchase_expected", "churn_risk"]
    assert set(cols) <= set(snap.columns)
    buyers = snap[snap.orders > 0]
    assert buyers[cols[:5]].notna().all().all()
    assert buyers.p_alive.between(0, 1).all() and buyers.purchase_probability_90d.between(0, 1).all()
    assert (buyers.purchase_probability_90d <= buyers.p_alive + 1e-12).all()
    p = snap.purchase_probability_90d
    want = np.select([p.isna(), p < 0.2, p >= 0.5], ["none", "high", "low"], "medium")
    assert (snap.churn_risk.to_numpy() == want).all()
    assert (pd.to_datetime(snap.next_purchase_expected.dropna()) > pd.Timestamp(day)).all()
    # The same numbers from the models fitted directly on Tenure's summary.
    summary = customer_summary(analytics_tables(shop), as_of=day).to_pandas()
    direct = scoring.score(summary, scoring.fit(summary, unit="weeks"), as_of=day)
    merged = snap.merge(direct, on="customer_id", suffixes=("", "_direct"))
    assert len(merged) == len(summary)
    assert np.allclose(merged.clv_365d, merged.clv_365d_direct)

    assert main(["segments", "--by", "churn_risk", "-w", str(shop.root)]) == 0
    out = capsys.readouterr().out
    assert "churn_risk on 2025-12-31" in out and "high" in out


def test_run_without_repeat_buyers_stores_the_snapshot_and_says_why(ws, capsys):
    _orders_ws(ws, "1,a,2025-01-01 10:00,10,completed\n2,b,2025-01-05 10:00,20,completed\n")
    assert main(["run", "--as-of", "2025-02-01", "-w", str(ws.root)]) == 0
    out = capsys.readouterr().out
    assert "no predictions on 2025-02-01" in out and "two different days" in out
    snap = ws.history.read(dt.date(2025, 2, 1)).execute()
    assert (snap.churn_risk == "unknown").all() and snap.clv_365d.isna().all()


def test_clv_fit_refuses_plainly(ws, capsys):
    _orders_ws(ws, "1,a,2025-01-01 10:00,10,completed\n")
    assert main(["clv", "fit", "--as-of", "2025-02-01", "-w", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "only 1 customer" in err and "Traceback" not in err


def test_evaluate_on_a_generated_shop_writes_the_chart(shop, capsys, tmp_path):
    code = main(["clv", "evaluate", "--calibration-end", "2025-06-30", "--holdout-days", "90", "--json",
                 "--out-dir", str(tmp_path), "-w", str(shop.root)])
    body = json.loads(capsys.readouterr().out)
    assert code == 0 and body["customers"] > 500
    assert {"mae", "rmse", "predicted_total", "actual_total"} <= set(body["BG/NBD"]) and "baseline" in body
    png = tmp_path / "clv-evaluate-2025-06-30-90d.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    html = (tmp_path / "clv-evaluate-2025-06-30-90d.html").read_text()
    assert "<script" in html and "MAE per customer" in html
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']?https?:""", html)  # opens offline


@pytest.mark.realdata
def test_online_retail_evaluation_beats_the_baseline(shared_data, tmp_path):
    from tenure.clv.evaluate import evaluate

    ws = online_retail_shop(tmp_path / "orii", shared_data)
    ev = evaluate(analytics_tables(ws), calibration_end=dt.date(2011, 6, 30), holdout_days=160)
    m = ev.metrics.set_index("method")
    assert m.loc["BG/NBD", "mae"] < m.loc["baseline", "mae"]
    assert abs(m.loc["BG/NBD", "total_error"]) < 0.15
    # The actual total is counted independently: purchase days of calibration customers in the holdout.
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    actual = con.execute("""
        WITH cal AS (SELECT DISTINCT customer_id FROM orders WHERE status = 'completed' AND amount >= 0
                     AND customer_id IS NOT NULL AND ordered_at < DATE '2011-07-01')
        SELECT count(*) FROM (SELECT DISTINCT customer_id, CAST(ordered_at AS DATE) FROM orders
                              WHERE status = 'completed' AND amount >= 0 AND customer_id IN (SELECT * FROM cal)
                              AND ordered_at >= DATE '2011-07-01' AND ordered_at < DATE '2011-07-01' + 160)""").fetchone()[0]
    assert m.loc["BG/NBD", "actual_total"] == actual
