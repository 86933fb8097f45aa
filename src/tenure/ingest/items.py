"""Order lines from their own file (the generic preset): each order's lines arrive as a unit.

Lines of an order not loaded yet are quarantined (ingest orders first); an order whose lines
are already stored is a re-delivery when the lines are identical and a conflict otherwise.
"""

from __future__ import annotations

from tenure.ingest.presets import Preset
from tenure.ingest.stage import parse_check

UNITS = "gf"  # one row per order whose lines arrived
FIELDS = ["order_id", "line", "sku", "name", "quantity", "unit_price"]
_DIGEST = "string_agg(concat_ws('|', sku, quantity, unit_price), ';' ORDER BY {order})"


def fields(preset: Preset) -> list[str]:
    return FIELDS


def checks(preset: Preset, now_sql: str) -> list[tuple[str, str, str]]:
    return [("missing order id", "order_id IS NULL", "NULL"),
            parse_check("line", "line is not a whole number"),
            parse_check("quantity", "quantity is not a number"),
            parse_check("unit_price", "price is not a number"),
            ("missing quantity", "quantity IS NULL", "NULL"),
            ("missing price", "unit_price IS NULL", "NULL")]


def classify(con, preset: Preset, currency: str) -> None:
    con.execute("""CREATE OR REPLACE TEMP TABLE lines AS SELECT *,
        CASE WHEN order_id IS NULL THEN -_row ELSE min(_row) OVER (PARTITION BY _file, order_id) END AS _unit,
        coalesce(line, row_number() OVER (PARTITION BY _file, order_id ORDER BY _row)) AS _line FROM stg""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE grp AS
        SELECT _file, _unit, any_value(order_id) AS order_id, bool_or(_reason IS NOT NULL) AS bad,
               {_DIGEST.format(order='_line')} AS digest,
               row_number() OVER (PARTITION BY any_value(order_id) ORDER BY _file, _unit) AS k
        FROM lines GROUP BY _file, _unit""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE have AS
        SELECT order_id, {_DIGEST.format(order='line')} AS digest FROM order_items
        WHERE order_id IN (SELECT order_id FROM grp) GROUP BY order_id""")
    con.execute("""CREATE OR REPLACE TEMP TABLE gf AS
        SELECT g._file, g._unit,
            CASE WHEN g.bad OR g.order_id IS NULL THEN 'quarantined'
                 WHEN o.order_id IS NULL THEN 'quarantined'
                 WHEN h.order_id IS NOT NULL THEN CASE WHEN h.digest = g.digest THEN 'redelivered' ELSE 'quarantined' END
                 WHEN g.k > 1 THEN CASE WHEN g.digest = f.digest THEN 'redelivered' ELSE 'quarantined' END
                 ELSE 'loaded' END AS fate,
            CASE WHEN g.bad THEN 'another line of this order was rejected'
                 WHEN o.order_id IS NULL THEN 'order not loaded (ingest orders first)'
                 WHEN h.order_id IS NOT NULL THEN 'conflicts with lines already loaded'
                 ELSE 'conflicts with an earlier row of this ingest' END AS reason
        FROM grp g LEFT JOIN (SELECT DISTINCT order_id FROM orders) o ON o.order_id = g.order_id
        LEFT JOIN have h ON h.order_id = g.order_id
        LEFT JOIN grp f ON f.order_id = g.order_id AND f.k = 1 AND g.k > 1""")
    con.execute("""CREATE OR REPLACE TEMP TABLE fate AS
        SELECT l._file, l._row, l._unit,
            CASE WHEN l._reason IS NOT NULL THEN 'quarantined' ELSE gf.fate END AS fate,
            CASE WHEN l._reason IS NOT NULL THEN l._reason WHEN gf.fate = 'quarantined' THEN gf.reason END AS reason,
            coalesce(l._detail, CASE WHEN gf.fate = 'quarantined' THEN 'order_id=' || l.order_id END) AS detail,
            l.order_id AS key
        FROM lines l JOIN gf USING (_file, _unit)""")


def extra_counts(con) -> dict[str, int]:
    return {}


def write(con, preset: Preset) -> None:
    con.execute("""INSERT INTO order_items SELECT l.order_id, l._line, l.sku, l.name, l.quantity, l.unit_price
        FROM lines l JOIN gf USING (_file, _unit) WHERE gf.fate = 'loaded'""")
