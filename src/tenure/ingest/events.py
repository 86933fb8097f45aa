"""Engagement events (email opens and clicks, visits, subscriptions, reviews, referrals).

An event without an id gets one derived from its content, so loading the same export twice
finds the same ids. A customer seen first in events is created with origin 'events'.
"""

from __future__ import annotations

from tenure.ingest.presets import Preset
from tenure.ingest.stage import parse_check

UNITS = "fate"  # one row per input row: each row is its own unit
FIELDS = ["event_id", "customer_id", "occurred_at", "type", "properties"]


def fields(preset: Preset) -> list[str]:
    return FIELDS


def checks(preset: Preset, now_sql: str) -> list[tuple[str, str, str]]:
    return [("missing customer id", "customer_id IS NULL", "NULL"),
            ("missing date", "occurred_at IS NULL AND {raw:occurred_at} IS NULL", "NULL"),
            parse_check("occurred_at", "unparseable date"),
            ("date after the ingest time", f"occurred_at > {now_sql}", "'occurred_at=' || occurred_at"),
            ("missing event type", "type IS NULL", "NULL"),
            ("invalid event type", "NOT regexp_matches(type, '^[a-z][a-z0-9_]*$')", "'type=' || {raw:type}"),
            ("properties are not JSON", "properties IS NOT NULL AND NOT json_valid(properties)",
             "'properties=' || left(properties, 80)")]


_SAME = ("r.customer_id = {b}.customer_id AND r.occurred_at = {b}.occurred_at AND r.type = {b}.type "
         "AND r.properties IS NOT DISTINCT FROM {b}.properties")


def classify(con, preset: Preset, currency: str) -> None:
    con.execute("""CREATE OR REPLACE TEMP TABLE ev AS SELECT * REPLACE (
            coalesce(event_id, md5(concat_ws('|', customer_id, occurred_at, type, properties))) AS event_id,
            CAST(properties AS JSON) AS properties)
        FROM stg WHERE _reason IS NULL""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE fate AS
        WITH ok AS (SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY _file, _row) AS k FROM ev),
             firsts AS (SELECT * FROM ok WHERE k = 1)
        SELECT r._file, r._row, r._row AS _unit,
            CASE WHEN e.event_id IS NOT NULL THEN CASE WHEN {_SAME.format(b='e')} THEN 'redelivered' ELSE 'quarantined' END
                 WHEN r.k > 1 THEN CASE WHEN {_SAME.format(b='f')} THEN 'redelivered' ELSE 'quarantined' END
                 ELSE 'loaded' END AS fate,
            CASE WHEN e.event_id IS NOT NULL THEN 'conflicts with an event already loaded'
                 WHEN r.k > 1 THEN 'conflicts with an earlier row of this ingest' END AS reason,
            'event_id=' || r.event_id AS detail, r.event_id AS key
        FROM ok r LEFT JOIN events e ON e.event_id = r.event_id
        LEFT JOIN firsts f ON f.event_id = r.event_id AND r.k > 1
        UNION ALL
        SELECT _file, _row, _row, 'quarantined', _reason, _detail, event_id FROM stg WHERE _reason IS NOT NULL""")
    con.execute("UPDATE fate SET reason = NULL, detail = NULL WHERE fate <> 'quarantined'")


def extra_counts(con) -> dict[str, int]:
    return {}


def write(con, preset: Preset) -> None:
    con.execute("""INSERT INTO events SELECT ev.event_id, ev.customer_id, ev.occurred_at, ev.type, ev.properties
        FROM ev JOIN fate USING (_file, _row) WHERE fate.fate = 'loaded'""")
    con.execute("""INSERT INTO customers (customer_id, created_at, origin)
        SELECT ev.customer_id, min(ev.occurred_at), 'events' FROM ev JOIN fate USING (_file, _row)
        WHERE fate.fate = 'loaded'
          AND ev.customer_id NOT IN (SELECT customer_id FROM customers WHERE customer_id IS NOT NULL)
        GROUP BY ev.customer_id""")
