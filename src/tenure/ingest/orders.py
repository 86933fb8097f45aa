"""Orders: group lines into orders, decide each order's fate, write the new ones.

Fates: loaded (a customer's new order), guest (a new order without a customer), redelivered
(the same order id with identical content, already stored or earlier in this ingest),
adjustment (not an order, e.g. Online Retail's A invoices), quarantined (with a reason; a
conflicting duplicate keeps the first version). An order with one bad line is quarantined
whole: an order missing a line would carry a wrong amount.
"""

from __future__ import annotations

from tenure.ingest.presets import Preset
from tenure.ingest.sql import lit
from tenure.ingest.stage import parse_check

ORDER_FIELDS = ["order_id", "customer_id", "ordered_at", "status", "amount", "currency", "channel"]
LINE_FIELDS = ["sku", "name", "quantity", "unit_price"]
STATUSES = ("completed", "cancelled", "returned")
# Words real exports use for the three statuses.
STATUS_WORDS = {
    "completed": ("completed", "complete", "paid", "fulfilled", "shipped", "delivered", "closed", "success"),
    "cancelled": ("cancelled", "canceled", "voided", "void", "failed"),
    "returned": ("returned", "refunded", "refund", "return"),
}


def fields(preset: Preset) -> list[str]:
    return ORDER_FIELDS + (LINE_FIELDS if preset.line_level else [])


def checks(preset: Preset, now_sql: str) -> list[tuple[str, str, str]]:
    out = [("missing order id", "order_id IS NULL", "NULL"),
           parse_check("ordered_at", "unparseable date"),
           ("date after the ingest time", f"ordered_at > {now_sql}", "'ordered_at=' || ordered_at"),
           parse_check("amount", "amount is not a number"),
           ("unknown status", f"status IS NOT NULL AND status NOT IN {_in(_all_words())}",
            "'status=' || _raw_status")]
    if preset.line_level:
        out += [parse_check("quantity", "quantity is not a number"),
                parse_check("unit_price", "price is not a number")]
        if preset.amount_from_lines:
            out += [("missing quantity", "quantity IS NULL", "NULL"),
                    ("missing price", "unit_price IS NULL", "NULL")]
    return out


def _all_words() -> tuple[str, ...]:
    return tuple(w for words in STATUS_WORDS.values() for w in words)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(lit(v) for v in values) + ")"


def _status_sql() -> str:
    whens = " ".join(f"WHEN status IN {_in(words)} THEN {lit(s)}" for s, words in STATUS_WORDS.items())
    return f"CASE {whens} ELSE 'completed' END"


def classify(con, preset: Preset, currency: str) -> None:
    """Create temp tables `cand` (one row per order candidate) and `fate` (one per input row)."""
    if preset.line_level:
        con.execute("""CREATE OR REPLACE TEMP TABLE lines AS SELECT *,
            CASE WHEN order_id IS NULL THEN -_row
                 ELSE min(_row) OVER (PARTITION BY _file, order_id) END AS _unit FROM stg""")
        amount = ("CAST(sum(quantity * unit_price) AS DECIMAL(18,4))" if preset.amount_from_lines
                  else "any_value(amount)")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE cand0 AS SELECT _file, _unit,
            any_value(order_id) AS order_id, any_value(customer_id) AS customer_id,
            count(DISTINCT customer_id) AS n_cust, min(ordered_at) AS ordered_at,
            any_value(status) AS status, {amount} AS amount, any_value(currency) AS currency,
            any_value(channel) AS channel, bool_or(_reason IS NOT NULL) AS bad,
            bool_or(_skip) AS skip, any_value(_attrs) AS attrs
            FROM lines GROUP BY _file, _unit""")
        rows = "lines"
    else:
        con.execute("""CREATE OR REPLACE TEMP TABLE cand0 AS SELECT _file, _row AS _unit, order_id,
            customer_id, 1 AS n_cust, ordered_at, status, amount, currency, channel,
            _reason IS NOT NULL AS bad, _skip AS skip, _attrs AS attrs FROM stg""")
        rows = "(SELECT *, _row AS _unit FROM stg)"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cand AS SELECT _file, _unit, order_id, customer_id,
        ordered_at, {_status_sql()} AS status, amount, coalesce(currency, {lit(currency)}) AS currency,
        channel, attrs,
        CASE WHEN bad THEN 'another line of this order was rejected'
             WHEN skip THEN NULL
             WHEN ordered_at IS NULL THEN 'missing date'
             WHEN amount IS NULL THEN 'missing amount'
             WHEN n_cust > 1 THEN 'lines disagree on the customer'
             WHEN {_status_sql()} = 'completed' AND amount < 0 THEN 'negative amount on a completed order'
        END AS greason, skip FROM cand0""")
    same = ("{a}.customer_id IS NOT DISTINCT FROM {b}.customer_id AND {a}.ordered_at = {b}.ordered_at "
            "AND {a}.status = {b}.status AND {a}.amount = {b}.amount AND {a}.currency = {b}.currency "
            "AND {a}.channel IS NOT DISTINCT FROM {b}.channel")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cf AS
        WITH ok AS (SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY _file, _unit) AS k
                    FROM cand WHERE greason IS NULL AND NOT skip),
             firsts AS (SELECT * FROM ok WHERE k = 1)
        SELECT r._file, r._unit,
            CASE WHEN o.order_id IS NOT NULL THEN
                    CASE WHEN {same.format(a='r', b='o')} THEN 'redelivered' ELSE 'quarantined' END
                 WHEN r.k > 1 THEN
                    CASE WHEN {same.format(a='r', b='f')} THEN 'redelivered' ELSE 'quarantined' END
                 WHEN r.customer_id IS NULL THEN 'guest' ELSE 'loaded' END AS fate,
            CASE WHEN o.order_id IS NOT NULL THEN 'conflicts with an order already loaded'
                 ELSE 'conflicts with an earlier row of this ingest' END AS reason
        FROM ok r LEFT JOIN orders o ON o.order_id = r.order_id
        LEFT JOIN firsts f ON f.order_id = r.order_id AND r.k > 1
        UNION ALL
        SELECT _file, _unit, CASE WHEN greason IS NULL THEN 'adjustment' ELSE 'quarantined' END,
               coalesce(greason, 'adjustment (not an order)')
        FROM cand WHERE greason IS NOT NULL OR skip""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE fate AS
        SELECT l._file, l._row, l._unit,
            CASE WHEN l._reason IS NOT NULL THEN 'quarantined' ELSE cf.fate END AS fate,
            CASE WHEN l._reason IS NOT NULL THEN l._reason
                 WHEN cf.fate IN ('quarantined', 'adjustment') THEN cf.reason END AS reason,
            coalesce(l._detail, CASE WHEN cf.fate = 'quarantined' AND l.order_id IS NOT NULL
                                     THEN 'order_id=' || l.order_id END) AS detail,
            l.order_id AS key
        FROM {rows} l JOIN cf USING (_file, _unit)""")


def extra_counts(con) -> dict[str, int]:
    rows = con.execute("""SELECT c.status, count(*) FROM cand c JOIN cf USING (_file, _unit)
        WHERE cf.fate IN ('loaded', 'guest') GROUP BY 1""").fetchall()
    return {f"{status} orders": n for status, n in rows if status != "completed"}


def write(con, preset: Preset) -> None:
    con.execute("""INSERT INTO orders SELECT order_id, customer_id, ordered_at, status, amount,
        currency, channel FROM cand JOIN cf USING (_file, _unit) WHERE cf.fate IN ('loaded', 'guest')""")
    if preset.line_level:
        con.execute("""INSERT INTO order_items SELECT l.order_id,
            row_number() OVER (PARTITION BY l._file, l._unit ORDER BY l._row), l.sku, l.name,
            l.quantity, l.unit_price
            FROM lines l JOIN cf USING (_file, _unit) WHERE cf.fate IN ('loaded', 'guest')""")
    con.execute("""INSERT INTO customers (customer_id, created_at, attributes, origin)
        SELECT c.customer_id, min(c.ordered_at), any_value(c.attrs), 'orders'
        FROM cand c JOIN cf USING (_file, _unit)
        WHERE cf.fate = 'loaded' AND c.customer_id NOT IN (SELECT customer_id FROM customers WHERE customer_id IS NOT NULL)
        GROUP BY c.customer_id""")
