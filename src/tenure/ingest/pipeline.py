"""One ingest, start to end: stage every source, classify every row, then write in one
transaction, or nothing at all. Reading errors surface before the first write."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import replace
from pathlib import Path

import duckdb

from tenure.errors import MappingError, QuarantineLimitError, SourceError
from tenure.ingest import customers, events, items, orders, readers, stage
from tenure.ingest.presets import Preset, get_preset
from tenure.ingest.readers import ReadOptions
from tenure.ingest.sql import ident, lit
from tenure.ingest.summary import IngestSummary

ERASED = "customer erased (privacy request)"
ENTITY_MODULES = {"orders": orders, "customers": customers, "events": events, "order_items": items}


def run(con: duckdb.DuckDBPyConnection, *, entity: str, sources: list[str], preset_name: str,
        mapping: dict[str, str], options: ReadOptions, now: dt.datetime, timezone: str,
        currency: str, max_quarantine_share: float, quarantine_dir: Path,
        date_format: str | None = None, progress=None) -> IngestSummary:
    """Ingest `sources` into the warehouse behind `con`. `now` is wall-clock in `timezone`."""
    if entity not in ENTITY_MODULES:
        raise SourceError(f"unknown table {entity!r}", fix=f"use one of: {', '.join(ENTITY_MODULES)}")
    if not sources:
        raise SourceError("no input given", fix="name at least one file or database URL")
    module = ENTITY_MODULES[entity]
    preset = get_preset(preset_name, entity)
    if date_format:
        preset = replace(preset, date_format=date_format)
    run_id = now.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    summary = IngestSummary(run_id=run_id, entity=entity, preset=preset.name, sources=[])
    started = dt.datetime.now()
    con.execute(f"SET TimeZone = {lit(timezone)}")
    now_sql = f"TIMESTAMP {lit(now.strftime('%Y-%m-%d %H:%M:%S'))}"

    staged_list = []
    for i, source in enumerate(sources):
        opts = _merge(preset.read, options)
        staged = readers.stage(con, source, f"raw_{i}", opts)
        res = stage.resolve(preset, staged, mapping)
        if i == 0:
            preset = _adapt(preset, res, staged.source)
        sql = stage.select_sql(preset, res, module.fields(preset), staged, i, timezone,
                               module.checks(preset, now_sql))
        try:
            con.execute(("CREATE OR REPLACE TEMP TABLE stg AS " if i == 0 else "INSERT INTO stg ") + sql)
        except duckdb.Error as exc:
            raise _explain(opts, source, staged.source, exc)
        staged_list.append(staged)
        summary.sources.append(staged.source)
        if progress:
            progress(staged.source)

    _reject_erased(con, entity)
    module.classify(con, preset, currency)
    _count(con, summary, module)
    summary.extra = module.extra_counts(con)
    if summary.quarantined_share > max_quarantine_share:
        summary.status = "rolled back"
        summary.quarantine_file = _export_quarantine(con, staged_list, summary, quarantine_dir)
        _record(con, summary, started)
        raise QuarantineLimitError(
            f"{summary.quarantined_share:.1%} of the {summary.read:,} rows were quarantined, over the "
            f"limit of {max_quarantine_share:.1%}; nothing was loaded; the rejected rows are in "
            f"{summary.quarantine_file}",
            fix="fix the mapping or the file, or raise ingest.max_quarantine_share (--max-quarantine-share)",
        )
    con.execute("BEGIN TRANSACTION")
    try:
        module.write(con, preset)
        _store_quarantine(con, staged_list, summary)
        _record(con, summary, started)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    if summary.count("quarantined") or summary.count("adjustment"):
        summary.quarantine_file = _export_quarantine(con, staged_list, summary, quarantine_dir)
    return summary


def _reject_erased(con, entity: str) -> None:
    """Rows of an erased customer are rejected (and their content not kept: see _rejected_sql)."""
    if entity == "order_items" or not con.execute("SELECT count(*) FROM erased_customers").fetchone()[0]:
        return
    con.execute(f"""UPDATE stg SET _reason = {lit(ERASED)}, _detail = NULL
        WHERE _reason IS NULL AND customer_id IS NOT NULL
          AND sha256(customer_id) IN (SELECT id_hash FROM erased_customers)""")


def _merge(base: ReadOptions, given: ReadOptions) -> ReadOptions:
    return ReadOptions(**{k: getattr(given, k) or getattr(base, k) for k in base.__dataclass_fields__})


def _adapt(preset: Preset, res: stage.Resolved, source: str) -> Preset:
    """A generic orders file with line columns is read one row per line."""
    if preset.name != "generic" or preset.entity != "orders":
        return preset
    has_lines = {"quantity", "unit_price"} <= set(res.columns)
    if has_lines:
        return replace(preset, line_level=True, amount_from_lines="amount" not in res.columns)
    if "amount" not in res.columns:
        raise MappingError(f"{source}: missing column for amount (or quantity and unit_price)",
                           fix="map it with --map amount=COLUMN")
    return preset


def _explain(opts: ReadOptions, source: str, shown: str, exc: duckdb.Error) -> SourceError:
    kind = readers.reader_for(source, opts)
    if kind in ("csv", "whitespace"):
        from tenure.ingest.readers.csv import explain
        return explain(shown, exc)
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "unreadable")
    return SourceError(f"{shown}: cannot read it ({first[:160]})", fix="check the file's format")


def _count(con, summary: IngestSummary, module) -> None:
    summary.read = con.execute("SELECT count(*) FROM stg").fetchone()[0]
    for fate, reason, rows in con.execute("SELECT fate, reason, count(*) FROM fate GROUP BY ALL").fetchall():
        summary.rows[fate] = summary.rows.get(fate, 0) + rows
        if fate == "quarantined":
            summary.reasons[reason] = summary.reasons.get(reason, 0) + rows
    # Units (orders, customers, events) by fate: an order with a rejected line is quarantined
    # whole, so its unit fate is always that of its rows.
    for fate, n in con.execute(f"SELECT fate, count(*) FROM {module.UNITS} GROUP BY fate").fetchall():
        summary.units[fate] = n


def _rejected_sql(staged_list, summary: IngestSummary) -> str:
    parts = [f"""SELECT {lit(summary.run_id)} AS run_id, {lit(summary.entity)} AS entity,
        {lit(s.source)} AS source, f._row AS source_row, f.key, f.reason, f.detail,
        CASE WHEN f.reason = {lit(ERASED)} THEN NULL ELSE to_json(r) END AS original
        FROM (SELECT * FROM fate WHERE _file = {i} AND fate IN ('quarantined', 'adjustment')) f
        JOIN {ident(s.view)} r ON r._row = f._row""" for i, s in enumerate(staged_list)]
    return " UNION ALL ".join(parts) + " ORDER BY source, source_row"


def _store_quarantine(con, staged_list, summary: IngestSummary) -> None:
    if summary.count("quarantined") or summary.count("adjustment"):
        con.execute(f"INSERT INTO quarantine {_rejected_sql(staged_list, summary)}")


def _export_quarantine(con, staged_list, summary: IngestSummary, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{summary.run_id}-{summary.entity}.csv"
    con.execute(f"COPY ({_rejected_sql(staged_list, summary)}) TO {lit(str(path))} (HEADER, DELIMITER ',')")
    return str(path)


def _record(con, summary: IngestSummary, started: dt.datetime) -> None:
    con.execute(
        "INSERT INTO ingest_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [summary.run_id, summary.entity, summary.preset, json.dumps(summary.sources), started,
         dt.datetime.now(), summary.status, json.dumps(summary.as_dict())],
    )

