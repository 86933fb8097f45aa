"""`tenure serve` under load: the open pixel, the tracked click and GET /v1/customers/{id}.

The script builds a generated shop (--customers, like `make demo`: history to 2025-12-31,
snapshots on 2025-12-01 and 2025-12-31) in a temporary folder, or uses the workspace named by
--workspace; makes a read API key; signs --tokens distinct open and click tokens with the
workspace secret (real customer ids, outbox keys `bench-...` that no message has); starts
`tenure serve` (a subprocess on a free port of 127.0.0.1, no schedule); and loads each endpoint
for --warmup seconds (not reported) and then --seconds seconds over --connections keep-alive
connections, rotating among the tokens and among --tokens customer ids:

  GET /t/o/{token}             the open pixel (target: 2,000 req/s with p99 under 50 ms on 2 cores)
  GET /t/c/{token}             a tracked click (302 to the signed URL)
  GET /v1/customers/{id}       a profile, with `Authorization: Bearer <read key>`

The load generator is `wrk` (with a Lua script that rotates the paths and counts what it sent
and what was answered) when it is on PATH, otherwise a bounded asyncio client on raw
keep-alive connections in this process (--load python forces it). Both run on the same
machine as the server: on a 2-core machine the load generator takes CPU from the server, and
the output says how much each used.

After the runs the server is stopped gracefully (SIGINT: the tracking writer flushes its queue)
and the open and click events in the store are counted against the answered requests: every
answered pixel must have its event. wrk stops with up to one request per connection in flight,
which the server may or may not have recorded; the Python client waits for its answers, so
there the counts must be equal.

    .venv/bin/python benchmarks/server.py                         # 20,000 customers, 10 s per endpoint, 50 connections
    .venv/bin/python benchmarks/server.py --seconds 5 --connections 20
    .venv/bin/python benchmarks/server.py --workspace demo-shop   # an existing workspace (its events are removed after)
    .venv/bin/python benchmarks/server.py --load python --workers 2

Bounded: about 70 s at the defaults (shop 10 s, 3 x (2 + 10) s of load, starts and stops).
Prints figures; asserts nothing; writes only in its temporary folder (or, with --workspace, a
read key that is revoked and `bench-` tracking events that are deleted at the end). Results
and the machine are in docs/benchmarks-server.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from _machine import describe  # benchmarks/_machine.py: run as scripts, benchmarks/ is on the path

TARGET_RPS = 2_000          # the issue: the open pixel at 2,000 req/s ...
TARGET_P99_MS = 50.0        # ... with p99 under 50 ms, on 2 cores
KEY_PREFIX = "bench-"       # outbox keys of the benchmark's tokens (removed from a reused workspace)
DAYS = ("2025-12-01", "2025-12-31")
TENURE = str(Path(sys.executable).parent / "tenure")
TIMEOUT_S = 10              # a request not answered in this time is an error (a timeout)

LUA = r"""
-- Rotate among the paths in args[1]; count requests sent, answered, and answered 2xx/3xx.
paths = {}
counter, sent, answered, ok = 0, 0, 0, 0
local threads = {}
local n = 0

function setup(thread)
   thread:set("offset", n * 7919)
   n = n + 1
   table.insert(threads, thread)
end

function init(args)
   for line in io.lines(args[1]) do paths[#paths + 1] = line end
   if args[2] ~= nil and args[2] ~= "" then wrk.headers["Authorization"] = "Bearer " .. args[2] end
   counter = offset or 0
end

function request()
   counter = counter + 1
   sent = sent + 1
   return wrk.format("GET", paths[(counter % #paths) + 1])
end

function response(status, headers, body)
   answered = answered + 1
   if status >= 200 and status < 400 then ok = ok + 1 end
end

function done(summary, latency, requests)
   local s, a, o = 0, 0, 0
   for _, t in ipairs(threads) do
      s = s + t:get("sent"); a = a + t:get("answered"); o = o + t:get("ok")
   end
   local e = summary.errors
   io.write(string.format('WRK-JSON {"sent": %d, "answered": %d, "ok": %d, "requests": %d, "duration_us": %d, ' ..
      '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "connect_errors": %d, ' ..
      '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d}\n',
      s, a, o, summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


# -- the machine and the shop ------------------------------------------------------------------
def machine() -> str:
    import fastapi
    import uvicorn

    versions = {"FastAPI": fastapi.__version__, "uvicorn": uvicorn.__version__,
                "SQLite": __import__("sqlite3").sqlite_version}
    for name in ("uvloop", "httptools"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = "absent"
    return describe(**versions)


def build_shop(folder: Path, customers: int) -> Path:
    """A generated shop like `make demo`: ingested, with a snapshot on each of DAYS."""
    from tenure import Workspace, generate

    generate(customers=customers, seed=7, out=folder / "input", fmt="parquet")
    ws = Workspace.init(folder / "shop")
    for entity in ("customers", "orders", "order_items", "events"):
        ws.ingest(entity, [folder / "input" / f"{entity}.parquet"])
    for day in DAYS:
        ws.run(as_of=dt.date.fromisoformat(day), dispatch=False)
    return ws.root


def customer_ids(ws, n: int) -> list[str]:
    import duckdb

    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        rows = con.execute("SELECT customer_id FROM customers ORDER BY hash(customer_id) LIMIT ?", [n]).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def paths_for(ws, n: int) -> dict[str, list[str]]:
    """n distinct signed open and click tokens (customers repeat when the shop has fewer) and
    customer ids, as request paths."""
    from urllib.parse import quote

    from tenure import tokens

    ids = customer_ids(ws, n)
    secret = ws.secret
    opens, clicks = [], []
    for i in range(n):
        cid = ids[i % len(ids)]
        key = f"{KEY_PREFIX}{i:07d}"
        opens.append("/t/o/" + tokens.sign(secret, "open", {"k": key, "c": cid}))
        clicks.append("/t/c/" + tokens.sign(secret, "click", {"k": key, "c": cid,
                                                             "u": f"https://shop.example.com/p/{i}?utm_source=tenure"}))
    return {"open": opens, "click": clicks, "customer": [f"/v1/customers/{quote(c, safe='')}" for c in ids]}


def bench_events(ws) -> dict[str, int]:
    import sqlalchemy as sa

    from tenure.store.tables import tracking_events as te

    with ws.store.connect() as conn:
        rows = conn.execute(sa.select(te.c.type, sa.func.count()).where(te.c.outbox_key.like(f"{KEY_PREFIX}%"))
                            .group_by(te.c.type)).all()
    return {t: n for t, n in rows}


def clean_up(ws, key_id: str | None) -> None:
    import sqlalchemy as sa

    from tenure.access import revoke_key
    from tenure.store.tables import tracking_events as te

    with ws.store.begin() as conn:
        conn.execute(sa.delete(te).where(te.c.outbox_key.like(f"{KEY_PREFIX}%")))
    if key_id:
        revoke_key(ws.store, key_id)


# -- the server --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`tenure serve` in a subprocess; stop() is a graceful SIGINT."""

    def __init__(self, root: Path, log: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [TENURE, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--schedule", "",
                "--workspace", str(root)]
        if workers > 1:
            args += ["--workers", str(workers)]
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"tenure serve exited with {self.proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise SystemExit(f"tenure serve did not answer in 60 s: {log.read_text()[-2000:]}")
        if workers > 1:  # every worker answers, not only the first one up
            time.sleep(1.0)

    def cpu(self) -> float:
        """CPU seconds (user + system) of the server and its worker processes so far."""
        tick, total = os.sysconf("SC_CLK_TCK"), 0.0
        pids, tree = {self.proc.pid}, {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            tree[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _) in tree.items():
                if ppid in pids and pid not in pids:
                    pids.add(pid)
                    grew = True
        return sum(tree[p][1] for p in pids if p in tree)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # graceful: the tracking writer flushes its queue
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode


# -- load generators ---------------------------------------------------------------------------
def run_wrk(url: str, paths_file: Path, lua: Path, seconds: float, connections: int, threads: int,
            key: str | None) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", f"{TIMEOUT_S}s",
           "--latency", "-s", str(lua), url, "--", str(paths_file), key or ""]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = re.search(r"^WRK-JSON (.*)$", out.stdout, re.M)
    if out.returncode != 0 or not found:
        raise SystemExit(f"wrk failed ({out.returncode}): {out.stdout[-1500:]} {out.stderr[-1500:]}")
    w = json.loads(found.group(1))
    wall = w["duration_us"] / 1e6
    errors = w["answered"] - w["ok"] + w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    return {"requests": w["answered"], "ok": w["ok"], "sent": w["sent"], "wall": wall,
            "rps": w["answered"] / wall, "p50_ms": w["p50_us"] / 1000, "p90_ms": w["p90_us"] / 1000,
            "p99_ms": w["p99_us"] / 1000, "max_ms": w["max_us"] / 1000, "errors": errors,
            "client_cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}


async def _python_load(host: str, port: int, paths: list[str], seconds: float, connections: int,
                       key: str | None, timeout: float = 10.0) -> dict:
    """`connections` keep-alive HTTP/1.1 connections, each sending its next request when the last
    one is answered, until `seconds` have passed; then each waits for its last answer."""
    loop = asyncio.get_running_loop()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    latencies: list[float] = []
    counts = {"sent": 0, "answered": 0, "ok": 0, "io_errors": 0}
    deadline = loop.time() + seconds

    async def answer(reader) -> tuple[int, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif "content-length" in headers:
            await reader.readexactly(int(headers["content-length"]))
        return status, headers.get("connection", "").lower() != "close"

    async def worker(i: int) -> None:
        j = i * 7919
        reader = writer = None
        while loop.time() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
                path = paths[j % len(paths)]
                j += 1
                request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode()
                start = time.perf_counter()
                counts["sent"] += 1
                writer.write(request)
                status, keep = await asyncio.wait_for(answer(reader), timeout)
                latencies.append(time.perf_counter() - start)
                counts["answered"] += 1
                counts["ok"] += 200 <= status < 400
                if not keep:
                    writer.close()
                    writer = None
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
                counts["io_errors"] += 1
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()

    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker(i) for i in range(connections))), seconds + timeout + 10)
    wall = time.perf_counter() - start
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": counts["answered"], "ok": counts["ok"], "sent": counts["sent"], "wall": wall,
            "rps": counts["answered"] / wall, "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
            "errors": counts["answered"] - counts["ok"] + counts["io_errors"]}


def run_python(url: str, paths: list[str], seconds: float, connections: int, key: str | None) -> dict:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    host, port = url.removeprefix("http://").split(":")
    before = resource.getrusage(resource.RUSAGE_SELF)
    out = runner(_python_load(host, int(port), paths, seconds, connections, key))
    after = resource.getrusage(resource.RUSAGE_SELF)
    out["client_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return out


# -- measuring ---------------------------------------------------------------------------------
# (name, label, which paths, with the API key, connections: None = --connections)
ENDPOINTS = [("open", "GET /t/o/{token}", "open", False, None),
             ("click", "GET /t/c/{token}", "click", False, None),
             ("customer", "GET /v1/customers/{id}", "customer", True, None),
             ("customer-1", "GET /v1/customers/{id}", "customer", True, 1)]


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all processes, from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measure(server: Server, load: str, which: str, paths: list[str], key: str | None, connections: int, args,
            tmp: Path) -> dict:
    def once(seconds: float) -> dict:
        if load == "wrk":
            return run_wrk(server.url, tmp / f"{which}.paths", tmp / "rotate.lua", seconds, connections,
                           min(args.threads, connections), key)
        return run_python(server.url, paths, seconds, connections, key)

    warm = once(args.warmup) if args.warmup else {"ok": 0, "sent": 0, "requests": 0}
    cpu0, busy0 = server.cpu(), machine_busy()
    timed = once(args.seconds)
    timed["server_cpu"], busy = server.cpu() - cpu0, machine_busy() - busy0
    timed["other_cpu"] = max(0.0, busy - timed["server_cpu"] - timed["client_cpu"])
    timed["warm"], timed["connections"] = warm, connections
    return timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=20_000, help="customers of the generated shop")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per endpoint")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement (not reported)")
    ap.add_argument("--connections", type=int, default=50, help="concurrent keep-alive connections")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--tokens", type=int, default=20_000, help="distinct open and click tokens (and customer ids, "
                                                                  "at most the shop's customers)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (tenure serve --workers)")
    ap.add_argument("--load", choices=("auto", "wrk", "python"), default="auto",
                    help="load generator: wrk when on PATH (auto), or the asyncio client in this script")
    ap.add_argument("--workspace", type=Path, default=None, help="use this workspace instead of generating a shop")
    ap.add_argument("--only", choices=[e[0] for e in ENDPOINTS], action="append",
                    help="measure only these (repeatable; customer-1 is the profile over one connection)")
    args = ap.parse_args()
    if not 1 <= args.connections <= 1000 or not 0 < args.seconds <= 600 or not 0 <= args.warmup <= 60:
        raise SystemExit("bounds: --connections 1..1000, --seconds up to 600, --warmup up to 60")
    load = args.load
    if load == "auto":
        load = "wrk" if shutil.which("wrk") else "python"
    elif load == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not on PATH (Debian: apt-get install wrk); or use --load python")
    if load == "wrk" and args.threads > args.connections:
        raise SystemExit("--threads must not exceed --connections")

    from tenure import Workspace
    from tenure.access import create_key

    cores = os.cpu_count()
    print(f"Machine: {machine()}")
    generator = (f"wrk {subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.split()[1]} "
                 f"({args.threads} thread{'s' if args.threads > 1 else ''}, Lua rotation)" if load == "wrk"
                 else "the script's asyncio client (raw keep-alive HTTP/1.1, uvloop when installed)")
    print(f"Load generator: {generator}; {args.connections} connections, {args.warmup:g} s warm-up + "
          f"{args.seconds:g} s measured per endpoint, 127.0.0.1 only")
    print(f"Server: tenure serve, {args.workers} worker process{'es' if args.workers > 1 else ''}; the server and the "
          f"load generator share this machine's {cores} cores (the load generator's CPU is the server's loss)")

    tmp = Path(tempfile.mkdtemp(prefix="tenure-bench-server-"))
    key_id = None
    try:
        if args.workspace:
            ws = Workspace(args.workspace)
            print(f"Workspace: {ws.root} (given)")
        else:
            t = time.perf_counter()
            ws = Workspace(build_shop(tmp, args.customers))
            print(f"Workspace: a generated shop of {args.customers:,} customers, built in "
                  f"{time.perf_counter() - t:.1f} s under {tmp}")
        clean_up(ws, None)
        key = create_key(ws.store, scope="read", name="benchmarks/server.py")
        key_id = key.split("_")[1]
        paths = paths_for(ws, args.tokens)
        for name, items in paths.items():
            (tmp / f"{name}.paths").write_text("\n".join(items) + "\n")
        (tmp / "rotate.lua").write_text(LUA)
        print(f"Rotation: {len(paths['open']):,} distinct open tokens, {len(paths['click']):,} click tokens, "
              f"{len(paths['customer']):,} customer ids; each connection starts at its own place in the list")

        results = {}
        server = Server(ws.root, tmp / "serve.log", args.workers)
        try:
            for name, label, which, auth, conns in ENDPOINTS:
                if args.only and name not in args.only:
                    continue
                r = results[name] = measure(server, load, which, paths[which], key if auth else None,
                                            conns or args.connections, args, tmp)
                print(f"  measured {label} over {r['connections']} connection(s): {r['rps']:,.0f} req/s", flush=True)
        finally:
            t = time.perf_counter()
            code = server.stop()
            stop_s = time.perf_counter() - t
        events = bench_events(ws)

        print()
        print(f"{'endpoint':<24}{'conns':>6}{'req/s':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
              f"{'answered':>10}{'errors':>7}{'server CPU':>11}{'us/req':>8}{'load CPU':>9}{'others':>8}")
        for name, label, *_ in ENDPOINTS:
            if name not in results:
                continue
            r = results[name]
            per = r["server_cpu"] / r["requests"] * 1e6 if r["requests"] else float("nan")
            print(f"{label:<24}{r['connections']:>6}{r['rps']:>8,.0f}{r['p50_ms']:>9.2f}{r['p90_ms']:>9.2f}"
                  f"{r['p99_ms']:>9.2f}{r['max_ms']:>9.1f}{r['requests']:>10,}{r['errors']:>7,}"
                  f"{r['server_cpu'] / r['wall']:>10.2f}c{per:>8,.0f}{r['client_cpu'] / r['wall']:>8.2f}c"
                  f"{r['other_cpu'] / r['wall']:>7.2f}c")
        print(f"CPU: cores busy on average over the measured seconds (of {cores}): the server (and its workers), "
              "its CPU microseconds per answered request, the load generator, every other process on the "
              f"machine. errors: answers other than 2xx/3xx, connection errors, no answer in {TIMEOUT_S} s.")
        if "open" in results:
            r = results["open"]
            met = r["rps"] >= TARGET_RPS and r["p99_ms"] < TARGET_P99_MS and r["errors"] == 0
            print(f"\nOpen pixel against the target ({TARGET_RPS:,} req/s with p99 under {TARGET_P99_MS:g} ms on "
                  f"2 cores): {r['rps'] / TARGET_RPS:.2f}x the rate, p99 {r['p99_ms'] / TARGET_P99_MS:.2f}x the "
                  f"limit ({TARGET_P99_MS / r['p99_ms']:.1f}x under it): {'met' if met else 'NOT met'}")

        print(f"\nServer stopped (SIGINT) in {stop_s:.1f} s, exit code {code}. Tracking events in the store "
              "against the requests answered (warm-ups included):")
        for kind in ("open", "click"):
            if kind not in results:
                continue
            rs = [results[kind], results[kind]["warm"]]
            ok = sum(r["ok"] for r in rs)
            in_flight = sum(r["sent"] - r["requests"] for r in rs)
            written = events.get(kind, 0)
            if written == ok:
                verdict = "equal, none lost"
            elif ok < written <= ok + in_flight:
                verdict = (f"{written - ok:,} more: requests sent and recorded, their answers unread when the "
                           f"load generator stopped ({in_flight:,} in flight); none lost")
            elif written < ok:
                verdict = f"{ok - written:,} LOST"
            else:
                verdict = f"{written - ok - in_flight:,} more than were sent: unexplained"
            print(f"  {kind:<6} {written:>9,} written, {ok:>9,} answered 2xx/3xx: {verdict}")
    finally:
        if args.workspace and key_id:
            clean_up(ws, key_id)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
