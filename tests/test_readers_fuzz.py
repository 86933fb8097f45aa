"""Hypothesis: whatever bytes or CSV-like text arrive, a reader either loads cleanly (every row
accounted for) or stops with a TenureError; no other exception ever escapes."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenure import TenureError, Workspace
from tests.conftest import NOW

_counter = itertools.count()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

cell = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(["", "o1", "c1", "2025-01-02", "2025-13-45 25:00", "12.5", "-3", "1e400", '"', '""',
                     "2025-01-02T10:00:00+02:00", "NaN", "completed", "refunded", "\t", "\r\n"]),
)
header = st.lists(st.sampled_from(["order_id", "customer_id", "ordered_at", "amount", "status",
                                   "currency", "channel", "x", ""]), min_size=1, max_size=6)


def _ingest(ws: Workspace, path, entity="orders"):
    try:
        summary = ws.ingest(entity, [path], now=NOW, max_quarantine_share=1.0)
    except TenureError as exc:
        assert "\n" not in str(exc)
        return None
    assert summary.accounted
    return summary


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".csv.gz", ".parquet", ".xlsx", ".tsv"]))
def test_random_bytes(ws, tmp_path, data, suffix):
    path = tmp_path / f"f{next(_counter)}{suffix}"
    path.write_bytes(data)
    _ingest(ws, path)


@FUZZ
@given(cols=header, rows=st.lists(st.lists(cell, min_size=0, max_size=7), max_size=8),
       sep=st.sampled_from([",", ";"]), entity=st.sampled_from(["orders", "customers", "events", "order_items"]))
def test_random_csv_like_text(ws, tmp_path, cols, rows, sep, entity):
    text = sep.join(cols) + "\n" + "".join(sep.join(r) + "\n" for r in rows)
    path = tmp_path / f"t{next(_counter)}.csv"
    path.write_text(text, encoding="utf-8")
    _ingest(ws, path, entity)


@FUZZ
@given(rows=st.lists(st.tuples(st.sampled_from(["o1", "o2", "o3", ""]), cell, cell, cell), max_size=10))
def test_well_formed_header_random_values(ws, tmp_path, rows):
    import csv

    path = tmp_path / f"w{next(_counter)}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["order_id", "customer_id", "ordered_at", "amount"])
        out.writerows(rows)
    summary = _ingest(ws, path)
    if summary is not None:  # every row that loaded is a valid order, the rest are explained
        assert sum(summary.reasons.values()) == summary.count("quarantined")
