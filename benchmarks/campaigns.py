"""Campaigns at scale: N customers entering a campaign on one day, then the dispatch of the day's email.

One run measures, on one operational store (a fresh SQLite file under --dir, WAL; or a scratch
PostgreSQL database with --store postgresql+psycopg://postgres@127.0.0.1:5432/tenure_bench_campaigns):

  triggers    a synthetic stored snapshot of N customers (Parquet, the columns a snapshot has,
              cached under --dir) in which every customer crosses the RF ladder's rung `new`
              (1 order, 10 days since) on the day: the worst case. Read by
              `ibis.duckdb.connect().read_parquet` and `tenure.campaigns.triggers.entries(...)`
              for the campaign rf-new, executed to pandas as `runner.day_entries` does; and the
              union of all seven rungs' triggers (what a shop with the whole ladder on runs).
  enrollment  `state.past_enrollments` + `engine.enroll` + `engine.schedule` (rf-new has 2 steps:
              2N outbox rows, 10% held out) + `state.write_enrollments` into the store. Then the
              same day again (nothing new: past enrollments are read back, nothing is written), and
              the first 100,000 enrollments with their messages written again through
              `write_enrollments` (every row a conflict: what two runs of one day at once write).
              The write is split by timers: DataFrame.to_dict, SQLAlchemy, the driver, the commit.
  dispatch    an aiosmtpd server (counting handler, nothing kept) in a separate process, so it
              does not share the GIL with the sender. (a) the server's ceiling: a plain smtplib
              loop on one connection sending --dispatch copies of one pre-built message of the
              size Tenure sends (MAIL, RCPT, DATA each); (b) Tenure: `Dispatcher.run(limit=M)` over
              the store of the enrollment phase (the day's N step-0 messages due), with the real
              EmailChannel, the real compose (`runner._composer`: the shipped rf-new-1 templates
              rendered by Jinja, tracked links and List-Unsubscribe with messaging.public_url set),
              the real per-batch contact lookup (`runner._contacts`) over a synthetic frame of
              recipient facts (what `runner.recipients` would have read from the warehouse; that
              read is not timed). Each message: claimed -> in_flight -> sent, a commit each.
              Timers around each part show where the time goes. --dispatch defaults to 5,000
              (the issue's scale would be the day's 900,000): at the rate measured on this machine
              20,000 messages would take five minutes on their own.

    .venv/bin/python benchmarks/campaigns.py                       # 1M customers, 5,000 messages
    .venv/bin/python benchmarks/campaigns.py --customers 100000 --dispatch 5000
    .venv/bin/python benchmarks/campaigns.py --store postgresql+psycopg://postgres@127.0.0.1:5432/tenure_bench_campaigns
    .venv/bin/python benchmarks/campaigns.py --profile             # + cProfile of the dispatch

The PostgreSQL database named in --store is created by the script and dropped at the end; a
database of that name that already exists is refused unless its name starts with tenure_bench_.

Prints figures; asserts nothing; writes only under --dir. Results and the machine are in
docs/benchmarks-campaigns.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from _machine import describe  # benchmarks/_machine.py: run as scripts, benchmarks/ is on the path

AS_OF = dt.date(2026, 3, 10)
NOW_UTC = dt.datetime(2026, 3, 10, 12, 0)    # noon in the shop's zone (UTC): no quiet hours
CAMPAIGN = "rf-new"                          # orders = 1, days_since_last = 10, steps at 0 and 6 days
TARGET_ENROLL_S = 30.0                       # the issue: enrolling 1M in under 30 s
PUBLIC_URL = "https://crm.example.com"
CONFLICT_SLICE = 100_000                     # enrollments written a second time (with their messages)

SINK = textwrap.dedent("""
    import sys
    from aiosmtpd.controller import Controller

    class Counting:
        messages = 0
        size = 0
        async def handle_DATA(self, server, session, envelope):
            self.messages += 1
            self.size += len(envelope.content)
            return "250 OK queued"

    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    for line in sys.stdin:
        print(handler.messages, handler.size, flush=True)
    controller.stop()
""")


# -- the machine and the data ------------------------------------------------------------------
def machine() -> str:
    import pandas as pd
    import sqlalchemy as sa

    return describe(pandas=pd.__version__, SQLAlchemy=sa.__version__, SQLite=__import__("sqlite3").sqlite_version)


def customer_ids(n: int):
    import numpy as np

    return np.char.add("c", np.char.zfill(np.arange(1, n + 1).astype(str), 8))


def snapshot(n: int, folder: Path) -> Path:
    """The day's stored snapshot of n customers, every one of them crossing rung `new` today."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / f"snapshot-{n}.parquet"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    last = AS_OF - dt.timedelta(days=10)
    spend = np.round(rng.gamma(2.0, 30.0, n), 2)
    const = lambda v, t=None: pa.array(np.full(n, v), type=t)  # noqa: E731
    table = pa.table({
        "customer_id": pa.array(customer_ids(n)),
        "as_of": pa.array([AS_OF] * n, type=pa.date32()),
        "orders": const(1, pa.int64()),
        "spend": pa.array(spend), "spend_365": pa.array(spend), "avg_spend": pa.array(spend),
        "purchase_days": const(1, pa.int64()),
        "first_purchase": pa.array([last] * n, type=pa.date32()),
        "last_purchase": pa.array([last] * n, type=pa.date32()),
        "days_since_last": const(10, pa.int64()),
        "tenure_days": const(10, pa.int64()),
        "lifecycle": pa.array(["new"] * n), "rf": pa.array(["new"] * n),
        "rfm": pa.array(["511"] * n), "rfm_segment": pa.array(["new-customers"] * n),
    })
    pq.write_table(table, path)
    return path


def recipient_facts(n: int):
    """What `runner.recipients` returns for the due customers: contact details, consent, the
    snapshot's figures, first names and (with messaging.picks = 0) no picks."""
    import pandas as pd

    ids = customer_ids(n)
    last = AS_OF - dt.timedelta(days=10)
    return pd.DataFrame({
        "customer_id": ids, "name": [f"Customer {i}" for i in range(1, n + 1)],
        "email": [f"{c}@example.com" for c in ids], "phone": None, "consent_email": True,
        "consent_sms": False, "timezone": None, "lifecycle": "new", "rf": "new", "rfm": "511",
        "rfm_segment": "new-customers", "orders": 1, "spend": 60.0, "avg_spend": 60.0, "days_since_last": 10,
        "first_purchase": last, "last_purchase": last, "first_name": "Customer",
        "picks": [[] for _ in range(n)]})


# -- the store ---------------------------------------------------------------------------------
@contextmanager
def scratch_store(url: str | None, folder: Path):
    from tenure.store import open_store

    if url is None or url.startswith("sqlite"):
        path = folder / "store.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        store = open_store(url or f"sqlite:///{path}")
        try:
            yield store
        finally:
            store.close()
        return
    import sqlalchemy as sa

    target = sa.make_url(url)
    name = target.database
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).scalar()
        if exists and not name.startswith("tenure_bench_"):
            raise SystemExit(f"database {name!r} exists; name a scratch database (tenure_bench_...) to create")
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    store = open_store(target.render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def settings_for(port: int):
    """A workspace's settings: UTC, rf-new on, mail to the local sink, public URL set, no picks."""
    from tenure.campaigns.definitions import default_campaigns
    from tenure.campaigns.settings import MessagingSettings
    from tenure.channels.settings import EmailSettings
    from tenure.config import Settings, WorkspaceSettings

    campaigns = default_campaigns()
    campaigns[CAMPAIGN] = campaigns[CAMPAIGN].model_copy(update={"enabled": True})
    return Settings(workspace=WorkspaceSettings(timezone="UTC"), campaigns=campaigns,
                    email=EmailSettings(host="127.0.0.1", port=port, security="none", from_address="shop@example.com",
                                        from_name="Example Shop"),
                    messaging=MessagingSettings(public_url=PUBLIC_URL, picks=0))


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


# -- 1. triggers -------------------------------------------------------------------------------
def run_triggers(parquet: Path, settings) -> tuple[object, dict]:
    import ibis

    from tenure.campaigns import triggers

    def entries(campaigns: dict):
        snap = ibis.duckdb.connect().read_parquet(str(parquet))
        exprs = [triggers.entries(name, c, snap=snap, changes=None, customers=None, events=None, as_of=AS_OF,
                                  previous=None) for name, c in campaigns.items()]
        return triggers.union(exprs).to_pyarrow().to_pandas()

    one = {CAMPAIGN: settings.campaigns[CAMPAIGN]}
    _, cold_s = timed(lambda: entries(one))        # the first query of the process pays Ibis' warm-up
    found, one_s = timed(lambda: entries(one))
    ladder = {n: c for n, c in settings.campaigns.items() if n.startswith("rf-")}
    every, every_s = timed(lambda: entries(ladder))
    return found, {"cold_s": cold_s, "one_s": one_s, "one_rows": len(found), "ladder_s": every_s,
                   "ladder_rows": len(every), "rungs": len(ladder)}


# -- 2. enrollment and scheduling --------------------------------------------------------------
def run_enrollment(store, entries, settings) -> dict:
    from tenure.campaigns import engine, state

    campaigns = {n: c for n, c in settings.campaigns.items() if c.enabled}
    out: dict = {}
    # Where write_enrollments' time goes: each table's bulk insert and the commit.
    clock: Counter = Counter()

    def bulk(conn, table, frame):
        t = time.perf_counter()
        try:
            return real_bulk(conn, table, frame)
        finally:
            clock[f"{table.name} insert"] += time.perf_counter() - t

    def do_commit(dbapi_conn):
        t = time.perf_counter()
        try:
            return real_commit(dbapi_conn)
        finally:
            clock["commit"] += time.perf_counter() - t

    real_bulk, real_commit = state.bulk_insert_ignore, store.engine.dialect.do_commit
    state.bulk_insert_ignore, store.engine.dialect.do_commit = bulk, do_commit

    def write(tag, new, messages):
        clock.clear()
        (e, m), out[f"{tag}_write_s"] = timed(lambda: state.write_enrollments(store, new, messages, NOW_UTC))
        out[f"{tag}_inserted"] = (e, m)
        parts = {k: clock[k] for k in ("enrollments insert", "outbox insert", "commit")}
        parts["other (frames)"] = out[f"{tag}_write_s"] - sum(parts.values())
        out[f"{tag}_write_parts"] = parts

    def day(tag: str):
        past, out[f"{tag}_past_s"] = timed(lambda: state.past_enrollments(store, list(campaigns), entries.customer_id))
        new, out[f"{tag}_enroll_s"] = timed(lambda: engine.enroll(entries, past, campaigns, AS_OF))
        messages, out[f"{tag}_schedule_s"] = timed(lambda: engine.schedule(new, campaigns))
        write(tag, new, messages)
        out[f"{tag}_past_rows"], out[f"{tag}_new"], out[f"{tag}_messages"] = len(past), len(new), len(messages)
        out[f"{tag}_total_s"] = sum(out[f"{tag}_{k}_s"] for k in ("past", "enroll", "schedule", "write"))
        return new, messages

    try:
        new, messages = day("first")
        out["held_out"] = int((messages.status == "held_out").sum())
        day("again")
        # The same rows written again, every one a conflict (two runs of one day at once): on a
        # slice, since the per-row cost is what matters and the whole would double the run.
        part = new.iloc[:CONFLICT_SLICE]
        write("conflict", part, messages[messages.customer_id.isin(part.customer_id)])
        out["conflict_rows"] = sum(len(x) for x in (part, messages[messages.customer_id.isin(part.customer_id)]))
    finally:
        state.bulk_insert_ignore, store.engine.dialect.do_commit = real_bulk, real_commit
    return out


# -- 3. dispatch -------------------------------------------------------------------------------
class Sink:
    """The counting aiosmtpd server in its own process."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, "-c", SINK, str(self.port)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def count(self) -> tuple[int, int]:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        n, size = self.proc.stdout.readline().split()
        return int(n), int(size)

    def cpu(self) -> float:
        """CPU seconds the server process has used (user + system)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def server_ceiling(sink: Sink, raw: bytes, m: int, from_address: str) -> dict:
    import smtplib

    before, cpu0 = sink.count()[0], sink.cpu()
    conn = smtplib.SMTP("127.0.0.1", sink.port, timeout=30)
    conn.ehlo()
    t, c = time.perf_counter(), time.process_time()
    for i in range(m):
        conn.mail(from_address)
        conn.rcpt(f"c{i:08d}@example.com")
        conn.data(raw)
    wall, client_cpu = time.perf_counter() - t, time.process_time() - c
    server_cpu = sink.cpu() - cpu0
    conn.quit()
    received = sink.count()[0] - before
    return {"wall": wall, "rate": m / wall, "received": received, "server_cpu": server_cpu,
            "client_cpu": client_cpu}


def one_message(settings, facts) -> bytes:
    """The bytes Tenure sends to the first customer (for the ceiling's pre-built message)."""
    from tenure.campaigns import keys, runner
    from tenure.channels.email import EmailChannel

    ns = SimpleNamespace(settings=settings, secret="bench-secret-" + "x" * 32, templates=None)
    from tenure.campaigns.templates import Templates

    ns.templates = Templates(None)
    cid = facts.customer_id.iloc[0]
    row = {"key": keys.message_key(CAMPAIGN, cid, AS_OF, 0), "campaign": CAMPAIGN, "step": 0, "customer_id": cid,
           "due_on": AS_OF}
    message = runner._composer(ns, AS_OF)(row, facts.iloc[0].to_dict())
    from tenure.channels.email import wire

    return wire(EmailChannel(settings.email).build(message))


def run_dispatch(store, sink: Sink, settings, facts, m: int, profile: Path | None) -> dict:
    import sqlalchemy as sa

    from tenure.campaigns import dispatcher as dmod
    from tenure.campaigns import engine, runner
    from tenure.campaigns.templates import Templates
    from tenure.channels.email import EmailChannel
    from tenure.store.tables import outbox

    clock: dict[str, float] = defaultdict(float)
    calls: Counter = Counter()

    def timer(name, fn):
        def wrapped(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                clock[name] += time.perf_counter() - t
                calls[name] += 1
        return wrapped

    class TimedEmail(EmailChannel):
        def build(self, message):
            return timer("build MIME message", super().build)(message)

        def send(self, message, in_flight):
            t = time.perf_counter()
            out = super().send(message, timer("store: mark in_flight + last outcome (1 commit)", in_flight))
            clock["channel.send"] += time.perf_counter() - t
            return out

        def _transaction(self, to, raw, mark, mid):
            return timer("smtp transaction", super()._transaction)(to, raw, mark, mid)

    class TimedDispatcher(dmod.Dispatcher):
        def _finish(self, *a, **k):
            return timer("record outcome (queued)", super()._finish)(*a, **k)

        def _write_outcomes(self, *a, **k):  # at the end of a batch; otherwise inside in_flight
            return timer("store: outcomes at batch end (1 commit)", super()._write_outcomes)(*a, **k)

        def _send(self, *a, **k):
            return timer("per message", super()._send)(*a, **k)

    ns = SimpleNamespace(settings=settings, secret="bench-secret-" + "x" * 32, templates=Templates(None), store=store)
    out: dict = {}

    # runner.dispatch's preamble over the whole outbox: retire disabled campaigns, expire stale
    # messages, list the customers with something due (whose facts recipients() then reads).
    def preamble():
        runner.retire_disabled(store, settings)
        with store.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.status == "pending",
                                               outbox.c.due_on < AS_OF - dt.timedelta(days=1)).values(status="expired"))
        with store.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(outbox.c.customer_id).distinct().where(
                outbox.c.status.in_(("pending", "claimed", "in_flight")), outbox.c.due_on <= AS_OF))]
    due, out["preamble_s"] = timed(preamble)
    out["due_customers"] = len(due)

    channels = runner.channel_factories(ns, NOW_UTC)
    channels["email"] = lambda: TimedEmail(settings.email, password="")
    d = TimedDispatcher(store, channels=channels,
                        contacts=timer("contacts (facts + consents, suppressions)",
                                       lambda ids: runner._contacts(store, facts, ids)),
                        compose=timer("compose (Jinja, links)", runner._composer(ns, AS_OF)),
                        settings=settings.messaging, zone="UTC")
    saved = dmod.claim, dmod.recent_sends, engine.decide
    dmod.claim = timer("store: claim a batch (1 commit)", dmod.claim)
    dmod.recent_sends = timer("store: recent sends (frequency cap)", dmod.recent_sends)
    engine.decide = timer("decide (pandas)", engine.decide)
    before, cpu0 = sink.count()[0], sink.cpu()
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    try:
        t, c = time.perf_counter(), time.process_time()
        counts = d.run(now=NOW_UTC, today=AS_OF, limit=m)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        if prof:
            prof.disable()
        dmod.claim, dmod.recent_sends, engine.decide = saved
    server_cpu = sink.cpu() - cpu0
    received = sink.count()[0] - before
    if prof:
        import pstats

        prof.dump_stats(str(profile))
        print(f"\n  cProfile of the dispatch (timings inflated by the profiler; {profile}):")
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    with store.connect() as conn:
        stored = dict(conn.execute(sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)).fetchall())
    # smtp transaction includes the in_flight mark (called between RCPT and DATA): take it out.
    mark = "store: mark in_flight + last outcome (1 commit)"
    clock["smtp transaction"] -= clock[mark]
    clock["serialise (as_bytes) + checks"] = (clock.pop("channel.send") - clock["smtp transaction"]
                                              - clock[mark] - clock["build MIME message"])
    per_message = clock.pop("per message")
    calls.pop("per message")
    clock["other per message (Python)"] = (per_message - clock["compose (Jinja, links)"]
                                           - clock["record outcome (queued)"]
                                           - clock[mark] - clock["smtp transaction"]
                                           - clock["build MIME message"] - clock["serialise (as_bytes) + checks"])
    clock["other per batch (pandas, loops)"] = wall - per_message - sum(
        clock[k] for k in ("store: claim a batch (1 commit)", "store: recent sends (frequency cap)",
                           "store: outcomes at batch end (1 commit)",
                           "decide (pandas)", "contacts (facts + consents, suppressions)"))
    out.update(wall=wall, cpu=cpu, counts=dict(counts), sent=counts["sent"], rate=counts["sent"] / wall,
               received=received, server_cpu=server_cpu, clock=dict(clock), calls=dict(calls), stored=stored)
    return out


def claim_probe(store, batch: int) -> float:
    """One claim of `batch` rows on the store as it is, rolled back: the claim query's cost alone."""
    import sqlalchemy as sa

    from tenure.campaigns import dispatcher as dmod
    from tenure.store.tables import outbox

    o = outbox
    due = dmod.skip_locked(sa.select(o.c.id).where(
        o.c.status == "pending", o.c.due_on <= AS_OF, sa.or_(o.c.not_before.is_(None), o.c.not_before <= NOW_UTC))
        .order_by(o.c.customer_id).limit(batch))  # as dispatcher.claim orders its first query
    best = float("inf")
    for _ in range(3):
        with store.connect() as conn:
            t = time.perf_counter()
            with conn.begin() as tx:
                conn.execute(o.update().where(o.c.id.in_(due.scalar_subquery())).values(
                    status="claimed", worker="probe", claimed_at=NOW_UTC).returning(o.c.id)).fetchall()
                best = min(best, time.perf_counter() - t)
                tx.rollback()
    return best


# -- the report --------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--dispatch", type=int, default=5_000, help="messages sent, by the ceiling loop and by Tenure")
    ap.add_argument("--dir", type=Path, default=Path(".bench/campaigns"))
    ap.add_argument("--store", default=None, help="store URL (default: a fresh SQLite file under --dir)")
    ap.add_argument("--profile", action="store_true", help="cProfile the dispatch (slower; printed, and kept under --dir)")
    args = ap.parse_args()
    n, m = args.customers, args.dispatch
    args.dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"machine: {machine()}")
    print(f"{n:,} customers cross rung `new` on {AS_OF}; campaign {CAMPAIGN} (2 steps); dispatch of {m:,} messages")

    parquet, gen_s = timed(lambda: snapshot(n, args.dir))
    print(f"  snapshot: {parquet} ({gen_s:.1f} s to make or find)", flush=True)
    sink = Sink()
    try:
        settings = settings_for(sink.port)
        entries, trig = run_triggers(parquet, settings)
        print(f"  triggers done ({trig['one_s']:.2f} s)", flush=True)
        with scratch_store(args.store, args.dir) as store:
            print(f"  store: {store!r}", flush=True)
            enr = run_enrollment(store, entries, settings)
            print(f"  enrollment done ({enr['first_total_s']:.1f} s)", flush=True)
            facts, facts_s = timed(lambda: recipient_facts(n))
            raw = one_message(settings, facts)
            ceiling = server_ceiling(sink, raw, m, settings.email.from_address)
            print(f"  server ceiling done ({ceiling['rate']:,.0f} msg/s)", flush=True)
            probe_full = claim_probe(store, settings.messaging.batch_size)
            disp = run_dispatch(store, sink, settings, facts, m, args.dir / "dispatch.prof" if args.profile else None)
            probe_after = claim_probe(store, settings.messaging.batch_size)
            ceiling2 = server_ceiling(sink, raw, m, settings.email.from_address)
            dialect = store.dialect
    finally:
        sink.close()

    # ---- the table
    line = "  " + "-" * 100
    print(f"\nResults ({dialect} store, {n:,} customers; wall seconds on one process)")
    print(f"  {'phase':<66} {'seconds':>9}  {'rate / note':<30}")
    print(line)
    row = lambda name, s, note="": print(f"  {name:<66} {s:>9.2f}  {note}")  # noqa: E731
    row(f"1. triggers: rf-new over the snapshot -> {trig['one_rows']:,} entries", trig["one_s"],
        f"{trig['one_rows'] / trig['one_s']:,.0f} rows/s (first query of the process {trig['cold_s']:.2f} s)")
    row(f"   all {trig['rungs']} rungs in one union -> {trig['ladder_rows']:,} entries", trig["ladder_s"])
    print(line)
    e = enr
    row(f"2. past_enrollments ({e['first_past_rows']:,} rows)", e["first_past_s"])
    row(f"   engine.enroll -> {e['first_new']:,} enrollments", e["first_enroll_s"])
    row(f"   engine.schedule -> {e['first_messages']:,} outbox rows ({e['held_out']:,} held out)",
        e["first_schedule_s"])
    written = e["first_new"] + e["first_messages"]
    row(f"   write_enrollments of {e['first_new']:,} + {e['first_messages']:,} rows", e["first_write_s"],
        f"{written / e['first_write_s']:,.0f} rows/s; insert_ignore reported {e['first_inserted'][0]:,} + "
        f"{e['first_inserted'][1]:,} inserted")
    for name, s in e["first_write_parts"].items():
        row(f"     of which {name}", s, f"{s / e['first_write_s']:.0%}")
    total = e["first_total_s"]
    row("   enrollment + scheduling, total", total,
        f"target < {TARGET_ENROLL_S:g} s: {'met' if total < TARGET_ENROLL_S else 'MISSED'} "
        f"({total / TARGET_ENROLL_S:.2f}x the target)")
    row("   with the triggers", total + trig["one_s"],
        f"({(total + trig['one_s']) / TARGET_ENROLL_S:.2f}x the target)")
    row(f"   same day again: past_enrollments ({e['again_past_rows']:,} rows)", e["again_past_s"])
    row(f"   same day again: enroll -> {e['again_new']:,}, schedule, write -> {sum(e['again_inserted'])}",
        e["again_enroll_s"] + e["again_schedule_s"] + e["again_write_s"])
    row("   same day again, total", e["again_total_s"])
    row(f"   {e['conflict_rows']:,} of the rows written again (all conflicts) -> "
        f"{sum(e['conflict_inserted'])} new", e["conflict_write_s"],
        f"{e['conflict_rows'] / e['conflict_write_s']:,.0f} rows/s")
    print(line)
    c1, c2, d = ceiling, ceiling2, disp
    best = max(c1["rate"], c2["rate"])
    row(f"3a. server ceiling: smtplib loop, {m:,} x {len(raw):,} bytes, 1 connection", c1["wall"],
        f"{c1['rate']:,.0f} msg/s (again after: {c2['rate']:,.0f})")
    print(f"  {'':<66} {'':>9}  server CPU {c1['server_cpu'] / c1['wall']:.0%} of a core, client "
          f"{c1['client_cpu'] / c1['wall']:.0%}; received {c1['received']:,}")
    row(f"3b. Tenure Dispatcher: {d['sent']:,} sent", d["wall"], f"{d['rate']:,.0f} msg/s")
    print(f"  {'':<66} {'':>9}  server CPU {d['server_cpu'] / d['wall']:.0%} of a core, dispatcher "
          f"{d['cpu'] / d['wall']:.0%}; received {d['received']:,}")
    print(f"  {'':<66} {'':>9}  Tenure / server ceiling: {d['rate'] / best:.2f}x")
    row(f"    preamble (retire, expire, {d['due_customers']:,} due customers listed)", d["preamble_s"])
    print(f"    claim of {settings.messaging.batch_size} on the full outbox alone: {probe_full * 1000:.0f} ms before the "
          f"dispatch, {probe_after * 1000:.0f} ms after")
    print(f"\n  where the dispatch's {d['wall']:.1f} s went ({d['sent']:,} messages):")
    print(f"    {'part':<46} {'s':>7} {'share':>6} {'calls':>7} {'ms/call':>8} {'ms/msg':>7}")
    for name, s in sorted(d["clock"].items(), key=lambda kv: -kv[1]):
        k = d["calls"].get(name, 0)
        print(f"    {name:<46} {s:>7.2f} {s / d['wall']:>6.0%} {k or '':>7} "
              f"{(s / k * 1000 if k else float('nan')):>8.2f} {s / max(d['sent'], 1) * 1000:>7.3f}")
    store_s = sum(s for k, s in d["clock"].items() if k.startswith("store:"))
    print(f"    store (claims, marks, outcomes, cap reads): {store_s:.1f} s = {store_s / d['wall']:.0%}; "
          f"SMTP round trips: {d['clock']['smtp transaction']:.1f} s = {d['clock']['smtp transaction'] / d['wall']:.0%}")
    print(f"    outcomes: {d['counts']}; outbox now: {d['stored']}")
    print(f"\n  peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; "
          f"whole run {time.perf_counter() - start:.0f} s; facts frame built in {facts_s:.1f} s (not timed above)")


if __name__ == "__main__":
    main()
