"""Customers: new ones are loaded; a later export of a known customer updates it.

Unlike orders, a customer's record legitimately changes (a withdrawn consent must win), so a
known customer with different values is `updated`: non-empty new values replace old ones, an
empty one never erases, attributes are merged and created_at keeps the earliest. Two different
rows for one customer in the same ingest are a conflict: the first stays.
"""

from __future__ import annotations

from tenure.ingest.presets import Preset
from tenure.ingest.stage import parse_check

UNITS = "fate"  # one row per input row: each row is its own unit
FIELDS = ["customer_id", "email", "phone", "name", "created_at", "consent_email", "consent_sms",
          "acquisition_channel", "timezone"]
_VALUES = FIELDS[1:]


def fields(preset: Preset) -> list[str]:
    return FIELDS


def checks(preset: Preset, now_sql: str) -> list[tuple[str, str, str]]:
    return [("missing customer id", "customer_id IS NULL", "NULL"),
            parse_check("created_at", "unparseable date"),
            ("date after the ingest time", f"created_at > {now_sql}", "'created_at=' || created_at"),
            parse_check("consent_email", "consent is not yes/no"),
            parse_check("consent_sms", "consent is not yes/no"),
            ("invalid email", "email IS NOT NULL AND NOT regexp_matches(email, '^[^@\\s]+@[^@\\s]+$')",
             "'email=' || email")]


def _same(a: str, b: str) -> str:
    return " AND ".join(f"{a}.{f} IS NOT DISTINCT FROM {b}.{f}" for f in _VALUES)


def _changes(new: str, old: str) -> str:
    # An update only counts when a non-empty new value differs from what is stored.
    return " OR ".join(f"({new}.{f} IS NOT NULL AND {new}.{f} IS DISTINCT FROM {old}.{f})" for f in _VALUES) + \
        f" OR ({new}._attrs IS NOT NULL AND {old}.attributes IS NULL)"


def classify(con, preset: Preset, currency: str) -> None:
    con.execute(f"""CREATE OR REPLACE TEMP TABLE fate AS
        WITH ok AS (SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY _file, _row) AS k
                    FROM stg WHERE _reason IS NULL),
             firsts AS (SELECT * FROM ok WHERE k = 1)
        SELECT r._file, r._row, r._row AS _unit,
            CASE WHEN r.k > 1 THEN CASE WHEN {_same('r', 'f')} THEN 'redelivered' ELSE 'quarantined' END
                 WHEN c.customer_id IS NULL THEN 'loaded'
                 WHEN {_changes('r', 'c')} THEN 'updated' ELSE 'redelivered' END AS fate,
            CASE WHEN r.k > 1 AND NOT ({_same('r', 'f')}) THEN 'conflicts with an earlier row of this ingest' END AS reason,
            CASE WHEN r.k > 1 AND NOT ({_same('r', 'f')}) THEN 'customer_id=' || r.customer_id END AS detail,
            r.customer_id AS key
        FROM ok r LEFT JOIN customers c ON c.customer_id = r.customer_id
        LEFT JOIN firsts f ON f.customer_id = r.customer_id AND r.k > 1
        UNION ALL
        SELECT _file, _row, _row, 'quarantined', _reason, _detail, customer_id FROM stg WHERE _reason IS NOT NULL""")


def extra_counts(con) -> dict[str, int]:
    return {}


def write(con, preset: Preset) -> None:
    sets = ", ".join(f"{f} = coalesce(n.{f}, customers.{f})" for f in _VALUES if f != "created_at")
    con.execute(f"""UPDATE customers SET {sets},
        created_at = least(n.created_at, customers.created_at),
        attributes = CASE WHEN n._attrs IS NULL THEN customers.attributes
                          WHEN customers.attributes IS NULL THEN n._attrs
                          ELSE json_merge_patch(customers.attributes, n._attrs) END
        FROM (SELECT s.* FROM stg s JOIN fate f USING (_file, _row) WHERE f.fate = 'updated') n
        WHERE customers.customer_id = n.customer_id""")
    con.execute(f"""INSERT INTO customers SELECT customer_id, {', '.join(_VALUES)}, _attrs, 'customers'
        FROM stg JOIN fate USING (_file, _row) WHERE fate.fate = 'loaded'""")
