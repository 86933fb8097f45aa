"""The server and the CLI on one workspace: posted data reaches the warehouse at the next run,
tracking events feed engagement, one run at a time across processes, the schedule catches up a
missed run, and ingest through the API while `tenure run` runs loses nothing."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
from zoneinfo import ZoneInfo

import duckdb
import httpx
import pytest

from tenure import tokens
from tenure.ingest.inbox import pending
from tenure.server.schedule import Scheduler, daily, fire_times
from tests.serving import TENURE, Served, make_shop


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return make_shop(tmp_path_factory.mktemp("pipeline"), customers=300)


def warehouse_count(ws, sql: str, params=()) -> int:
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchone()[0]
    finally:
        con.close()


def test_fire_times_in_the_workspace_zone():
    zone = ZoneInfo("Europe/London")
    prev, nxt = fire_times("0 6 * * *", dt.datetime(2026, 3, 29, 9, 0, tzinfo=zone))  # the day clocks go forward
    assert prev == dt.datetime(2026, 3, 29, 6, 0, tzinfo=zone) and nxt == dt.datetime(2026, 3, 30, 6, 0, tzinfo=zone)
    prev, _ = fire_times("0 6 * * *", dt.datetime(2026, 3, 29, 5, 0, tzinfo=zone))
    assert prev == dt.datetime(2026, 3, 28, 6, 0, tzinfo=zone)


def test_a_bad_schedule_is_refused_with_one_line(tmp_path, capsys):
    from tenure import Workspace
    from tenure.cli import main

    ws = Workspace.init(tmp_path / "ws")
    assert main(["serve", "--workspace", str(ws.root), "--schedule", "61 * * * *"]) == 2
    assert "not a cron expression" in capsys.readouterr().err
    (ws.root / "tenure.toml").write_text((ws.root / "tenure.toml").read_text().replace(
        'schedule = ""', 'schedule = "every morning"'))
    assert main(["status", "--workspace", str(ws.root)]) == 2
    assert "server.schedule" in capsys.readouterr().err


def test_tracking_events_reach_the_warehouse_once_and_feed_engagement(shop):
    ws = shop.ws
    cid = "C0000010" if warehouse_count(ws, "SELECT count(*) FROM customers WHERE customer_id = 'C0000010'") else None
    cid = cid or duckdb.connect(str(ws.warehouse_path), read_only=True).execute(
        "SELECT min(customer_id) FROM orders").fetchone()[0]
    with Served(ws.root) as server:
        for kind in ("open", "click"):
            token = tokens.sign(ws.secret, kind, {"k": "msg-1", "c": cid, "u": "https://shop.example/"})
            assert httpx.get(f"{server.url}/t/{kind[0]}/{token}").status_code in (200, 302)
    # The server stopped gracefully: the writer flushed. The next run copies both into events.
    ws.run(as_of=dt.date(2025, 12, 31), dispatch=False)
    ws.run(as_of=dt.date(2025, 12, 31), dispatch=False)  # twice: nothing is copied twice
    assert warehouse_count(ws, "SELECT count(*) FROM events WHERE starts_with(event_id, 'trk-') AND customer_id = ?",
                           [cid]) == 2
    snap = duckdb.connect().execute(
        "SELECT last_email_open, last_email_click FROM read_parquet(?) WHERE customer_id = ?",
        [str(ws.history.path(dt.date(2025, 12, 31))), cid]).fetchone()
    today = dt.datetime.now(ZoneInfo(ws.settings.workspace.timezone)).date()
    # Opened today (real clock) but the snapshot is of 2025-12-31: later events do not count yet.
    assert snap == (None, None) or snap[0] <= dt.date(2025, 12, 31)
    ws.run(as_of=today, dispatch=False)
    snap = duckdb.connect().execute(
        "SELECT last_email_open, last_email_click FROM read_parquet(?) WHERE customer_id = ?",
        [str(ws.history.path(today)), cid]).fetchone()
    assert snap == (today, today)
    ws.history.path(today).unlink()
    ws.history.transitions_path(today).unlink(missing_ok=True)


def test_posting_while_tenure_run_runs_loses_nothing(shop):
    """Concurrency: the server ingests event batches (and answers reads) while `tenure run` runs
    twice from the CLI. Both finish; every accepted event is in the warehouse exactly once."""
    ws = shop.ws
    cid = duckdb.connect(str(ws.warehouse_path), read_only=True).execute("SELECT min(customer_id) FROM orders").fetchone()[0]
    batches, size = 40, 50
    statuses: list[int] = []
    reads: list[int] = []
    with Served(ws.root) as server:
        def post():
            with server.client("write", shop) as c:
                for b in range(batches):
                    items = [{"event_id": f"conc-{b}-{i}", "customer_id": cid, "occurred_at": "2025-12-30T12:00:00",
                              "type": "site_visit", "properties": {"b": b}} for i in range(size)]
                    statuses.append(c.post("/v1/events", json={"items": items}).status_code)
                    reads.append(c.get(f"/v1/customers/{cid}").status_code)

        poster = threading.Thread(target=post)
        poster.start()
        runs = []
        for _ in range(2):
            runs.append(subprocess.run([TENURE, "run", "--as-of", "2025-12-31", "--no-dispatch", "--workspace",
                                        str(ws.root)], capture_output=True, text=True, timeout=600))
        poster.join(600)
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert statuses == [200] * batches
    assert set(reads) <= {200, 503} and reads.count(200) > 0  # a read meets a write at worst as 503, never 500
    ws.run(as_of=dt.date(2025, 12, 31), dispatch=False)  # loads what arrived after the second run began
    assert pending(ws.store) == {}
    assert warehouse_count(ws, "SELECT count(*) FROM events WHERE starts_with(event_id, 'conc-')") == batches * size
    assert warehouse_count(ws, "SELECT count(DISTINCT event_id) FROM events WHERE starts_with(event_id, 'conc-')") \
        == batches * size


def test_one_run_at_a_time_across_processes(shop):
    ws = shop.ws
    held = threading.Event()
    release = threading.Event()

    def hold():
        with ws.lock():
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    with Served(ws.root) as server:
        with server.client("write", shop) as c:
            assert c.post("/v1/runs").status_code == 409  # the server will not start a second run
        cli = subprocess.Popen([TENURE, "run", "--as-of", "2025-12-31", "--no-dispatch", "--workspace", str(ws.root)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        assert cli.poll() is None  # waiting for the lock, not failing and not running alongside
        release.set()
        holder.join()
        out, err = cli.communicate(timeout=600)
        assert cli.returncode == 0, err
        assert "Snapshot 2025-12-31" in out
        with server.client("write", shop) as c:  # and now a requested run goes through
            run_id = c.post("/v1/runs").json()["run_id"]
            for _ in range(600):
                row = next(r for r in c.get("/v1/runs").json() if r["id"] == run_id)
                if row["status"] != "running":
                    break
                time.sleep(0.5)
    assert row["status"] == "ok", row["error"]
    assert row["kind"] == "pipeline" and row["counts"]["trigger"] == "api"
    assert set(row["counts"]["timings"]) == {"inbox_s", "snapshot_and_campaigns_s", "dispatch_s", "total_s"}


def test_the_schedule_catches_up_a_missed_run_at_start(shop):
    ws = shop.ws
    zone = ZoneInfo(ws.settings.workspace.timezone)
    clock = lambda: dt.datetime(2025, 12, 31, 9, 30, tzinfo=zone)  # noqa: E731  06:00 was missed
    from tenure.store.tables import runs
    import sqlalchemy as sa

    with ws.store.begin() as conn:
        conn.execute(runs.delete().where(runs.c.kind == "pipeline"))
    scheduler = Scheduler(ws, "0 6 * * *", clock=clock)
    assert scheduler.due_catch_up() == dt.datetime(2025, 12, 31, 6, 0, tzinfo=zone)
    daily(ws, trigger="catch-up", now=dt.datetime(2025, 12, 31, 9, 30))
    assert scheduler.due_catch_up() is None  # done: a restart does not run it again
    with ws.store.connect() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.kind == "pipeline")).one()
    assert row.status == "ok" and row.as_of == dt.date(2025, 12, 31) and row.counts["customers"] > 0


def test_serve_with_a_schedule_catches_up_by_itself(tmp_path):
    shop = make_shop(tmp_path, customers=150, days=("2025-12-31",))
    with Served(shop.ws.root, "--schedule", "0 6 * * *") as server:
        with server.client("read", shop) as c:
            for _ in range(600):
                rows = [r for r in c.get("/v1/runs").json() if r["kind"] == "pipeline"]
                if rows and rows[0]["status"] != "running":
                    break
                time.sleep(0.5)
    assert rows and rows[0]["status"] == "ok" and rows[0]["counts"]["trigger"] == "catch-up", rows
