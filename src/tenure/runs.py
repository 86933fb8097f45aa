"""`tenure run` and `tenure backfill`: compute a day's snapshot, store it, store its transitions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tenure.analytics.snapshot import snapshot as build_snapshot
from tenure.analytics.snapshot import segment_columns
from tenure.analytics.transitions import transitions
from tenure.errors import TenureError
from tenure.history import write_atomically
from tenure.warehouse.backends import analytics_tables


@dataclass
class RunResult:
    as_of: dt.date
    customers: int
    previous: dt.date | None
    transitions: int
    store_cycle_days: float
    cycle_fallback: bool                       # no repeat purchase: the configured fallback was used
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # segmentation -> label -> count
    clv_note: str | None = None                # why predictions are missing or partial
    models: object | None = None               # tenure.clv.scoring.Models when fitted
    campaigns: object | None = None            # tenure.campaigns.runner.CampaignResult when any is enabled
    inbox: dict = field(default_factory=dict)  # entity -> what loading the API's inbox did
    loyalty: object | None = None              # tenure.loyalty.accrual.Accrual when the programme runs


def full_snapshot(tables, as_of: dt.date, settings):
    """The snapshot with predictions when enabled: (Ibis table, Prediction or None)."""
    snap = build_snapshot(tables, as_of=as_of, settings=settings)
    if not settings.clv.enabled:
        return snap, None
    from tenure.clv.predict import attach, predict

    prediction = predict(tables, as_of=as_of, settings=settings)
    return attach(snap, prediction, settings), prediction


def run(ws, as_of: dt.date, *, backend: str | None = None, tables=None, now: dt.datetime | None = None,
        dispatch: bool = True) -> RunResult:
    from tenure.campaigns import runner

    settings = ws.settings
    acting = bool(runner.active(settings))
    if acting:
        runner.check(ws)  # a bad template is refused before anything is computed, enrolled or sent
    tables = tables or analytics_tables(ws, backend)
    history = ws.history
    history.folder.mkdir(parents=True, exist_ok=True)
    snap, prediction = full_snapshot(tables, as_of, settings)
    write_atomically(history.path(as_of), snap.to_parquet)
    stored = history.read(as_of)
    stats = stored.aggregate(n=stored.count(), cycle=stored.store_cycle_days.max(),
                             repeats=stored.repeat_intervals.max()).execute().iloc[0]
    previous = history.previous(as_of)
    moved = 0
    if previous is not None:
        changes = transitions(history.read(previous), stored, segment_columns(settings))
        write_atomically(history.transitions_path(as_of), changes.to_parquet)
        moved = int(history.con.read_parquet(history.transitions_path(as_of)).count().execute())
    following = next((d for d in history.dates() if d > as_of), None)
    if following is not None:  # a backfill slots in before a stored day: that day's moves change
        later = transitions(stored, history.read(following), segment_columns(settings))
        write_atomically(history.transitions_path(following), later.to_parquet)
    labels = {}
    for col in segment_columns(settings):
        counts = stored.group_by(col).aggregate(n=stored.count()).execute()
        labels[col] = {str(k): int(v) for k, v in zip(counts[col], counts["n"])}
    accrued = None
    if settings.loyalty.enabled:  # before campaigns: their messages show the day's balance
        from tenure.loyalty.accrual import accrue

        accrued = accrue(ws, as_of, tables=tables, now=runner.utc(now or ws.now(), settings.workspace.timezone))
    campaigns = None
    if acting:
        now = now or ws.now()
        campaigns = _campaigns(ws, as_of, tables=tables, now=now, dispatch=dispatch)
    elif runner.store_in_use(ws):
        runner.retire_disabled(ws.store, settings)  # every campaign switched off: nothing pending goes out
    return RunResult(as_of=as_of, customers=int(stats.n), previous=previous, transitions=moved, campaigns=campaigns,
                     loyalty=accrued,
                     store_cycle_days=float(stats.cycle) if stats.n else float(settings.cycle.fallback_days),
                     cycle_fallback=not settings.cycle.fixed_days and not int(stats.repeats or 0),
                     labels=labels, clv_note=prediction.note if prediction else None,
                     models=prediction.models if prediction else None)


def _campaigns(ws, as_of: dt.date, *, tables, now: dt.datetime, dispatch: bool):
    """Enroll the day's entries and (unless `dispatch` is off) send what is due; logged."""
    from tenure.campaigns import runner
    from tenure.store import runlog

    with runlog.logged(ws.store, kind="run", as_of=as_of) as counts:
        result = runner.enroll_day(ws, as_of, tables=tables, now_utc=runner.utc(now, ws.settings.workspace.timezone))
        if dispatch:
            result.dispatched = runner.dispatch(ws, now_local=now, tables=tables)
        counts.update(entered=result.entered, messages=result.messages, skipped=result.skipped,
                      ended=result.ended, dispatched=dict(result.dispatched))
    return result


def dates_between(start: dt.date, end: dt.date, every_days: int) -> list[dt.date]:
    if end < start:
        raise TenureError(f"--to {end} is before --from {start}", fix="swap them")
    if every_days < 1:
        raise TenureError("--every must be at least 1d", fix="write e.g. --every 7d")
    out, day = [], start
    while day <= end:
        out.append(day)
        day += dt.timedelta(days=every_days)
    return out


def parse_every(text: str) -> int:
    """'7d', '7', '2w' -> days."""
    t = text.strip().lower()
    try:
        if t.endswith("w"):
            return int(t[:-1]) * 7
        return int(t.removesuffix("d"))
    except ValueError:
        raise TenureError(f"--every {text!r} is not a number of days or weeks", fix="write e.g. 7d or 2w")
