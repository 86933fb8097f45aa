"""Content-derived keys: a message's idempotency key and a customer's holdout group.

Both are pure functions of their inputs (no salt, no clock): the same (campaign, customer, entry
day, step) is the same message in every run and process, and a customer is always in the same
group of a campaign. MD5 as an identity, not for security (nobody chooses these inputs to
collide); computed by DuckDB for a million rows at once, and by hashlib for one, with equal
results (a test checks).
"""

from __future__ import annotations

import datetime as dt
from hashlib import md5

import duckdb
import numpy as np
import pandas as pd

_SEP = "\x1f"  # a byte that cannot occur in an id read from a file


def message_key(campaign: str, customer_id: str, entered_on: dt.date, step: int) -> str:
    return md5(_SEP.join((campaign, customer_id, entered_on.isoformat(), str(step))).encode()).hexdigest()


def holdout_value(campaign: str, customer_id: str) -> float:
    digest = md5(_SEP.join(("holdout", campaign, customer_id)).encode()).hexdigest()
    return int(digest[:15], 16) / float(16**15)


SMALL = 20_000  # below this many rows hashlib in a loop is faster than starting DuckDB


def message_keys(frame: pd.DataFrame) -> pd.Series:
    """Keys of a frame with columns campaign, customer_id, entered_on (date), step."""
    if len(frame) < SMALL:
        return pd.Series([message_key(c, u, pd.Timestamp(d).date(), int(s)) for c, u, d, s in
                          zip(frame.campaign, frame.customer_id, frame.entered_on, frame.step)],
                         index=frame.index, dtype=object)
    con = duckdb.connect()
    try:
        con.register("f", frame[["campaign", "customer_id", "entered_on", "step"]])
        keys = con.execute(
            f"SELECT md5(concat_ws('{_SEP}', campaign, customer_id, strftime(entered_on::DATE, '%Y-%m-%d'), "
            "step::VARCHAR)) FROM f").fetchnumpy()
    finally:
        con.close()
    return pd.Series(next(iter(keys.values())), index=frame.index, dtype=object)


def holdout_values(campaign: str, customer_ids: pd.Series) -> np.ndarray:
    """A uniform number in [0, 1) per customer, fixed for (campaign, customer)."""
    if len(customer_ids) < SMALL:
        return np.asarray([holdout_value(campaign, str(c)) for c in customer_ids], dtype=np.float64)
    con = duckdb.connect()
    try:
        con.register("f", pd.DataFrame({"c": customer_ids.astype(str).to_numpy()}))
        # The first 15 hex digits (60 bits) as an integer, as holdout_value does in Python.
        vals = con.execute(f"SELECT ('0x' || left(md5(concat_ws('{_SEP}', 'holdout', ?, c)), 15))::UBIGINT "
                           "FROM f", [campaign]).fetchnumpy()
    finally:
        con.close()
    return np.asarray(next(iter(vals.values())), dtype=np.float64) / float(16**15)


def groups(campaign: str, customer_ids: pd.Series, share: float) -> pd.Series:
    """'holdout' for a `share` of customers, 'treatment' for the rest; stable across runs."""
    return pd.Series(np.where(holdout_values(campaign, customer_ids) < share, "holdout", "treatment"),
                     index=customer_ids.index)
