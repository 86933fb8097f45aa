"""Items posted to the ingest API: checked now, stored in the operational store, loaded by a run.

The server never writes the DuckDB warehouse (one writing process at a time): a posted batch is
checked by the very pipeline that loads files (in a scratch in-memory DuckDB), its good items go
to the store's `inbox`, and the next `tenure run` loads them with the normal ingest, so every
rule (re-delivery, conflicts, updates, quarantine with reasons) is the file ingest's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tenure.ingest.pipeline import ERASED
from tenure.store.tables import erasures, inbox

ENTITIES = {"customers": "customer_id", "orders": "order_id", "events": "event_id"}
# Loaded in this order so an order's customer exists before its order, like a shop's export.
DRAIN_ORDER = ("customers", "orders", "events")
MAX_BATCH = 1000
MAX_LINES = 500  # lines of one posted order
SIBLING = "another line of this order was rejected"  # items.py's reason for a bad line's siblings


@dataclass
class BatchResult:
    batch: str
    received: int
    accepted: int = 0          # stored for the next run (new or already waiting)
    duplicates: int = 0        # identical to an item already waiting: stored once
    rejected: list[dict] = field(default_factory=list)  # {index, reason, detail}


def id_hash(customer_id: str) -> str:
    return hashlib.sha256(str(customer_id).encode()).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _text(value) -> str | None:
    """A JSON value as the text a CSV export would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def flatten(entity: str, item: dict) -> dict[str, str | None]:
    """One API item as one row of text columns. A customer's `attributes` become columns of their
    own (the ingest keeps unmapped columns as attributes); an event's `properties` stay JSON, as
    do an order's `lines` (the order ingest ignores them, but a quarantined order keeps them in
    its `original`; they load through line_rows)."""
    row = {k: _text(v) for k, v in item.items() if not (entity == "customers" and k == "attributes")}
    if entity == "customers" and isinstance(item.get("attributes"), dict):
        for key, value in item["attributes"].items():
            row.setdefault(str(key), _text(value))
    return row


def line_rows(order: dict) -> list[dict[str, str | None]]:
    """A posted order's `lines` as rows of an order_items export."""
    return [flatten("order_items", {**line, "order_id": order["order_id"]}) for line in order.get("lines") or []]


def _write_parquet(rows: list[dict[str, str | None]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    table = pa.table({c: pa.array([r.get(c) for r in rows], type=pa.string()) for c in columns})
    pq.write_table(table, path)


def check(entity: str, items: list[dict], *, now: dt.datetime, timezone: str, currency: str) -> dict[int, tuple[str, str | None]]:
    """Index -> (reason, detail) of every item the file ingest would quarantine, found by running
    that ingest on the batch alone in an in-memory DuckDB. Checks against stored data (a conflict
    with an order already loaded) happen when the run loads the batch."""
    import duckdb

    from tenure import warehouse
    from tenure.ingest import pipeline
    from tenure.ingest.readers import ReadOptions

    if not items:
        return {}
    with tempfile.TemporaryDirectory(prefix="tenure-batch-") as tmp:
        path = Path(tmp) / f"{entity}.parquet"
        _write_parquet([flatten(entity, item) for item in items], path)
        con = duckdb.connect()
        try:
            warehouse.create_tables(con)
            pipeline.run(con, entity=entity, sources=[str(path)], preset_name="generic", mapping={},
                         options=ReadOptions(), now=now, timezone=timezone, currency=currency,
                         max_quarantine_share=1.0, quarantine_dir=Path(tmp) / "q")
            rows = con.execute("SELECT _row, reason, detail FROM fate WHERE fate = 'quarantined' "
                               "ORDER BY _row").fetchall()
            problems = {int(r) - 1: (reason, detail) for r, reason, detail in rows}
            if entity == "orders":
                problems = {**_line_problems(con, items, problems, Path(tmp), now=now, timezone=timezone,
                                             currency=currency), **problems}
        finally:
            con.close()
    return problems


def _line_problems(con, orders: list[dict], problems: dict, tmp: Path, **run) -> dict[int, tuple[str, str | None]]:
    """Index -> (reason, detail) of each order (not already refused) with a line the order_items
    ingest would quarantine; the orders of the batch are in `con` already, as in the warehouse."""
    from tenure.ingest import pipeline
    from tenure.ingest.readers import ReadOptions

    rows, owner = [], []  # owner[i]: (order index, place in its lines) of line row i
    for index, order in enumerate(orders):
        if index not in problems:
            for place, row in enumerate(line_rows(order)):
                rows.append(row)
                owner.append((index, place))
    if not rows:
        return {}
    path = tmp / "order_items.parquet"
    _write_parquet(rows, path)
    con.execute("DROP VIEW IF EXISTS fate")  # the orders' (a view there, a table in the lines' ingest)
    pipeline.run(con, entity="order_items", sources=[str(path)], preset_name="generic", mapping={},
                 options=ReadOptions(), max_quarantine_share=1.0, quarantine_dir=tmp / "q-lines", **run)
    found: dict[int, tuple[str, str | None]] = {}
    bad = con.execute("SELECT _row, reason, detail FROM fate WHERE fate = 'quarantined' "
                      "ORDER BY reason = ?, _row", [SIBLING]).fetchall()
    for r, reason, detail in bad:  # a line's own reason before its siblings'
        index, place = owner[int(r) - 1]
        found.setdefault(index, (reason, f"lines[{place}]" + (f": {detail}" if detail else "")))
    return found


def erased_ids(store, customer_ids: set[str]) -> set[str]:
    hashes = {id_hash(c): c for c in customer_ids}
    if not hashes:
        return set()
    with store.connect() as conn:
        found = conn.execute(sa.select(erasures.c.id_hash).where(erasures.c.id_hash.in_(list(hashes)))).scalars()
        return {hashes[h] for h in found}


def receive(store, entity: str, items: list[dict], *, now: dt.datetime, timezone: str,
            currency: str) -> BatchResult:
    """Check a batch and store its good items for the next run; bad ones are reported by index."""
    result = BatchResult(batch=uuid.uuid4().hex[:16], received=len(items))
    problems = check(entity, items, now=now, timezone=timezone, currency=currency)
    erased = erased_ids(store, {str(i["customer_id"]) for i in items if i.get("customer_id") is not None})
    rows = []
    received_at = _utcnow()
    for index, item in enumerate(items):
        customer = item.get("customer_id")
        if customer is not None and str(customer) in erased:
            problems.setdefault(index, (ERASED, None))
        if index in problems:
            reason, detail = problems[index]
            result.rejected.append({"index": index, "reason": reason, "detail": detail})
            continue
        payload = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
        key = item.get(ENTITIES[entity])
        rows.append({"entity": entity, "item_key": None if key is None else str(key)[:200],
                     "customer_id": None if customer is None else str(customer)[:200],
                     "digest": hashlib.sha256(f"{entity}\n{payload}".encode()).hexdigest(),
                     "payload": payload, "batch": result.batch, "received_at": received_at})
    result.rejected.sort(key=lambda r: r["index"])
    new = _insert_pending(store, rows)
    result.accepted = len(rows)
    result.duplicates = len(rows) - new
    return result


def _insert_pending(store, rows: list[dict]) -> int:
    """Insert, skipping an item identical to one already waiting (the partial unique index)."""
    if not rows:
        return 0
    with store.begin() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(inbox).on_conflict_do_nothing(
            index_elements=["entity", "digest"], index_where=inbox.c.loaded_at.is_(None)).returning(inbox.c.id)
        return len(conn.execute(stmt, rows).all()) if len(rows) > 1 else len(conn.execute(stmt, rows[0]).all())


def _generations(waiting) -> list[list]:
    """Split waiting items so no id repeats within a load, keeping their order: two updates of
    one customer posted before a run load one after the other (the later wins field by field,
    as two exports would), instead of the second being a conflict within one ingest."""
    seen: dict[str, int] = {}
    generations: list[list] = []
    for row in waiting:
        g = 0 if row.item_key is None else seen.get(row.item_key, -1) + 1
        if row.item_key is not None:
            seen[row.item_key] = g
        while len(generations) <= g:
            generations.append([])
        generations[g].append(row)
    return generations


def _load_lines(ws, orders: list[dict], run_id: str, tmp: Path, *, now, done: dict) -> None:
    """The lines of orders just ingested (run `run_id`), as an order_items export loaded after
    its orders. Lines of an order that ingest refused stay with it in the quarantine (its
    `original`): loading them would attach them to the stored version of the order."""
    refused = _refused_keys(ws, run_id)
    lines = [r for order in orders for r in line_rows(order) if r["order_id"] not in refused]
    if lines:
        _write_parquet(lines, tmp / "api-order_items.parquet")
        _add(done.setdefault("order_items", _total()), len(lines), ws.ingest("order_items", [tmp / "api-order_items.parquet"], now=now,
                                          max_quarantine_share=1.0))


def _refused_keys(ws, run_id: str) -> set[str]:
    from tenure import warehouse

    con = warehouse.connect(ws.warehouse_path, read_only=True)
    try:
        return {k for (k,) in con.execute("SELECT DISTINCT key FROM quarantine WHERE run_id = ? AND key IS NOT NULL",
                                          [run_id]).fetchall()}
    finally:
        con.close()


def _total() -> dict:
    return {"items": 0, "runs": [], "read": 0, "rows": {}, "units": {}, "reasons": {}, "extra": {}}


def _add(total: dict, items: int, summary) -> None:
    total["items"] += items
    total["runs"].append(summary.run_id)
    total["read"] += summary.read
    for part in ("rows", "units", "reasons", "extra"):
        for key, n in getattr(summary, part).items():
            total[part][key] = total[part].get(key, 0) + n


def pending(store) -> dict[str, int]:
    """Items waiting for the next run, by entity."""
    with store.connect() as conn:
        rows = conn.execute(sa.select(inbox.c.entity, sa.func.count()).where(inbox.c.loaded_at.is_(None))
                            .group_by(inbox.c.entity)).all()
    return {entity: int(n) for entity, n in rows}


def drain(ws, *, now: dt.datetime | None = None) -> dict[str, dict]:
    """Load every waiting item into the warehouse with the file ingest, entity by entity; mark
    them loaded. The caller holds the workspace lock. A crash between the warehouse's commit and
    the marking loads the items again on the next run: they are then re-deliveries, not doubles."""
    done: dict[str, dict] = {}
    for entity in DRAIN_ORDER:
        with ws.store.connect() as conn:
            waiting = conn.execute(sa.select(inbox.c.id, inbox.c.item_key, inbox.c.payload).where(
                inbox.c.loaded_at.is_(None), inbox.c.entity == entity).order_by(inbox.c.id)).all()
        if not waiting:
            continue
        total = _total()
        for generation in _generations(waiting):
            items = [json.loads(row.payload) for row in generation]
            with tempfile.TemporaryDirectory(prefix="tenure-inbox-") as tmp:
                path = Path(tmp) / f"api-{entity}.parquet"
                _write_parquet([flatten(entity, item) for item in items], path)
                summary = ws.ingest(entity, [path], now=now, max_quarantine_share=1.0)
                if entity == "orders" and any(item.get("lines") for item in items):
                    _load_lines(ws, items, summary.run_id, Path(tmp), now=now, done=done)
            ids = [row.id for row in generation]
            with ws.store.begin() as conn:
                for start in range(0, len(ids), 10_000):
                    conn.execute(inbox.update().where(inbox.c.id.in_(ids[start:start + 10_000]))
                                 .values(loaded_at=_utcnow(), ingest_run=summary.run_id))
            _add(total, len(ids), summary)
        done[entity] = total
    return done


TRACKED_TYPES = {"open": "email_open", "click": "email_click", "unsubscribe": "unsubscribe"}
TRACKING_PREFIX = "trk-"


def tracking_watermark(ws) -> int:
    """The highest tracking event already in the warehouse's events (its id is in the event id)."""
    from tenure import warehouse

    con = warehouse.connect(ws.warehouse_path, read_only=True)
    try:
        found = con.execute("SELECT max(CAST(substr(event_id, 5) AS BIGINT)) FROM events "
                            "WHERE starts_with(event_id, ?)", [TRACKING_PREFIX]).fetchone()[0]
    finally:
        con.close()
    return int(found or 0)


def load_tracking(ws, *, now: dt.datetime | None = None, limit: int = 500_000) -> dict | None:
    """Copy opens, clicks and unsubscribes recorded by the tracking links into the warehouse's
    events (email_open, email_click, unsubscribe), so engagement features and the sunset policy
    see them. The watermark is the warehouse itself (event ids `trk-<id>`): a crash between the
    two stores copies nothing twice. The caller holds the workspace lock."""
    from tenure.store.tables import tracking_events as t

    after = tracking_watermark(ws)
    with ws.store.connect() as conn:
        rows = conn.execute(sa.select(t.c.id, t.c.outbox_key, t.c.customer_id, t.c.type, t.c.occurred_at, t.c.url)
                            .where(t.c.id > after).order_by(t.c.id).limit(limit)).all()
    if not rows:
        return None
    items = [{"event_id": f"{TRACKING_PREFIX}{r.id}", "customer_id": r.customer_id,
              "occurred_at": r.occurred_at.isoformat() + "+00:00",  # the store keeps UTC
              "type": TRACKED_TYPES.get(r.type, r.type),
              "properties": {"message": r.outbox_key, **({"url": r.url} if r.url else {})}} for r in rows]
    with tempfile.TemporaryDirectory(prefix="tenure-tracking-") as tmp:
        path = Path(tmp) / "tracking-events.parquet"
        _write_parquet([flatten("events", item) for item in items], path)
        summary = ws.ingest("events", [path], now=now, max_quarantine_share=1.0)
    return {"items": len(items), "run_id": summary.run_id, **summary.as_dict()}
