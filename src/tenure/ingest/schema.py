"""The canonical warehouse tables: their columns, types and meaning.

This is the contract between every reader and everything downstream. Timestamps are stored as
wall-clock time in the workspace's time zone (naive TIMESTAMP): a shop reasons in its own days.
Money is DECIMAL(18, 4) so that re-delivered orders compare exactly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    doc: str
    required: bool = False


CUSTOMERS = (
    Column("customer_id", "VARCHAR", "the shop's customer id (text; `17850.0` is read as `17850`)", True),
    Column("email", "VARCHAR", "email address, lower-cased"),
    Column("phone", "VARCHAR", "phone number as given"),
    Column("name", "VARCHAR", "display name"),
    Column("created_at", "TIMESTAMP", "when the customer registered or subscribed; for a customer "
           "first seen in orders or events, the time of the first one"),
    Column("consent_email", "BOOLEAN", "may be emailed (true/false/yes/no/1/0; empty = unknown)"),
    Column("consent_sms", "BOOLEAN", "may be sent SMS"),
    Column("acquisition_channel", "VARCHAR", "where the customer came from (ads, organic, referral, ...)"),
    Column("timezone", "VARCHAR", "the customer's IANA time zone, if known"),
    Column("attributes", "JSON", "every other column of the source, as a JSON object"),
    Column("origin", "VARCHAR", "which ingest created the row: customers, orders or events"),
)

ORDERS = (
    Column("order_id", "VARCHAR", "the shop's order (invoice) id; unique", True),
    Column("customer_id", "VARCHAR", "who ordered; empty for a guest order"),
    Column("ordered_at", "TIMESTAMP", "when the order was placed", True),
    Column("status", "VARCHAR", "completed | cancelled | returned"),
    Column("amount", "DECIMAL(18,4)", "order value in `currency` (negative for a cancellation "
           "document such as Online Retail's C invoices)", True),
    Column("currency", "VARCHAR", "ISO 4217 code"),
    Column("channel", "VARCHAR", "sales channel (web, store, app, ...)"),
)

ORDER_ITEMS = (
    Column("order_id", "VARCHAR", "the order the line belongs to", True),
    Column("line", "INTEGER", "1-based line number within the order"),
    Column("sku", "VARCHAR", "product code"),
    Column("name", "VARCHAR", "product name"),
    Column("quantity", "DECIMAL(18,4)", "units (negative on cancellation documents)", True),
    Column("unit_price", "DECIMAL(18,4)", "price of one unit", True),
)

EVENTS = (
    Column("event_id", "VARCHAR", "unique id; derived from the content when the source has none"),
    Column("customer_id", "VARCHAR", "who", True),
    Column("occurred_at", "TIMESTAMP", "when", True),
    Column("type", "VARCHAR", "email_open, email_click, site_visit, subscribe, unsubscribe, review, "
           "referral, or any other lower_snake_case name", True),
    Column("properties", "JSON", "free properties of the event (campaign, url, ...)"),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "customers": CUSTOMERS,
    "orders": ORDERS,
    "order_items": ORDER_ITEMS,
    "events": EVENTS,
}

# Bookkeeping tables of the warehouse, written in the same transaction as the data they describe.
BOOKKEEPING_DDL = {
    "ingest_runs": """
        CREATE TABLE IF NOT EXISTS ingest_runs (
            run_id VARCHAR, entity VARCHAR, preset VARCHAR, sources VARCHAR,
            started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR, counts JSON)""",
    "quarantine": """
        CREATE TABLE IF NOT EXISTS quarantine (
            run_id VARCHAR, entity VARCHAR, source VARCHAR, source_row BIGINT,
            key VARCHAR, reason VARCHAR, detail VARCHAR, original JSON)""",
    # Customers erased on request (sha256 of the id, not the id): an ingest rejects their rows,
    # so a re-delivered export does not bring them back.
    "erased_customers": """
        CREATE TABLE IF NOT EXISTS erased_customers (id_hash VARCHAR PRIMARY KEY, erased_at TIMESTAMP)""",
}


def create_table_sql(table: str) -> str:
    cols = ", ".join(f'"{c.name}" {c.sql_type}' for c in TABLES[table])
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols})"


def field_names(table: str) -> list[str]:
    return [c.name for c in TABLES[table]]
