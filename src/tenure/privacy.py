"""Everything held about one person: export it, or erase it (GDPR articles 15 and 17).

Erasure removes the person's rows from the warehouse, every stored snapshot and transition
file, the quarantine (table and CSV files), the Spark export and the operational store, and
puts a hash of their id on the erasure list so that a re-delivered export or API post does not
bring them back. Aggregates stay: run logs and ingest counts are not rewritten. It runs under
the workspace lock and is idempotent, so an erasure cut short is finished by running it again.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from tenure import warehouse
from tenure.ingest.inbox import id_hash
from tenure.ingest.sql import lit
from tenure.store import tables as st

# Operational tables keyed by customer_id, erased and exported alike.
STORE_TABLES = ("enrollments", "outbox", "consents", "suppressions", "tracking_events", "tasks",
                "sunset_offers", "inbox", "loyalty_ledger")
WAREHOUSE_TABLES = ("customers", "orders", "events")


def _jsonable(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)


def _rows(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [{n: _jsonable(v) for n, v in zip(names, row)} for row in cursor.fetchall()]


def _mentions(customer_id: str) -> str:
    """A regular expression finding the id as a JSON value (text, or a number like 17850.0)."""
    return r'":\s*"?' + re.escape(customer_id) + r'(\.0+)?"?\s*[,}]'


# -- reading --------------------------------------------------------------------------------------
def warehouse_rows(ws, customer_id: str) -> dict[str, list[dict]]:
    con = warehouse.connect(ws.warehouse_path, read_only=True)
    try:
        out = {t: _rows(con.execute(f"SELECT * FROM {t} WHERE customer_id = ?", [customer_id]))
               for t in WAREHOUSE_TABLES}
        out["order_items"] = _rows(con.execute(
            "SELECT i.* FROM order_items i JOIN orders o USING (order_id) WHERE o.customer_id = ? "
            "ORDER BY i.order_id, i.line", [customer_id]))
        out["quarantine"] = _rows(con.execute(
            "SELECT * FROM quarantine WHERE key = ? OR regexp_matches(CAST(original AS VARCHAR), ?)",
            [customer_id, _mentions(customer_id)]))
    finally:
        con.close()
    return out


def snapshot_rows(ws, customer_id: str) -> list[dict]:
    import duckdb

    if not ws.history.dates():
        return []
    con = duckdb.connect()
    try:
        pattern = str(ws.history.folder / "snapshot-*.parquet")
        return _rows(con.execute(f"SELECT * FROM read_parquet(?, union_by_name = true) WHERE customer_id = ? "
                                 "ORDER BY as_of", [pattern, customer_id]))
    finally:
        con.close()


def store_rows(store, customer_id: str) -> dict[str, list[dict]]:
    out = {}
    with store.connect() as conn:
        for name in STORE_TABLES:
            table = st.metadata.tables[name]
            out[name] = [{k: _jsonable(v) for k, v in r._mapping.items()}
                         for r in conn.execute(sa.select(table).where(table.c.customer_id == customer_id)
                                               .order_by(table.c.id))]
        keys = [r["id"] for r in out["outbox"]]
        out["delivery_attempts"] = [{k: _jsonable(v) for k, v in r._mapping.items()} for r in conn.execute(
            sa.select(st.delivery_attempts).where(st.delivery_attempts.c.outbox_id.in_(keys)))] if keys else []
    return out


def export(ws, customer_id: str) -> dict | None:
    """Everything held about `customer_id`, as JSON-ready data; None when nothing is held."""
    from tenure.campaigns.runner import store_in_use

    held = {"customer_id": customer_id, "warehouse": warehouse_rows(ws, customer_id),
            "snapshots": snapshot_rows(ws, customer_id),
            "operational_store": store_rows(ws.store, customer_id) if store_in_use(ws) else {}}
    found = (any(held["warehouse"].values()) or held["snapshots"]
             or any(held["operational_store"].values()))
    return held if found else None


# -- erasing --------------------------------------------------------------------------------------
def erase(ws, customer_id: str, *, wait: float = 30.0) -> dict[str, int]:
    """Remove `customer_id` everywhere (see the module's docstring); rows removed, by place."""
    counts: dict[str, int] = {}
    with ws.lock(wait=wait):
        counts.update(_erase_warehouse(ws, customer_id))
        counts.update(_erase_files(ws, customer_id))
        counts.update(_erase_store(ws, customer_id, dict(counts)))
    return counts


def _erase_warehouse(ws, customer_id: str) -> dict[str, int]:
    counts = {}
    con = warehouse.connect(ws.warehouse_path)
    try:
        warehouse.create_tables(con)
        con.execute("BEGIN TRANSACTION")
        counts["warehouse.order_items"] = con.execute(
            "DELETE FROM order_items WHERE order_id IN (SELECT order_id FROM orders WHERE customer_id = ?)",
            [customer_id]).fetchone()[0]
        for table in WAREHOUSE_TABLES:
            counts[f"warehouse.{table}"] = con.execute(f"DELETE FROM {table} WHERE customer_id = ?",
                                                       [customer_id]).fetchone()[0]
        counts["warehouse.quarantine"] = con.execute(
            "DELETE FROM quarantine WHERE key = ? OR regexp_matches(CAST(original AS VARCHAR), ?)",
            [customer_id, _mentions(customer_id)]).fetchone()[0]
        con.execute("INSERT INTO erased_customers VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [id_hash(customer_id), dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return counts


def _erase_files(ws, customer_id: str) -> dict[str, int]:
    import duckdb

    from tenure.history import write_atomically

    snapshots = transitions = 0
    folder = ws.history.folder
    con = duckdb.connect()
    try:
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
            n = con.execute("SELECT count(*) FROM read_parquet(?) WHERE customer_id = ?",
                            [str(path), customer_id]).fetchone()[0]
            if not n:
                continue
            write_atomically(path, lambda tmp: con.execute(
                f"COPY (SELECT * FROM read_parquet({lit(str(path))}) WHERE customer_id IS DISTINCT FROM "
                f"{lit(customer_id)}) TO {lit(str(tmp))} (FORMAT parquet)"))
            if path.name.startswith("snapshot-"):
                snapshots += n
            else:
                transitions += n
    finally:
        con.close()
    quarantined = _erase_quarantine_files(ws.quarantine_dir, customer_id)
    spark = ws.root / "spark"
    if spark.is_dir():  # a cache of the warehouse for Spark: made again on the next run
        shutil.rmtree(spark)
    return {"snapshots.rows": snapshots, "transitions.rows": transitions, "quarantine_files.rows": quarantined}


def _erase_quarantine_files(folder: Path, customer_id: str) -> int:
    removed = 0
    mention = re.compile(_mentions(customer_id))
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        if customer_id not in text:
            continue
        rows = list(csv.DictReader(text.splitlines(keepends=True)))
        kept = [r for r in rows if r.get("key") != customer_id and not mention.search(r.get("original") or "")]
        if len(kept) == len(rows):
            continue
        removed += len(rows) - len(kept)
        tmp = path.with_name(f".{path.name}.partial")
        with tmp.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(kept)
        tmp.replace(path)
    return removed


def _erase_store(ws, customer_id: str, so_far: dict[str, int]) -> dict[str, int]:
    counts = {}
    with ws.store.begin() as conn:
        outbox_ids = sa.select(st.outbox.c.id).where(st.outbox.c.customer_id == customer_id)
        counts["store.delivery_attempts"] = conn.execute(
            st.delivery_attempts.delete().where(st.delivery_attempts.c.outbox_id.in_(outbox_ids))).rowcount
        for name in STORE_TABLES:
            table = st.metadata.tables[name]
            counts[f"store.{name}"] = conn.execute(table.delete().where(table.c.customer_id == customer_id)).rowcount
        counts["store.loyalty_accounts"] = conn.execute(
            st.loyalty_accounts.delete().where(st.loyalty_accounts.c.customer_id == customer_id)).rowcount
        record = {**so_far, **counts}
        hashed = id_hash(customer_id)
        if conn.execute(sa.select(st.erasures.c.id).where(st.erasures.c.id_hash == hashed)).first() is None:
            conn.execute(st.erasures.insert().values(id_hash=hashed, counts=record,
                                                     erased_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)))
    return counts


def is_erased(store, customer_id: str) -> bool:
    with store.connect() as conn:
        return conn.execute(sa.select(st.erasures.c.id).where(st.erasures.c.id_hash == id_hash(customer_id))).first() is not None


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, default=str, ensure_ascii=False)
