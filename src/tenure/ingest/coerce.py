"""SQL expressions that turn a source column (of whatever type the reader gave) into a canonical
value, or NULL when it cannot be read. The caller compares "raw present" with "parsed NULL" to
quarantine the row with a reason; nothing here raises on bad data.
"""

from __future__ import annotations

from tenure.ingest.sql import lit

_TEXT = ("VARCHAR", "JSON")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL")


def _is_text(src_type: str) -> bool:
    return src_type.upper().startswith(_TEXT)


def blank_to_null(expr: str, src_type: str) -> str:
    return f"nullif(trim({expr}), '')" if _is_text(src_type) else expr


def text(expr: str, src_type: str) -> str:
    """Free text: trimmed, empty is NULL."""
    if _is_text(src_type):
        return blank_to_null(expr, src_type)
    return f"CAST({expr} AS VARCHAR)"


def identifier(expr: str, src_type: str) -> str:
    """An id: text, with spreadsheet artefacts undone (17850.0 -> 17850)."""
    t = src_type.upper()
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return f"CASE WHEN {expr} = trunc({expr}) THEN CAST(CAST({expr} AS HUGEINT) AS VARCHAR) ELSE CAST({expr} AS VARCHAR) END"
    if not _is_text(t):
        return f"CAST({expr} AS VARCHAR)"
    return f"regexp_replace(nullif(trim({expr}), ''), '^(-?[0-9]+)\\.0+$', '\\1')"


def money(expr: str, src_type: str) -> str:
    """DECIMAL(18,4); text may carry blanks but no currency signs or thousands separators."""
    if src_type.upper() in _NUMERIC or src_type.upper().startswith("DECIMAL"):
        return f"TRY_CAST({expr} AS DECIMAL(18,4))"
    return f"TRY_CAST(nullif(trim(CAST({expr} AS VARCHAR)), '') AS DECIMAL(18,4))"


def integer(expr: str, src_type: str) -> str:
    return f"TRY_CAST({blank_to_null(expr, src_type)} AS INTEGER)"


def boolean(expr: str, src_type: str) -> str:
    if src_type.upper() == "BOOLEAN":
        return expr
    v = f"lower(trim(CAST({expr} AS VARCHAR)))"
    return (f"CASE WHEN {v} IN ('true','t','yes','y','1','1.0','opted_in','subscribed') THEN true "
            f"WHEN {v} IN ('false','f','no','n','0','0.0','opted_out','unsubscribed','not_subscribed') THEN false END")


def timestamp(expr: str, src_type: str, timezone: str, date_format: str | None = None) -> str:
    """Wall-clock TIMESTAMP in the workspace zone.

    Zoneless values are read in `timezone` (the connection's TimeZone is set to it), zoned ones
    are converted; `+0100`, ` -05:00` and `Z` suffixes are all accepted.
    """
    t = src_type.upper()
    zone = lit(timezone)
    if t in ("TIMESTAMP", "DATE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
        return f"CAST({expr} AS TIMESTAMP)"
    if t.startswith("TIMESTAMP WITH TIME ZONE") or t == "TIMESTAMPTZ":
        return f"timezone({zone}, {expr})"
    raw = f"nullif(trim(CAST({expr} AS VARCHAR)), '')"
    if date_format:
        parsed = f"try_strptime({raw}, {lit(date_format)})"
        if "%z" in date_format or "%Z" in date_format:
            return f"timezone({zone}, {parsed})"
        return f"CAST({parsed} AS TIMESTAMP)"
    # Most exports carry no offset: a plain cast is much cheaper than a zone conversion.
    # Offsets (" -0500", "+01:00", "+0100", "Z") are normalised to "+HH:MM" and converted.
    zoned = f"regexp_matches({raw}, '([+-][0-9]{{2}}:?[0-9]{{2}}|Z)$')"
    norm = f"regexp_replace({raw}, '\\s*([+-][0-9]{{2}}):?([0-9]{{2}})$', '\\1:\\2')"
    return (f"CASE WHEN {zoned} THEN timezone({zone}, TRY_CAST({norm} AS TIMESTAMPTZ)) "
            f"ELSE TRY_CAST({raw} AS TIMESTAMP) END")


def raw_text(expr: str) -> str:
    """The value as the user would recognise it, for quarantine details."""
    return f"nullif(trim(CAST({expr} AS VARCHAR)), '')"
