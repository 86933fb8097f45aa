"""What the API and the dashboard read, in plain data: one place for both.

Requests run in a thread pool and a DuckDB connection must not be shared between threads, so
each thread gets its own Workspace object (its own snapshot reader); all share the one store.
"""

from __future__ import annotations

import datetime as dt
import math
import threading

import pandas as pd

from tenure.errors import TenureError
from tenure.privacy import _jsonable

_local = threading.local()
MEMBER_COLUMNS = ("customer_id", "lifecycle", "rf", "rfm_segment", "orders", "spend", "days_since_last",
                  "last_purchase", "clv_365d", "churn_risk")


def workspace(app_state):
    """This thread's Workspace for the app's workspace folder (settings read once per thread)."""
    from tenure.workspace import Workspace

    ws = getattr(_local, "ws", None)
    if ws is None or ws.root != app_state.ws.root:
        ws = Workspace(app_state.ws.root)
        ws._store = app_state.store
        _local.ws = ws
        app_state.readers.append(ws)
    return ws


def close_all(app_state) -> None:
    """Close the threads' snapshot readers at shutdown, from the main thread: a DuckDB connection
    left to die with its pool thread at interpreter exit aborts the process."""
    for ws in app_state.readers:
        con = getattr(ws.history, "_con", None)
        if con is not None:
            con.disconnect()
            ws.history._con = None
    app_state.readers.clear()


def records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for row in frame.to_dict("records"):
        clean = {}
        for k, v in row.items():
            if v is pd.NaT or v is pd.NA:  # a missing date or nullable number: null, not "NaT"
                v = None
            elif isinstance(v, pd.Timestamp):
                v = v.date() if v == v.normalize() else v.to_pydatetime()
            v = _jsonable(v)
            if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
                v = None
            clean[str(k)] = v
        out.append(clean)
    return out


def default_day(ws, as_of: dt.date | None) -> dt.date:
    """`as_of`, else the latest snapshot's day (what the shop last computed), else today. A day
    after today is an error: it says nothing more than today, and analyses that span every month
    up to it (cohorts) grew without bound (year 6648 took a minute; 9999-12-31 overflowed)."""
    if as_of is not None:
        today = ws.today()
        if as_of > today:
            raise TenureError(f"as_of {as_of.isoformat()} is after today ({today.isoformat()})",
                              fix="pick a day up to today, or leave as_of out for the latest snapshot's day")
        return as_of
    dates = ws.history.dates()
    return dates[-1] if dates else ws.today()


def stored_day(ws, as_of: dt.date | None) -> dt.date:
    """`as_of` if its snapshot is stored, the latest snapshot when None; else a clear error."""
    if as_of is None:
        return ws.history.latest()
    if as_of not in ws.history.dates():
        near = ", ".join(d.isoformat() for d in ws.history.dates()[-3:]) or "none"
        raise TenureError(f"no snapshot stored for {as_of.isoformat()} (latest: {near})",
                          fix="pick a stored day, or leave as_of out for the latest")
    return as_of


def segments(ws, by: str, as_of: dt.date | None) -> dict:
    from tenure.report_tables import segment_summary

    day = stored_day(ws, as_of)
    rows, day = segment_summary(ws, by=by, as_of=day)
    return {"segmentation": by, "as_of": day, "total": sum(r["customers"] for r in rows), "labels": rows}


def members(ws, segmentation: str, label: str, *, as_of: dt.date | None, page: int, page_size: int | None) -> dict:
    """A page (1-based) of the customers with `label`, biggest spenders first; all of them when
    page_size is None. `columns`: the member columns this snapshot has (a CSV's header)."""
    import ibis

    from tenure.analytics.transitions import as_label
    from tenure.report_tables import segment_column

    col = segment_column(ws, segmentation)
    day = stored_day(ws, as_of)
    t = ws.history.read(day)
    t = t.filter(as_label(t[col]) == label)
    total = int(t.count().execute())
    cols = [c for c in MEMBER_COLUMNS if c in t.columns]
    q = t.select(*cols).order_by(ibis.desc("spend"), "customer_id")
    if page_size is not None:
        q = q.limit(page_size, offset=(page - 1) * page_size)
    return {"segmentation": segmentation, "label": label, "as_of": day, "page": page,
            "page_size": page_size, "total": total, "customers": records(q.execute()), "columns": cols}


def latest_two(ws) -> tuple[dt.date, dt.date]:
    dates = ws.history.dates()
    if len(dates) < 2:
        raise TenureError("flows need two stored snapshots", fix="run `tenure run` on two days")
    return dates[-2], dates[-1]


def runs(store, limit: int) -> list[dict]:
    from tenure.store import runlog

    return [{k: _jsonable(v) for k, v in r.items()} for r in runlog.recent(store, limit)]
