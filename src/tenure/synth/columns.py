"""Fast Arrow columns from numpy: fixed-width id strings, timestamps, vocabulary look-ups.

Formatting millions of ids in Python would dominate the run time, so fixed-width strings are
assembled as a byte matrix in numpy and handed to Arrow as buffers, without a copy per string.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Part = bytes | tuple[np.ndarray, int]  # a literal, or (non-negative integers, digit count)


def fixed_strings(n: int, *parts: Part) -> pa.Array:
    """Strings made of literals and zero-padded numbers, e.g. ("C", (ids, 7)) -> C0000042."""
    width = sum(len(p) if isinstance(p, bytes) else p[1] for p in parts)
    buf = np.empty((n, width), dtype=np.uint8)
    col = 0
    for part in parts:
        if isinstance(part, bytes):
            buf[:, col:col + len(part)] = np.frombuffer(part, dtype=np.uint8)
            col += len(part)
            continue
        values, digits = part
        values = np.asarray(values, dtype=np.int64)
        for d in range(digits - 1, -1, -1):  # a loop over digit positions, not over rows
            buf[:, col + d] = 48 + values % 10
            values = values // 10
        col += digits
    small = n * width < 2**31  # 32-bit offsets unless the column passes 2 GB
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32 if small else np.int64)
    typ = pa.string() if small else pa.large_string()
    arr = pa.Array.from_buffers(typ, n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])
    return arr if typ == pa.string() else arr.cast(pa.string())


def digits_for(count: int, minimum: int) -> int:
    """Zero-padding width: the house style, widened if the ids would not fit."""
    return max(minimum, len(str(max(count, 1))))


def timestamps(seconds: np.ndarray, epoch_seconds: int) -> pa.Array:
    """Window seconds -> naive TIMESTAMP (microseconds, as DuckDB stores it)."""
    micros = (np.asarray(seconds, dtype=np.int64) + epoch_seconds) * 1_000_000
    return pa.array(micros, type=pa.timestamp("us"))


def lookup(vocabulary: pa.Array, index: np.ndarray) -> pa.Array:
    return pc.take(vocabulary, pa.array(np.asarray(index, dtype=np.int32)))


def with_nulls(values: pa.Array, present: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(present), values, pa.scalar(None, values.type))
