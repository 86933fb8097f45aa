"""The RF ladder's default campaigns on Online Retail II: a daily backfill over 2011 enrolls, per
rung and month, exactly the customers an independent SQL count finds from the definition
(DOMAIN.md: customers whose completed orders are in S reach N days since their last purchase)."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest
import sqlalchemy as sa

from tenure import Workspace
from tenure.analytics.settings import _ladder
from tenure.store.tables import enrollments
from tests.conftest import online_retail_shop

START, END = dt.date(2011, 1, 1), dt.date(2011, 12, 9)  # the data end on 2011-12-09


def oracle(ws) -> dict[tuple[str, str], int]:
    """Crossings from the orders alone: a customer crosses rung (S, N) on day L + N when L is a
    purchase day, no purchase follows before L + N, and their completed orders up to L are in S."""
    rungs = " UNION ALL ".join(
        f"SELECT 'rf-{r.name}' AS campaign, {r.min_orders} AS lo, {r.max_orders or 10**9} AS hi, {r.days} AS n"
        for r in _ladder())
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        rows = con.execute(f"""
            WITH p AS (SELECT customer_id, CAST(ordered_at AS DATE) AS day FROM orders
                       WHERE status = 'completed' AND amount > 0 AND customer_id IS NOT NULL),
                 per_day AS (SELECT customer_id, day, count(*) AS orders FROM p GROUP BY customer_id, day),
                 c AS (SELECT customer_id, day,
                              sum(orders) OVER (PARTITION BY customer_id ORDER BY day) AS k,
                              lead(day) OVER (PARTITION BY customer_id ORDER BY day) AS next_day
                       FROM per_day),
                 rungs AS ({rungs})
            SELECT campaign, strftime(day + n, '%Y-%m') AS month, count(*) AS entered
            FROM c JOIN rungs ON k BETWEEN lo AND hi
            WHERE (next_day IS NULL OR next_day > day + n) AND day + n BETWEEN DATE '{START}' AND DATE '{END}'
            GROUP BY ALL""").fetchall()
    finally:
        con.close()
    return {(c, m): n for c, m, n in rows}


@pytest.mark.realdata
def test_ladder_entries_per_rung_and_month_match_sql(tmp_path, shared_data):
    ws = online_retail_shop(tmp_path / "shop", shared_data)
    path = ws.root / "tenure.toml"
    text = re.sub(r"(\[campaigns\.rf-[a-z-]+\]\nenabled = )false", r"\1true", path.read_text())
    text = text.replace("churn_risk segmentation to the snapshot.\nenabled = true",
                        "churn_risk segmentation to the snapshot.\nenabled = false")  # not needed here: faster
    path.write_text(text)
    ws = Workspace(ws.root)
    ws.backfill(start=START, end=END, every_days=1)

    e = enrollments
    with ws.store.connect() as conn:
        rows = conn.execute(sa.select(e.c.campaign, e.c.entered_on, e.c.grp)).fetchall()
    got: dict[tuple[str, str], int] = {}
    for campaign, day, _ in rows:
        key = (campaign, day.strftime("%Y-%m"))
        got[key] = got.get(key, 0) + 1
    expected = oracle(ws)
    assert sum(expected.values()) > 5000  # thousands of crossings over the year, every rung
    assert {c for c, _ in expected} == {f"rf-{r.name}" for r in _ladder()}
    assert got == expected
    holdout = sum(1 for *_, g in rows if g == "holdout") / len(rows)
    assert 0.08 < holdout < 0.12
    # Nothing old was sent: the backfill's messages are all expired at the end.
    with ws.store.connect() as conn:
        statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM outbox GROUP BY status")).fetchall())
    assert set(statuses) <= {"expired", "held_out", "skipped"}, statuses

    # The backtest replays the same triggers over the stored snapshots: the same monthly counts.
    from tenure.campaigns.views import backtest

    daily = backtest(ws, START, END)
    daily["month"] = daily.day.map(lambda d: d.strftime("%Y-%m"))
    replay = {k: int(v) for k, v in daily.groupby(["campaign", "month"]).entered.sum().items() if v}
    assert replay == expected
