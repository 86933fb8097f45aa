"""The export files: exact schemas, and writers that work in a background thread.

Each file gets its own single-thread writer, so Parquet/CSV encoding (which releases the GIL)
overlaps with numpy generating the next chunk; at most two chunks per file are in flight, which
bounds memory. Files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TS = pa.timestamp("us")
SCHEMAS = {
    "customers": pa.schema([
        ("customer_id", pa.string()), ("email", pa.string()), ("phone", pa.string()),
        ("name", pa.string()), ("created_at", TS), ("consent_email", pa.bool_()),
        ("consent_sms", pa.bool_()), ("acquisition_channel", pa.string()),
        ("timezone", pa.string()), ("country", pa.string()),
    ]),
    "orders": pa.schema([
        ("order_id", pa.string()), ("customer_id", pa.string()), ("ordered_at", TS),
        ("status", pa.string()), ("amount", pa.float64()), ("currency", pa.string()),
        ("channel", pa.string()),
    ]),
    "order_items": pa.schema([
        ("order_id", pa.string()), ("line", pa.int32()), ("sku", pa.string()),
        ("name", pa.string()), ("quantity", pa.int32()), ("unit_price", pa.float64()),
    ]),
    "events": pa.schema([
        ("event_id", pa.string()), ("customer_id", pa.string()), ("occurred_at", TS),
        ("type", pa.string()), ("properties", pa.string()),
    ]),
}


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    # Whole seconds print as `YYYY-MM-DD HH:MM:SS`, the ISO form the brief asks for.
    return pa.schema([pa.field(f.name, pa.timestamp("s")) if f.type == TS else f for f in schema])


class Sink:
    """One output file, written chunk by chunk in a background thread."""

    def __init__(self, folder: Path, table: str, fmt: str) -> None:
        self.path = folder / f"{table}.{fmt}"
        self._partial = folder / f".{table}.{fmt}.partial"
        self.schema = SCHEMAS[table]
        self.fmt = fmt
        self.rows = 0
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(self._partial, self.schema, compression="zstd",
                                            compression_level=1)
        else:
            self._writer = pacsv.CSVWriter(self._partial, _csv_schema(self.schema))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"write-{table}")
        self._inflight: deque[Future[None]] = deque()
        self._closed = False

    def _write(self, table: pa.Table) -> None:
        if self.fmt == "csv":
            table = table.cast(_csv_schema(self.schema))
        self._writer.write_table(table)

    def write(self, table: pa.Table) -> None:
        table = table.cast(self.schema)  # a no-op when the builder got the types right
        self.rows += table.num_rows
        while len(self._inflight) >= 2:
            self._inflight.popleft().result()
        self._inflight.append(self._pool.submit(self._write, table))

    def close(self) -> Path:
        try:
            while self._inflight:
                self._inflight.popleft().result()
            if self.rows == 0:  # an empty file still carries its header/schema
                self._writer.write_table(self.schema.empty_table().cast(
                    _csv_schema(self.schema) if self.fmt == "csv" else self.schema))
        finally:
            self._closed = True
            self._writer.close()
            self._pool.shutdown()
        self._partial.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Stop after a failure elsewhere: no half-written file is left behind."""
        for f in self._inflight:
            f.cancel()
        self._pool.shutdown(wait=True)
        try:
            if not self._closed:
                self._closed = True
                self._writer.close()
        finally:
            self._partial.unlink(missing_ok=True)
