"""The run log: every `tenure run` and dispatch with its status, timings and counts."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager

import sqlalchemy as sa

from tenure.store.tables import runs


def _utcnow() -> dt.datetime:
    # The log records when things really happened, whatever day a run computes: the one clock
    # read outside an entry point, on purpose.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def start(store, *, kind: str, as_of: dt.date | None, worker: str) -> int:
    with store.begin() as conn:
        return conn.execute(runs.insert().values(kind=kind, as_of=as_of, worker=worker, started_at=_utcnow(),
                                                 status="running")).inserted_primary_key[0]


def finish(store, run_id: int, *, counts: dict | None = None, error: str | None = None) -> None:
    safe = json.loads(json.dumps(counts or {}, default=str))
    with store.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == run_id).values(
            finished_at=_utcnow(), status="failed" if error else "ok", counts=safe, error=error))


@contextmanager
def logged(store, *, kind: str, as_of: dt.date | None):
    """`with logged(store, kind=..., as_of=...) as counts:` fill the dict `counts`; the run is
    recorded as ok with them, or as failed with the error that ended it."""
    from tenure.campaigns.dispatcher import worker_id

    run_id = start(store, kind=kind, as_of=as_of, worker=worker_id())
    counts: dict = {}
    try:
        yield counts
    except BaseException as exc:
        finish(store, run_id, counts=counts, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    finish(store, run_id, counts=counts)


def recent(store, limit: int = 20) -> list[dict]:
    with store.connect() as conn:
        result = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in result]
