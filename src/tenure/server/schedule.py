"""The daily pipeline and the clock that starts it.

`daily(ws)` is one pipeline run: load the ingest API's items, compute and store today's
snapshot, enroll the campaigns' entries, dispatch what is due; under the workspace lock, with
its status, timings and counts in the run log (kind `pipeline`).

`Scheduler` fires it on a cron expression (cronsim) read in the workspace's time zone. At start
it catches up: if the latest fire time before now has no successful pipeline run after it (the
server was down at 06:00), it runs once at once. Runs are one at a time across processes
because each holds the workspace lock; triggers fire over the span since the previous run, so a
missed day loses nobody.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from zoneinfo import ZoneInfo

import sqlalchemy as sa

log = logging.getLogger("tenure.server")


def parse_cron(expr: str):
    """Check a cron expression; a bad one is a ValueError naming the problem."""
    from cronsim import CronSim, CronSimError

    try:
        CronSim(expr, dt.datetime(2026, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"{expr!r} is not a cron expression ({exc}); write e.g. \"0 6 * * *\" (06:00 daily)")
    return expr


def fire_times(expr: str, around: dt.datetime) -> tuple[dt.datetime | None, dt.datetime]:
    """(latest fire time at or before `around`, next fire time after it); `around` is aware."""
    from cronsim import CronSim

    nxt = next(CronSim(expr, around))
    try:
        prev = next(CronSim(expr, around + dt.timedelta(seconds=1), reverse=True))
    except StopIteration:
        prev = None
    return prev, nxt


def _utc_naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def daily(ws, *, trigger: str, run_id: int | None = None, now: dt.datetime | None = None,
          wait: float = 6 * 3600) -> int:
    """Run the pipeline once for today (or the day of `now`, workspace zone); returns the run id.
    `run_id` continues a run already recorded as started (POST /v1/runs answers with its id)."""
    from tenure import runs
    from tenure.campaigns.dispatcher import worker_id
    from tenure.store import runlog

    now = now or ws.now()
    run_id = run_id or runlog.start(ws.store, kind="pipeline", as_of=now.date(), worker=worker_id())
    counts: dict = {"trigger": trigger}
    timings: dict[str, float] = {}
    try:
        with ws.lock(wait=wait):
            t0 = time.perf_counter()
            loaded = ws.load_inbox(now=now)
            counts["inbox"] = {e: d["items"] for e, d in loaded.items()}
            counts["inbox_quarantined"] = {e: d["rows"].get("quarantined", 0) for e, d in loaded.items()}
            t1 = time.perf_counter()
            result = runs.run(ws, now.date(), now=now, dispatch=False)
            t2 = time.perf_counter()
            counts.update(customers=result.customers, transitions=result.transitions)
            if result.campaigns is not None:
                counts.update(entered=sum(result.campaigns.entered.values()), messages=result.campaigns.messages)
                counts["dispatched"] = dict(ws.dispatch(now=now))
            t3 = time.perf_counter()
        timings = {"inbox_s": round(t1 - t0, 3), "snapshot_and_campaigns_s": round(t2 - t1, 3),
                   "dispatch_s": round(t3 - t2, 3), "total_s": round(t3 - t0, 3)}
        counts["timings"] = timings
    except BaseException as exc:
        runlog.finish(ws.store, run_id, counts=counts, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    runlog.finish(ws.store, run_id, counts=counts)
    return run_id


def last_ok_pipeline(store) -> dt.datetime | None:
    """When the latest successful pipeline run started (UTC, naive)."""
    from tenure.store.tables import runs

    with store.connect() as conn:
        return conn.execute(sa.select(sa.func.max(runs.c.started_at)).where(
            runs.c.kind == "pipeline", runs.c.status == "ok")).scalar()


class Scheduler:
    """A thread that runs `daily` at each fire time of `expr`; stop() ends it between runs."""

    def __init__(self, ws, expr: str, *, clock=None) -> None:
        self.ws, self.expr = ws, parse_cron(expr)
        self.zone = ZoneInfo(ws.settings.workspace.timezone)
        self._clock = clock or (lambda: dt.datetime.now(self.zone))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tenure-scheduler", daemon=True)
        self.next_fire: dt.datetime | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def due_catch_up(self) -> dt.datetime | None:
        """The fire time missed while the server was down, if any."""
        prev, _ = fire_times(self.expr, self._clock())
        if prev is None:
            return None
        last = last_ok_pipeline(self.ws.store)
        return prev if last is None or last < _utc_naive(prev) else None

    def _run(self, trigger: str) -> None:
        try:
            daily(self.ws, trigger=trigger)
        except Exception:  # recorded in the run log as failed; the schedule goes on
            log.exception("the %s pipeline run failed", trigger)

    def _loop(self) -> None:
        missed = self.due_catch_up()
        if missed is not None:
            log.info("catching up the run due at %s", missed.isoformat())
            self._run("catch-up")
        while not self._stop.is_set():
            _, self.next_fire = fire_times(self.expr, self._clock())
            while not self._stop.is_set():
                left = (self.next_fire - self._clock()).total_seconds()
                if left <= 0:
                    break
                self._stop.wait(min(left, 60.0))  # re-read the clock each minute: it may jump
            if not self._stop.is_set():
                self._run("schedule")
