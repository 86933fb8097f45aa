"""An independent oracle for Tenure's customer snapshot, written in plain DuckDB SQL.

It is written from the written definitions of the default lifecycle stages, the RF trigger
ladder and RFM, not from Tenure's code: one CTE per definition, each quoting what it implements.
It reads only the warehouse tables `customers` and `orders`.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

LIFECYCLE_LABELS = {"lead", "new", "one-time", "active", "reactivated", "lapsing", "dormant"}
RF_LABELS = {"none", "recent", "new", "promising", "wandering", "dormant", "loyal", "at-risk", "lost"}
SEGMENT_LABELS = {"none", "champions", "loyal", "potential-loyalists", "new-customers", "promising",
                  "need-attention", "about-to-sleep", "at-risk", "cannot-lose-them", "hibernating"}

ORACLE_COLUMNS = ("customer_id", "orders", "purchase_days", "first_purchase", "last_purchase",
                  "days_since_last", "spend", "own_cycle_days", "store_cycle_days", "lifecycle",
                  "rf", "r", "f", "m", "rfm", "rfm_segment")


def oracle_sql(as_of: dt.date) -> str:
    """The snapshot as of the calendar day `as_of` (workspace zone), one row per customer."""
    return f"""
WITH
-- "D = the as-of date, a calendar date in the workspace zone. Only orders with ordered_at
--  before D + 1 day (i.e. up to the end of D) count."
params AS (
    SELECT DATE '{as_of.isoformat()}' AS d,
           CAST(DATE '{as_of.isoformat()}' + INTERVAL 1 DAY AS TIMESTAMP) AS cutoff
),
-- "Customers: every row of customers whose created_at is null or < D + 1 day."
cust AS (
    SELECT c.customer_id
    FROM customers c, params p
    WHERE c.created_at IS NULL OR c.created_at < p.cutoff
),
-- "completed order: status = 'completed' AND amount > 0" (and ordered before D + 1 day;
--  guest orders have no customer and belong to nobody's history).
completed AS (
    SELECT o.customer_id, o.ordered_at, o.amount
    FROM orders o, params p
    WHERE o.ordered_at < p.cutoff AND o.status = 'completed' AND o.amount > 0
      AND o.customer_id IN (SELECT customer_id FROM cust)
),
-- "k = number of completed orders ... spend = sum(amount) of completed orders."
order_stats AS (
    SELECT customer_id, count(*) AS k, sum(amount) AS spend
    FROM completed GROUP BY customer_id
),
-- "Purchase days = distinct CAST(ordered_at AS DATE) of completed orders."
purchase_days AS (
    SELECT DISTINCT customer_id, CAST(ordered_at AS DATE) AS day FROM completed
),
-- "intervals: for each customer, the differences in days between consecutive distinct
--  purchase days (n-1 intervals)." The first purchase day has no interval (gap is null).
--  rn_desc = 1 marks the last purchase day.
gaps AS (
    SELECT customer_id, day,
           day - lag(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap,
           row_number() OVER (PARTITION BY customer_id ORDER BY day DESC) AS rn_desc
    FROM purchase_days
),
-- "n = their count. first_purchase/last_purchase = min/max purchase day.
--  last interval g = last_purchase minus the previous purchase day."
day_stats AS (
    SELECT customer_id,
           count(*) AS n,
           min(day) AS first_purchase,
           max(day) AS last_purchase,
           count(gap) AS n_intervals,
           median(gap) AS own_median,
           max(gap) FILTER (WHERE rn_desc = 1) AS g
    FROM gaps GROUP BY customer_id
),
-- "store cycle C = the median (interpolated) of ALL customers' intervals pooled together
--  (every interval of every customer is one value), up to D. If there is no interval at
--  all, C = 30."
store_cycle AS (
    SELECT coalesce(CAST(median(gap) AS DOUBLE), 30.0) AS big_c FROM gaps WHERE gap IS NOT NULL
),
-- "days_since_last d = D - last_purchase in days."
-- "own cycle c = the median of the customer's own intervals when the customer has at least
--  2 intervals (n >= 3), else C."
base AS (
    SELECT cu.customer_id,
           coalesce(os.k, 0) AS k,
           coalesce(ds.n, 0) AS n,
           ds.first_purchase, ds.last_purchase,
           p.d - ds.last_purchase AS d,
           os.spend,
           ds.g,
           sc.big_c,
           CASE WHEN ds.n IS NULL THEN NULL
                WHEN ds.n_intervals >= 2 THEN CAST(ds.own_median AS DOUBLE)
                ELSE sc.big_c END AS c
    FROM cust cu
    CROSS JOIN params p
    CROSS JOIN store_cycle sc
    LEFT JOIN order_stats os USING (customer_id)
    LEFT JOIN day_stats ds USING (customer_id)
),
-- "lifecycle: lead = customer with no completed order (k = 0). Otherwise with n, d, g, c:
--  dormant if d > 4c; else for n = 1: new if d <= C, one-time if C < d <= 4C; for n >= 2:
--  reactivated if d <= c and g > c; active if d <= c and g <= c; lapsing if c < d <= 4c."
lifecycle AS (
    SELECT customer_id,
           CASE WHEN k = 0 THEN 'lead'
                WHEN d > 4 * c THEN 'dormant'
                WHEN n = 1 AND d <= big_c THEN 'new'
                WHEN n = 1 THEN 'one-time'
                WHEN d <= c AND g > c THEN 'reactivated'
                WHEN d <= c AND g <= c THEN 'active'
                ELSE 'lapsing' END AS lifecycle
    FROM base
),
-- "rf (trigger ladder): rungs (name, order group, days): new (k = 1, 10), promising
--  (1 <= k <= 2, 25), wandering (1 <= k <= 2, 51), dormant (1 <= k <= 2, 75),
--  loyal (k >= 3, 20), at-risk (k >= 3, 56), lost (k >= 3, 113)."
rungs(name, k_min, k_max, days) AS (
    VALUES ('new', 1, 1, 10), ('promising', 1, 2, 25), ('wandering', 1, 2, 51),
           ('dormant', 1, 2, 75), ('loyal', 3, 2147483647, 20), ('at-risk', 3, 2147483647, 56),
           ('lost', 3, 2147483647, 113)
),
-- "A customer's rung = the rung with the largest day threshold <= d among the rungs whose
--  order group contains k; if none reached: 'recent'; no completed order: 'none'."
reached AS (
    SELECT b.customer_id, arg_max(r.name, r.days) AS rung
    FROM base b JOIN rungs r ON b.k BETWEEN r.k_min AND r.k_max AND r.days <= b.d
    WHERE b.k >= 1
    GROUP BY b.customer_id
),
rf AS (
    SELECT b.customer_id,
           CASE WHEN b.k = 0 THEN 'none' ELSE coalesce(re.rung, 'recent') END AS rf
    FROM base b LEFT JOIN reached re USING (customer_id)
),
-- "rfm: among customers with k >= 1 only (N of them): for each of recency (value d, FEWER
--  days is better), frequency (value k, more is better), monetary (value spend, more is
--  better): w = number of customers with a strictly worse value;
--  score = min(5, 1 + floor(5 * w / N))."
--  rank() - 1 = the number of rows strictly before in the order = strictly worse values.
rfm_w AS (
    SELECT customer_id,
           rank() OVER (ORDER BY d DESC) - 1 AS w_r,
           rank() OVER (ORDER BY k ASC) - 1 AS w_f,
           rank() OVER (ORDER BY spend ASC) - 1 AS w_m,
           count(*) OVER () AS big_n
    FROM base WHERE k >= 1
),
rfm AS (
    SELECT customer_id,
           CAST(least(5, 1 + (5 * w_r) // big_n) AS INTEGER) AS r,
           CAST(least(5, 1 + (5 * w_f) // big_n) AS INTEGER) AS f,
           CAST(least(5, 1 + (5 * w_m) // big_n) AS INTEGER) AS m
    FROM rfm_w
),
-- "rfm_segment from (R, F): champions R=5 F in 4-5; loyal R in 3-4 F in 4-5;
--  potential-loyalists R in 4-5 F in 2-3; new-customers R=5 F=1; promising R=4 F=1;
--  need-attention R=3 F=3; about-to-sleep R=3 F in 1-2; at-risk R in 1-2 F in 3-4;
--  cannot-lose-them R in 1-2 F=5; hibernating R in 1-2 F in 1-2.
--  Customers with k = 0: r, f, m, rfm null and rfm_segment = 'none'."
segment AS (
    SELECT b.customer_id, x.r, x.f, x.m,
           CAST(x.r AS VARCHAR) || CAST(x.f AS VARCHAR) || CAST(x.m AS VARCHAR) AS rfm,
           CASE WHEN x.r IS NULL THEN 'none'
                WHEN x.r = 5 AND x.f BETWEEN 4 AND 5 THEN 'champions'
                WHEN x.r BETWEEN 3 AND 4 AND x.f BETWEEN 4 AND 5 THEN 'loyal'
                WHEN x.r BETWEEN 4 AND 5 AND x.f BETWEEN 2 AND 3 THEN 'potential-loyalists'
                WHEN x.r = 5 AND x.f = 1 THEN 'new-customers'
                WHEN x.r = 4 AND x.f = 1 THEN 'promising'
                WHEN x.r = 3 AND x.f = 3 THEN 'need-attention'
                WHEN x.r = 3 AND x.f BETWEEN 1 AND 2 THEN 'about-to-sleep'
                WHEN x.r BETWEEN 1 AND 2 AND x.f BETWEEN 3 AND 4 THEN 'at-risk'
                WHEN x.r BETWEEN 1 AND 2 AND x.f = 5 THEN 'cannot-lose-them'
                WHEN x.r BETWEEN 1 AND 2 AND x.f BETWEEN 1 AND 2 THEN 'hibernating'
                END AS rfm_segment
    FROM base b LEFT JOIN rfm x USING (customer_id)
)
SELECT b.customer_id,
       b.k AS orders,
       b.n AS purchase_days,
       b.first_purchase, b.last_purchase,
       b.d AS days_since_last,
       b.spend,
       b.c AS own_cycle_days,
       b.big_c AS store_cycle_days,
       l.lifecycle, rf.rf, s.r, s.f, s.m, s.rfm, s.rfm_segment,
       b.g AS last_interval
FROM base b
JOIN lifecycle l USING (customer_id)
JOIN rf USING (customer_id)
JOIN segment s USING (customer_id)
ORDER BY b.customer_id
"""


def invariant_sql(as_of: dt.date) -> dict[str, str]:
    """Queries over `oracle` (a table made from oracle_sql) that must each return 0."""
    day = as_of.isoformat()
    cutoff = f"CAST(DATE '{day}' + INTERVAL 1 DAY AS TIMESTAMP)"
    quoted = lambda labels: ", ".join(f"'{x}'" for x in sorted(labels))  # noqa: E731
    return {
        "every customer exactly once": f"""
            SELECT abs((SELECT count(*) FROM oracle)
                       - (SELECT count(*) FROM customers WHERE created_at IS NULL OR created_at < {cutoff}))
                 + abs((SELECT count(*) FROM oracle) - (SELECT count(DISTINCT customer_id) FROM oracle))""",
        "no completed order outside the customer set (except guests)": f"""
            SELECT count(*) FROM orders
            WHERE ordered_at < {cutoff} AND status = 'completed' AND amount > 0
              AND customer_id IS NOT NULL AND customer_id NOT IN (SELECT customer_id FROM oracle)""",
        "lifecycle labels": f"SELECT count(*) FROM oracle WHERE lifecycle IS NULL OR lifecycle NOT IN ({quoted(LIFECYCLE_LABELS)})",
        "rf labels": f"SELECT count(*) FROM oracle WHERE rf IS NULL OR rf NOT IN ({quoted(RF_LABELS)})",
        "segment labels": f"SELECT count(*) FROM oracle WHERE rfm_segment IS NULL OR rfm_segment NOT IN ({quoted(SEGMENT_LABELS)})",
        "lead <=> no order <=> rf none <=> segment none <=> rfm null": """
            SELECT count(*) FROM oracle
            WHERE NOT ((orders = 0) = (lifecycle = 'lead') AND (orders = 0) = (rf = 'none')
                       AND (orders = 0) = (rfm_segment = 'none') AND (orders = 0) = (rfm IS NULL)
                       AND (orders = 0) = (purchase_days = 0) AND (orders = 0) = (days_since_last IS NULL))""",
        "scores 1..5 and rfm = r||f||m": """
            SELECT count(*) FROM oracle WHERE orders > 0 AND NOT (
                r BETWEEN 1 AND 5 AND f BETWEEN 1 AND 5 AND m BETWEEN 1 AND 5
                AND rfm = printf('%d%d%d', r, f, m))""",
        "1 <= purchase days <= orders, first <= last <= D": f"""
            SELECT count(*) FROM oracle WHERE orders > 0 AND NOT (
                purchase_days BETWEEN 1 AND orders AND first_purchase <= last_purchase
                AND last_purchase <= DATE '{day}' AND days_since_last >= 0
                AND (purchase_days = 1) = (first_purchase = last_purchase))""",
        "one purchase day => new / one-time / dormant; more => never new / one-time": """
            SELECT count(*) FROM oracle WHERE orders > 0 AND NOT (
                CASE WHEN purchase_days = 1 THEN lifecycle IN ('new', 'one-time', 'dormant')
                     ELSE lifecycle IN ('active', 'reactivated', 'lapsing', 'dormant') END)""",
        "own cycle = store cycle below three purchase days": """
            SELECT count(*) FROM oracle WHERE purchase_days BETWEEN 1 AND 2 AND own_cycle_days <> store_cycle_days""",
        "rf group: k=1 never loyal/at-risk/lost, k>=3 never promising..dormant, k=2 never new": """
            SELECT count(*) FROM oracle WHERE
                (orders = 1 AND rf IN ('loyal', 'at-risk', 'lost'))
                OR (orders >= 3 AND rf IN ('new', 'promising', 'wandering', 'dormant'))
                OR (orders = 2 AND rf IN ('new', 'loyal', 'at-risk', 'lost'))""",
        "store cycle is one value": "SELECT count(DISTINCT store_cycle_days) - 1 FROM oracle",
    }


def compute(con: duckdb.DuckDBPyConnection, as_of: dt.date, *, check: bool = True) -> pd.DataFrame:
    """Run the oracle on a connection holding `customers` and `orders`; check its invariants."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE oracle AS {oracle_sql(as_of)}")
    if check:
        broken = {name: n for name, q in invariant_sql(as_of).items()
                  if (n := con.execute(q).fetchone()[0]) != 0}
        assert not broken, f"oracle invariants broken as of {as_of}: {broken}"
    return con.execute("SELECT * FROM oracle ORDER BY customer_id").df()


def purchase_days_of(con: duckdb.DuckDBPyConnection, as_of: dt.date, ids: list[str]) -> dict[str, list[str]]:
    """Each customer's distinct purchase days up to `as_of` (for readable disagreement reports)."""
    if not ids:
        return {}
    rows = con.execute(f"""
        SELECT customer_id, list(DISTINCT CAST(ordered_at AS DATE) ORDER BY CAST(ordered_at AS DATE))
        FROM orders
        WHERE ordered_at < CAST(DATE '{as_of.isoformat()}' + INTERVAL 1 DAY AS TIMESTAMP)
          AND status = 'completed' AND amount > 0 AND customer_id IN (SELECT unnest(?))
        GROUP BY customer_id""", [ids]).fetchall()
    return {cid: [d.isoformat() for d in days] for cid, days in rows}
