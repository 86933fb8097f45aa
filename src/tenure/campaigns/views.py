"""What `tenure campaigns preview | backtest` and `tenure tasks` show: read-only views."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from tenure.campaigns import engine, state
from tenure.campaigns.runner import day_entries, enabled
from tenure.errors import TenureError
from tenure.store.tables import outbox, tasks


def _campaigns(ws, only: str | None) -> dict:
    chosen = enabled(ws.settings) if only is None else {only: ws.settings.campaigns.get(only)}
    if only is not None and chosen[only] is None:
        raise TenureError(f"no campaign {only!r} in tenure.toml",
                          fix=f"choose one of: {', '.join(ws.settings.campaigns)}")
    if only is not None:  # a disabled campaign can be previewed and backtested before it is switched on
        chosen = {only: chosen[only].model_copy(update={"enabled": True})}
    if not chosen:
        raise TenureError("no campaign is enabled", fix="set enabled = true in a [campaigns.NAME] table, or pass --campaign")
    return chosen


def preview(ws, as_of: dt.date, *, campaign: str | None = None) -> pd.DataFrame:
    """The messages `tenure run --as-of` would schedule on that day: one row per customer and step
    (holdout rows included, marked held_out). Nothing is written."""
    from tenure.analytics.snapshot import segment_columns
    from tenure.analytics.transitions import transitions
    from tenure.runs import full_snapshot
    from tenure.warehouse.backends import analytics_tables

    campaigns = _campaigns(ws, campaign)
    tables = analytics_tables(ws)
    history = ws.history
    previous = history.previous(as_of)
    with tempfile.TemporaryDirectory(prefix="tenure-preview-") as folder:
        if history.path(as_of).exists():
            snap = history.read(as_of)
        else:  # not stored yet: compute it, as the run would, into a file of our own
            path = Path(folder) / "snapshot.parquet"
            full_snapshot(tables, as_of, ws.settings)[0].to_parquet(path)
            snap = history.con.read_parquet(path)
        changes = None
        if previous is not None:
            changes = transitions(history.read(previous), snap, segment_columns(ws.settings))
        entries = day_entries(campaigns, snap=snap, changes=changes, tables=tables, as_of=as_of, previous=previous)
        new = engine.enroll(entries, state.past_enrollments(ws.store, list(campaigns), entries.customer_id), campaigns, as_of)
        return engine.schedule(new, campaigns)


def backtest(ws, start: dt.date, end: dt.date, *, campaign: str | None = None) -> pd.DataFrame:
    """day, campaign, entered: how many met each trigger on every stored snapshot day in
    [start, end] (re-entry rules are not applied: this counts trigger hits)."""
    from tenure.warehouse.backends import analytics_tables

    campaigns = _campaigns(ws, campaign)
    history = ws.history
    days = [d for d in history.dates() if start <= d <= end]
    if not days:
        raise TenureError(f"no snapshot stored between {start} and {end}",
                          fix=f"run `tenure backfill --from {start} --to {end} --every 1d` first")
    tables = analytics_tables(ws)
    rows = []
    for day in days:
        previous = history.previous(day)
        moves = history.transitions_path(day)
        changes = history.con.read_parquet(moves) if previous and moves.exists() else None
        entries = day_entries(campaigns, snap=history.read(day), changes=changes, tables=tables, as_of=day,
                              previous=previous)
        counts = entries.drop_duplicates(["campaign", "customer_id"]).campaign.value_counts()
        rows += [{"day": day, "campaign": name, "entered": int(counts.get(name, 0))} for name in campaigns]
    return pd.DataFrame(rows)


def outbox_summary(ws) -> pd.DataFrame:
    o = outbox
    with ws.store.connect() as conn:
        rows = conn.execute(sa.select(o.c.campaign, o.c.status, sa.func.count().label("messages"))
                            .group_by(o.c.campaign, o.c.status).order_by(o.c.campaign, o.c.status)).fetchall()
    return pd.DataFrame(rows, columns=["campaign", "status", "messages"])


def task_list(ws, *, status: str | None = "open") -> pd.DataFrame:
    t = tasks
    q = sa.select(t.c.id, t.c.due_on, t.c.customer_id, t.c.campaign, t.c.action, t.c.status, t.c.created_at,
                  t.c.done_at, t.c.note).order_by(t.c.due_on, t.c.id)
    if status:
        q = q.where(t.c.status == status)
    with ws.store.connect() as conn:
        result = conn.execute(q)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def finish_task(ws, task_id: int, *, note: str | None, now: dt.datetime) -> None:
    with ws.store.begin() as conn:
        done = conn.execute(tasks.update().where(tasks.c.id == task_id, tasks.c.status == "open")
                            .values(status="done", done_at=now, note=note))
    if done.rowcount != 1:
        raise TenureError(f"no open task {task_id}", fix="see `tenure tasks` for the open ones")
