"""From a staged source to typed canonical rows: resolve the columns, coerce, find bad rows.

The result is one row per input row in the temp table `stg`, with the canonical fields typed,
the raw text of every parsed field (to explain a rejection), `_skip` for adjustment rows and
`_reason`/`_detail` for the first problem found. Nothing is dropped here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tenure.errors import MappingError
from tenure.ingest import coerce
from tenure.ingest.presets import Preset
from tenure.ingest.readers import Staged
from tenure.ingest.sql import ident, lit

# canonical field -> how it is read
KINDS = {
    "customer_id": "identifier", "order_id": "identifier", "event_id": "identifier",
    "email": "lower", "phone": "text", "name": "text", "acquisition_channel": "text",
    "timezone": "text", "channel": "text", "sku": "text", "type": "lower", "properties": "text",
    "currency": "upper", "status": "lower",
    "created_at": "timestamp", "ordered_at": "timestamp", "occurred_at": "timestamp",
    "consent_email": "boolean", "consent_sms": "boolean",
    "amount": "money", "quantity": "money", "unit_price": "money", "line": "integer",
}
PARSED = ("timestamp", "money", "integer", "boolean")
_TEMPLATE_FIELD = re.compile(r"\{(\w+)\}")


@dataclass
class Resolved:
    columns: dict[str, str]  # canonical field -> source column
    types: dict[str, str]    # source column -> DuckDB type
    extras: list[str]        # source columns mapped to no field (customer attributes)


def resolve(preset: Preset, staged: Staged, mapping: dict[str, str]) -> Resolved:
    """Pick the source column of each field: --map first, then the preset's candidates."""
    by_lower = {c.lower().strip(): c for c in staged.columns}
    unknown = sorted(set(mapping) - set(preset.columns) - set(KINDS))
    if unknown:
        raise MappingError(f"--map names unknown field(s) {', '.join(unknown)} for {preset.entity}",
                           fix=f"fields are: {', '.join(sorted(preset.columns))}")
    columns: dict[str, str] = {}
    for fld, candidates in {**preset.columns, **{f: () for f in mapping}}.items():
        wanted = (mapping[fld],) if fld in mapping else candidates
        found = next((by_lower[c.lower()] for c in wanted if c.lower() in by_lower), None)
        if fld in mapping and found is None:
            raise MappingError(f"{staged.source}: --map {fld}={mapping[fld]} names no column; "
                               f"found: {_shown(staged.columns)}")
        if found is not None:
            columns[fld] = found
    missing = [f for f in preset.required if f not in columns]
    if missing:
        want = "; ".join(f"{f} (one of: {', '.join(preset.columns.get(f, (f,)))})" for f in missing)
        raise MappingError(
            f"{staged.source}: missing column for {want}; found: {_shown(staged.columns)}",
            fix=f"map it with --map {missing[0]}=COLUMN, or check the --preset",
        )
    used = set(columns.values())
    extras = [c for c in staged.columns if c not in used and not c.startswith("_")]
    return Resolved(columns=columns, types=dict(staged.columns), extras=extras)


def _shown(columns: dict[str, str]) -> str:
    names = [c for c in columns if not c.startswith("_")]
    return ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")


def field_sql(fld: str, preset: Preset, res: Resolved, timezone: str) -> tuple[str, str] | None:
    """(typed expression, source expression) of a field, or None when it is not in the source."""
    template = preset.exprs.get(fld)
    if template is not None:
        raw = _TEMPLATE_FIELD.sub(lambda m: _col(m.group(1), res), template)
        src_type = "VARCHAR"
    elif fld in res.columns:
        raw = ident(res.columns[fld])
        src_type = res.types[res.columns[fld]]
    else:
        return None
    kind = KINDS.get(fld, "text")
    if kind == "identifier":
        typed = coerce.identifier(raw, src_type)
    elif kind == "timestamp":
        typed = coerce.timestamp(raw, src_type, timezone, preset.date_format)
    elif kind == "money":
        typed = coerce.money(raw, src_type)
    elif kind == "integer":
        typed = coerce.integer(raw, src_type)
    elif kind == "boolean":
        typed = coerce.boolean(raw, src_type)
    elif kind == "lower":
        typed = f"lower({coerce.text(raw, src_type)})"
    elif kind == "upper":
        typed = f"upper({coerce.text(raw, src_type)})"
    else:
        typed = coerce.text(raw, src_type)
    return typed, raw


def _col(fld: str, res: Resolved) -> str:
    return ident(res.columns[fld]) if fld in res.columns else "NULL"


def attributes_sql(preset: Preset, res: Resolved) -> str:
    """JSON object of the extra source columns kept with a customer, or NULL."""
    if preset.attributes == ("*",):
        names = res.extras
    else:
        lower = {c.lower(): c for c in res.types}
        names = [lower[a.lower()] for a in preset.attributes if a.lower() in lower]
    if not names:
        return "CAST(NULL AS JSON)"
    pairs = ", ".join(f"{lit(n.lower().replace(' ', '_'))}, {ident(n)}" for n in names)
    return f"json_object({pairs})"


def select_sql(preset: Preset, res: Resolved, fields: list[str], staged: Staged, file_no: int,
               timezone: str, checks) -> str:
    """SELECT producing the `stg` rows of one source (see the module docstring).

    The source value of each parsed field rides along as `_src_<field>` only to the checks: it
    is turned into text inside the CASE of a failing row alone, never for the good rows.
    """
    parts = [f"{file_no} AS _file", "_row"]
    carried = []
    for fld in fields:
        sql = field_sql(fld, preset, res, timezone)
        typed, src = sql if sql else ("NULL", "NULL")
        parts.append(f"{typed} AS {ident(fld)}")
        if KINDS.get(fld) in PARSED or fld in ("status", "type", "properties"):
            carried.append(ident("_src_" + fld))
            parts.append(f"{src} AS {carried[-1]}")
    skip = _TEMPLATE_FIELD.sub(lambda m: _col(m.group(1), res), preset.skip) if preset.skip else "false"
    parts.append(f"coalesce({skip}, false) AS _skip")
    parts.append(f"{attributes_sql(preset, res)} AS _attrs")
    inner = f"SELECT {', '.join(parts)} FROM {ident(staged.view)}"
    reason, detail = checks_sql(checks)
    exclude = f" EXCLUDE ({', '.join(carried)})" if carried else ""
    return f"SELECT *{exclude}, {reason} AS _reason, {detail} AS _detail FROM ({inner})"


_RAW = re.compile(r"\{raw:(\w+)\}")


def checks_sql(checks: list[tuple[str, str, str]]) -> tuple[str, str]:
    """CASE expressions for the first failing (reason, condition, detail) check.

    `{raw:field}` in a condition or detail is the field's source value as text.
    """
    if not checks:
        return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"

    def raw(sql: str) -> str:
        return _RAW.sub(lambda m: coerce.raw_text(ident("_src_" + m.group(1))), sql)

    reason = "CASE " + " ".join(f"WHEN {raw(cond)} THEN {lit(r)}" for r, cond, _ in checks) + " END"
    detail = "CASE " + " ".join(f"WHEN {raw(cond)} THEN {raw(d)}" for _, cond, d in checks) + " END"
    return reason, detail


def parse_check(fld: str, reason: str) -> tuple[str, str, str]:
    """A value was present in the source but could not be read."""
    return (reason, f"{ident(fld)} IS NULL AND {{raw:{fld}}} IS NOT NULL", f"{lit(fld + '=')} || {{raw:{fld}}}")
