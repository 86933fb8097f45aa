"""The report's key figures on a hand-made shop whose numbers follow from the definitions, its
readings, the plain sentences of an empty or too small workspace, and `tenure report`."""

from __future__ import annotations

import datetime as dt
import json
import re

import pandas as pd
import pytest

from tenure.cli import main
from tenure.report import build_report, write_report
from tenure.report import readings
from tenure.report.build import context, echarts_js
from tenure.report.figures import key_figures
from tenure.report.fmt import Numbers
from tenure.warehouse.backends import analytics_tables
from tests.conftest import NOW, write

D = dt.date(2025, 6, 30)
CUSTOMERS = ("customer_id,created_at\n"
             "a,2025-01-01 09:00:00\nb,2025-06-25 09:00:00\nc,2024-11-30 09:00:00\n"
             "d,2025-06-01 09:00:00\ne,2025-03-01 09:00:00\nf,2025-07-05 09:00:00\ng,2025-05-20 09:00:00\n")
ORDERS = ("order_id,customer_id,ordered_at,amount,status\n"
          "a1,a,2025-01-10 12:00:00,100,completed\n"
          "a2,a,2025-02-09 12:00:00,50,completed\n"     # interval 30
          "a3,a,2025-06-20 12:00:00,30,completed\n"     # interval 131
          "b1,b,2025-06-25 12:00:00,40,completed\n"
          "c1,c,2024-12-01 12:00:00,200,completed\n"
          "c2,c,2024-12-31 12:00:00,100,completed\n"    # interval 30
          "d1,d,2025-06-28 12:00:00,60,cancelled\n"     # no purchase: d stays a lead
          "f1,f,2025-07-05 12:00:00,80,completed\n"     # after D
          "g1,g,2025-05-20 12:00:00,25,completed\n"
          "x1,,2025-06-29 12:00:00,999,completed\n")    # a guest order: no customer, not counted


@pytest.fixture
def shop(ws, tmp_path):
    ws.ingest("customers", [write(tmp_path / "c.csv", CUSTOMERS)], now=NOW)
    ws.ingest("orders", [write(tmp_path / "o.csv", ORDERS)], now=NOW)
    return ws


def test_key_figures_follow_the_definitions(shop):
    k = key_figures(analytics_tables(shop), as_of=D, settings=shop.settings)
    # On D: a, b, c, d, e, g are known (f arrives later); a, b, c, g bought.
    # Intervals 30, 131 (a) and 30 (c): the store cycle is their median, 30 days.
    # a: 3 purchase days, own cycle median(30, 131) = 80.5, last gap 131 > 80.5, 10 days ago: reactivated.
    # b: one purchase 5 days ago: new. c: 181 days > 4 x 30: dormant. g: 41 days, one purchase: one-time.
    now = k.now
    assert (now.customers, now.buyers, now.repeaters, now.active) == (6, 4, 2, 2)
    assert now.active_share == 0.5 and now.repeat_rate == 0.5
    assert now.store_cycle_days == 30 and not k.cycle_fallback
    assert now.stages == {"reactivated": 1, "new": 1, "dormant": 1, "lead": 2, "one-time": 1}
    # 30 days earlier (31 May): a, c, e, g known; a and c bought twice, g is new (11 days).
    before = k.before
    assert (before.as_of, before.customers, before.buyers, before.repeaters, before.active) == (
        dt.date(2025, 5, 31), 4, 3, 2, 1)
    # Revenue: 1-30 Jun = a3 + b1; 2-31 May = g1; the year = every completed order of a customer by D.
    assert k.revenue == {30: (70.0, 25.0), 365: (545.0, 0.0)}
    assert k.first_order == dt.date(2024, 12, 1) and k.last_order == dt.date(2025, 6, 25)


def test_headline_and_stage_table_are_formatted_in_the_workspace_locale(shop):
    ctx = context(shop, as_of=D)
    tiles = {t["label"]: t for t in ctx["tiles"]}
    assert tiles["Customers"]["value"] == "6" and tiles["Customers"]["change"] == "▲ +50% vs 30 days earlier"
    assert tiles["Active share"]["value"] == "50.0%"
    assert tiles["Active share"]["change"] == "▲ +16.7 pts vs 30 days earlier"
    assert tiles["Repeat rate"]["change"] == "▼ −16.7 pts vs 30 days earlier"
    assert tiles["Store cycle"]["value"] == "30 days" and tiles["Store cycle"]["change"].startswith("unchanged")
    assert tiles["Revenue, last 30 days"]["value"] == "£70.00"  # locale en_US (the default), currency GBP
    stages = {r["label"]: r for r in ctx["stages"]}
    assert stages["lead"]["customers"] == "2" and stages["lead"]["share"] == "33.3%"
    assert stages["active"]["empty"] and "no discounts" in stages["active"]["action"]
    assert "Sunset policy" in stages["dormant"]["action"]


def test_money_follows_locale_and_currency():
    gb, de = Numbers("en_GB", "GBP"), Numbers("de_DE", "EUR")
    assert gb.money(1323866.4) == "£1,323,866" and gb.money(12.5) == "£12.50"
    assert de.money(1323866.4) == "1.323.866\xa0€" and de.percent(0.384) == "38\xa0%"
    assert gb.date(dt.date(2011, 12, 9)) == "9 Dec 2011" and de.separators == ",."
    assert gb.days(1) == "1 day" and gb.days(41.0) == "41 days" and gb.days(3.5) == "3.5 days"
    assert gb.percent(0.54, 1, fixed=True) == "54.0%" and de.percent(0.54, 1, fixed=True) == "54,0\xa0%"


def test_a_change_too_small_to_show_is_unchanged():
    from tenure.report.headline import _change

    nums = Numbers("en_US", "USD")
    assert _change(0.5402, 0.5400, nums, "points", "30 days earlier") == "unchanged from 30 days earlier"
    assert _change(0.55, 0.54, nums, "points", "30 days earlier") == "▲ +1 pts vs 30 days earlier"
    assert _change(90.0, 100.0, nums, "relative", "the 30 days before") == "▼ −10% vs the 30 days before"
    assert _change(5.0, 0.0, nums, "relative", "the 30 days before") == "none the 30 days before"


def test_readings_say_what_the_chart_shows():
    nums = Numbers("en_US", "USD")
    funnel = pd.DataFrame({"step": ["lead", "1st purchase", "2nd purchase", "3rd purchase"],
                           "step_number": [0, 1, 2, 3], "customers": [200, 100, 62, 31],
                           "conversion": [None, 0.5, 0.62, 0.5], "overall": [1, 0.5, 0.31, 0.155],
                           "median_days": [None, 0, 41.0, 30.0]})
    assert readings.funnel(funnel, nums) == ("38% of first-time buyers have not bought a second time; the second "
                                             "purchase takes a median 41 days, and 50% of second-time buyers go on "
                                             "to a third.")
    pareto = pd.DataFrame({"top_share": [0.01, 0.2], "customers": [1, 20], "revenue_share": [0.2, 0.734]})
    assert readings.pareto(pareto, nums) == "The top 20% of buyers bring 73% of revenue; the top 1% alone bring 20%."
    intervals = pd.DataFrame({"days": [10, 20, 30, 100], "intervals": [5, 3, 1, 1]})
    assert readings.cycles(intervals, store_cycle=12, median=12, fixed=False, nums=nums) == (
        "Half of repeat purchases come within 12 days of the previous one (the store cycle); 90% come within 30 days.")
    cohorts = pd.DataFrame({"cohort": ["2025-01", "2025-01", "2025-02", "2025-02"], "month": [0, 1, 0, 1],
                            "cohort_size": [10, 10, 30, 30], "active_customers": [10, 1, 30, 9],
                            "retention": [1, 0.1, 1, 0.3], "revenue": [1, 1, 1, 1], "revenue_per_customer": [1] * 4})
    assert readings.cohorts(cohorts, nums).startswith("In the month after their first purchase, 25% of customers")


def _html_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_empty_workspace_says_so(ws):
    html = build_report(ws, as_of=D)
    assert "no customers and no completed orders yet" in _html_text(html)
    assert "<script" not in html and 'class="plot"' not in html  # no script, no empty axes


def test_a_day_before_the_first_order_says_so(shop):
    html = build_report(shop, as_of=dt.date(2024, 1, 1))
    text = _html_text(html)
    assert "No completed orders on or before Jan 1, 2024: the first is on Dec 1, 2024." in text
    assert "tenure report --as-of 2024-12-01" in text and 'class="plot"' not in html


def test_one_customer_says_so(ws, tmp_path):
    ws.ingest("orders", [write(tmp_path / "o.csv", "order_id,customer_id,ordered_at,amount\n"
                                                   "o1,solo,2025-06-01 10:00:00,20\n")], now=NOW)
    html = build_report(ws, as_of=D)
    assert "Only one customer has a completed order by Jun 30, 2025" in _html_text(html)
    assert 'class="plot"' not in html and "<script" not in html
    assert ">1<" in html  # the key figures still show the one customer


def test_the_report_of_a_small_shop_has_every_chart_and_reading(shop):
    shop.run(as_of=dt.date(2025, 6, 1))
    shop.run(as_of=D)
    html = build_report(shop, as_of=D)
    charts = json.loads(re.search(r"var charts = (\{.*?\});\n", html).group(1))
    assert set(charts) >= {"chart-history", "chart-flows", "chart-funnel", "chart-cohorts", "chart-cycle",
                           "chart-cycle-by-number", "chart-pareto", "chart-rfm"}
    for key, fig in charts.items():
        series = fig["option"]["series"]
        assert fig["height"] >= 200 and series and all(s.get("type") and s.get("data") for s in series), key
        assert f'id="{key}" style="height: {fig["height"]}px"' in html
    assert charts["chart-flows"]["option"]["series"][0]["type"] == "sankey"
    # Seven customers cannot identify the CLV models: the value section says so instead of charting.
    assert "chart-clv" not in charts
    assert "the customer-value models could not be fitted" in _html_text(html)
    # No code in the options: every formatter is a page formatter's name, or plain text (a marked line).
    formatters = re.findall(r'"formatter":"([^"]*)"', html)
    assert formatters and all(f in {"@text", "@tip", "@tips", "@num", "@pct", "@money", "@date"}
                              or ("(" not in f and "{" not in f) for f in formatters), formatters
    assert html.count('class="reading"') == len(charts)
    echarts = echarts_js()
    assert html.count(echarts) == 1 and html.count("<script>") == 2  # ECharts inlined exactly once
    ours = html.replace(echarts, "")
    assert len(ours) < len(html) // 4 and not re.search(r"https?:|src=|<link", ours)  # nothing fetched
    assert "£" in ours and "Jun 30, 2025" in ours  # tooltips and labels come formatted in the locale


def test_fewer_than_two_snapshots_and_no_repeat_purchase_are_sentences(ws, tmp_path):
    ws.ingest("orders", [write(tmp_path / "o.csv", "order_id,customer_id,ordered_at,amount\n"
                                                   "o1,p,2025-06-01 10:00:00,20\no2,q,2025-06-02 10:00:00,30\n")],
              now=NOW)
    text = _html_text(build_report(ws, as_of=D))
    assert "No snapshot is stored on or before Jun 30, 2025" in text
    assert "No customer has bought on two different days by Jun 30, 2025" in text
    ws.run(as_of=D)
    assert "Only one snapshot is stored (Jun 30, 2025)" in _html_text(build_report(ws, as_of=D))


def test_write_report_and_the_command(shop, capsys):
    path = write_report(shop, as_of=D)
    assert path == shop.root / "reports" / "report-2025-06-30.html" and path.read_text().startswith("<!DOCTYPE html>")
    assert not list(path.parent.glob(".*partial"))
    out = shop.root / "elsewhere" / "r.html"
    assert main(["report", "--as-of", "2025-06-30", "--out", str(out), "-w", str(shop.root)]) == 0
    assert str(out) in capsys.readouterr().out.replace("\n", "") and out.exists()
    assert main(["report", "--as-of", "30/06/2025", "-w", str(shop.root)]) == 2
    assert "is not a date" in capsys.readouterr().err
