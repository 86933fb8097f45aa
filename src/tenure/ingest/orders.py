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

UNITS = "cand"  # the table with one row per order, for the summary's order counts
ORDER_FIELDS = ["order_id", "customer_id", "ordered_at", "status", "amount", "currency", "channel"]
ITEM_FIELDS = ["sku", "name", "quantity", "unit_price"]  # stored per line; the line number is derived
STATUSES = ("completed", "cancelled", "returned")
# Words real exports use for the three statuses.
STATUS_WORDS = {
    "completed": ("completed", "complete", "paid", "fulfilled", "shipped", "delivered", "closed", "success"),
    "cancelled": ("cancelled", "canceled", "voided", "void", "failed"),
    "returned": ("returned", "refunded", "refund", "return"),
}


def fields(preset: Preset) -> list[str]:
    return ORDER_FIELDS + (ITEM_FIELDS if preset.line_level else [])


def checks(preset: Preset, now_sql: str) -> list[tuple[str, str, str]]:
    out = [("missing order id", "order_id IS NULL", "NULL"),
           parse_check("ordered_at", "unparseable date"),
           ("date after the ingest time", f"ordered_at > {now_sql}", "'ordered_at=' || ordered_at"),
           parse_check("amount", "amount is not a number"),
           ("unknown status", f"status IS NOT NULL AND status NOT IN {_in(_all_words())}",
            "'status=' || {raw:status}")]
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
    """Create `cand` (one row per order candidate, with its fate) and the view `fate` (one row
    per input row). Written for 10M-row files: no window over all rows, one pass per step."""
    status = _status_sql()
    if preset.line_level:
        con.execute("""CREATE OR REPLACE TEMP TABLE lines AS SELECT *,
            CASE WHEN order_id IS NULL THEN -_row
                 ELSE min(_row) OVER (PARTITION BY _file, order_id) END AS _unit FROM stg""")
        amount = ("CAST(sum(quantity * unit_price) AS DECIMAL(18,4))" if preset.amount_from_lines
                  else "any_value(amount)")
        source = f"""(SELECT _file, _unit, any_value(order_id) AS order_id,
            any_value(customer_id) AS customer_id, count(DISTINCT customer_id) AS n_cust,
            min(ordered_at) AS ordered_at, any_value(status) AS status, {amount} AS amount,
            any_value(currency) AS currency, any_value(channel) AS channel,
            bool_or(_reason IS NOT NULL) AS bad, bool_or(_skip) AS skip, any_value(_attrs) AS attrs,
            NULL AS _reason, NULL AS _detail
            FROM lines GROUP BY _file, _unit)"""
    else:
        source = """(SELECT _file, _row AS _unit, order_id, customer_id, 1 AS n_cust, ordered_at,
            status, amount, currency, channel, _reason IS NOT NULL AS bad, _skip AS skip,
            _attrs AS attrs, _reason, _detail FROM {rows})"""
    cand0 = f"""SELECT _file, _unit, order_id, customer_id,
        ordered_at, {status} AS status, amount, coalesce(currency, {lit(currency)}) AS currency,
        channel, attrs, skip,
        CASE WHEN bad THEN coalesce(_reason, 'another line of this order was rejected')
             WHEN skip THEN NULL
             WHEN ordered_at IS NULL THEN 'missing date'
             WHEN amount IS NULL THEN 'missing amount'
             WHEN n_cust > 1 THEN 'lines disagree on the customer'
             WHEN {status} = 'completed' AND amount < 0 THEN 'negative amount on a completed order'
        END AS greason, _detail FROM {source}"""
    dup = "SELECT order_id FROM {src} GROUP BY order_id HAVING count(*) > 1"
    # Repeated ids are rare: find them with a plain count, then look only at those rows.
    if preset.line_level:  # grouping lines is costly: do it once
        con.execute(f"CREATE OR REPLACE TEMP TABLE cand0 AS {cand0}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE dup AS {dup.format(src='cand0 WHERE greason IS NULL AND NOT skip')}")
        repeated, cand0 = "(SELECT * FROM cand0 SEMI JOIN dup USING (order_id))", "cand0"
    else:  # one row per order: read `stg` directly, never write the candidates out twice
        con.execute(f"CREATE OR REPLACE TEMP TABLE dup AS {dup.format(src='stg WHERE _reason IS NULL')}")
        repeated = f"({cand0.format(rows='stg SEMI JOIN dup USING (order_id)')})"
        cand0 = f"({cand0.format(rows='stg')})"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE firsts AS
        SELECT order_id, min(_file * 10000000000 + _unit) AS first_pos,
               arg_min({{'c': customer_id, 't': ordered_at, 's': status, 'a': amount, 'u': currency,
                        'h': channel}}, _file * 10000000000 + _unit) AS first
        FROM {repeated} WHERE greason IS NULL AND NOT skip GROUP BY order_id""")
    same_stored = ("c.customer_id IS NOT DISTINCT FROM o.customer_id AND c.ordered_at = o.ordered_at "
                   "AND c.status = o.status AND c.amount = o.amount AND c.currency = o.currency "
                   "AND c.channel IS NOT DISTINCT FROM o.channel")
    same_first = ("c.customer_id IS NOT DISTINCT FROM f.first.c AND c.ordered_at = f.first.t "
                  "AND c.status = f.first.s AND c.amount = f.first.a AND c.currency = f.first.u "
                  "AND c.channel IS NOT DISTINCT FROM f.first.h")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE cand AS SELECT c.*,
        CASE WHEN c.greason IS NOT NULL THEN 'quarantined'
             WHEN c.skip THEN 'adjustment'
             WHEN o.order_id IS NOT NULL THEN CASE WHEN {same_stored} THEN 'redelivered' ELSE 'quarantined' END
             WHEN f.order_id IS NOT NULL AND f.first_pos <> c._file * 10000000000 + c._unit THEN
                  CASE WHEN {same_first} THEN 'redelivered' ELSE 'quarantined' END
             WHEN c.customer_id IS NULL THEN 'guest' ELSE 'loaded' END AS fate,
        CASE WHEN c.greason IS NOT NULL THEN c.greason
             WHEN c.skip THEN 'adjustment (not an order)'
             WHEN o.order_id IS NOT NULL THEN 'conflicts with an order already loaded'
             ELSE 'conflicts with an earlier row of this ingest' END AS reason
        FROM {cand0} c
        LEFT JOIN orders o ON o.order_id = c.order_id AND c.greason IS NULL
        LEFT JOIN firsts f ON f.order_id = c.order_id AND c.greason IS NULL""")
    detail = "coalesce({d}, CASE WHEN {c}.fate = 'quarantined' AND {c}.order_id IS NOT NULL THEN 'order_id=' || {c}.order_id END)"
    if preset.line_level:
        con.execute(f"""CREATE OR REPLACE TEMP VIEW fate AS
            SELECT l._file, l._row, l._unit,
                CASE WHEN l._reason IS NOT NULL THEN 'quarantined' ELSE c.fate END AS fate,
                CASE WHEN l._reason IS NOT NULL THEN l._reason
                     WHEN c.fate IN ('quarantined', 'adjustment') THEN c.reason END AS reason,
                {detail.format(d='l._detail', c='c')} AS detail, l.order_id AS key
            FROM lines l JOIN cand c USING (_file, _unit)""")
    else:
        con.execute(f"""CREATE OR REPLACE TEMP VIEW fate AS
            SELECT _file, _unit AS _row, _unit, fate,
                CASE WHEN fate IN ('quarantined', 'adjustment') THEN reason END AS reason,
                {detail.format(d='_detail', c='cand')} AS detail, order_id AS key FROM cand""")


def extra_counts(con) -> dict[str, int]:
    rows = con.execute("""SELECT status, count(*) FROM cand
        WHERE fate IN ('loaded', 'guest') GROUP BY 1""").fetchall()
    return {f"{status} orders": n for status, n in rows if status != "completed"}


def write(con, preset: Preset) -> None:
    con.execute("""INSERT INTO orders SELECT order_id, customer_id, ordered_at, status, amount,
        currency, channel FROM cand WHERE fate IN ('loaded', 'guest')""")
    if preset.line_level:
        con.execute("""INSERT INTO order_items SELECT l.order_id,
            row_number() OVER (PARTITION BY l._file, l._unit ORDER BY l._row), l.sku, l.name,
            l.quantity, l.unit_price
            FROM lines l JOIN cand c USING (_file, _unit) WHERE c.fate IN ('loaded', 'guest')""")
    con.execute("""INSERT INTO customers (customer_id, created_at, attributes, origin)
        SELECT c.customer_id, min(c.ordered_at), any_value(c.attrs), 'orders'
        FROM cand c ANTI JOIN customers k ON k.customer_id = c.customer_id
        WHERE c.fate = 'loaded' GROUP BY c.customer_id""")
