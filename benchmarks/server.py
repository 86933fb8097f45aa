"""`tenure serve` under load: the open pixel, the tracked click and GET /v1/customers/{id}.

The script builds a generated shop (--customers, like `make demo`: history to 2025-12-31,
snapshots on 2025-12-01 and 2025-12-31) in a temporary folder, or uses the workspace named by
--workspace; makes a read API key; signs --tokens distinct open and click tokens with the
workspace secret (real customer ids, outbox keys `bench-...` that no message has); starts
`tenure serve` (a subprocess on a free port of 127.0.0.1, no schedule, --workers N); and loads
each endpoint for --warmup seconds (not reported), then --seconds seconds, rotating among the
tokens and among the customer ids:

  GET /t/o/{token}             the open pixel, as fast as it answers over --connections
  GET /t/o/{token} @2k/s       the open pixel at a fixed 2,000 requests a second (the target:
                               2,000 req/s with p99 under 50 ms on 2 cores)
  GET /t/c/{token}             a tracked click (302 to the signed URL), as fast as it answers
  GET /v1/customers/{id}       a profile with `Authorization: Bearer <read key>`, over
                               --connections and over one connection

"As fast as it answers" is a closed loop: each connection sends its next request when the
last is answered. It is run by `wrk` when it is on PATH (a Lua script rotates the paths and
counts what was sent and answered; --latency), otherwise (or with --load python) by the
script's asyncio client on raw keep-alive connections. The fixed rate is an open loop that wrk
cannot do: the script's client sends request i at start + i / rate over up to --connections
connections and counts its latency from that moment, so a stalled server shows. Both load
generators run on the server's machine: on 2 cores they take CPU from the server, and the
output says how much each used and what other processes used meanwhile.

After the runs the server is stopped gracefully (SIGINT: the tracking writer writes its queue)
and the open and click events in the store are counted against the answered requests: every
answered pixel and click must have its event. wrk stops with up to one request per connection
in flight, which the server may have recorded; the Python client waits for its answers, so
there the counts must be equal.

    .venv/bin/python benchmarks/server.py                         # 20,000 customers, 10 s per endpoint, 50 connections
    .venv/bin/python benchmarks/server.py --workers 2             # tenure serve --workers 2
    .venv/bin/python benchmarks/server.py --seconds 5 --connections 20 --only open --only open-rate
    .venv/bin/python benchmarks/server.py --workspace demo-shop   # an existing workspace (its events are removed after)
    .venv/bin/python benchmarks/server.py --load python           # without wrk

Bounded: about 90 s at the defaults (the shop 5-10 s, 5 x (2 + 10) s of load, starts and
stops); every request has a 10 s timeout. Prints figures; asserts nothing; writes only in its
temporary folder (or, with --workspace, a read key that is revoked and `bench-` tracking events
that are deleted at the end). Results and the machine are in docs/benchmarks-server.md.
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


async def _answer(reader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response: (status, whether the connection stays open)."""
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


def _summary(latencies: list[float], counts: dict, wall: float) -> dict:
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": counts["answered"], "ok": counts["ok"], "sent": counts["sent"], "wall": wall,
            "rps": counts["answered"] / wall, "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
            "errors": counts["answered"] - counts["ok"] + counts["io_errors"]}


async def _python_load(host: str, port: int, paths: list[str], seconds: float, connections: int,
                       key: str | None, timeout: float = 10.0) -> dict:
    """`connections` keep-alive HTTP/1.1 connections, each sending its next request when the last
    one is answered, until `seconds` have passed; then each waits for its last answer."""
    loop = asyncio.get_running_loop()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    latencies: list[float] = []
    counts = {"sent": 0, "answered": 0, "ok": 0, "io_errors": 0}
    deadline = loop.time() + seconds

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
                status, keep = await asyncio.wait_for(_answer(reader), timeout)
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
    return _summary(latencies, counts, time.perf_counter() - start)


async def _python_rate(host: str, port: int, paths: list[str], seconds: float, rate: float, connections: int,
                       key: str | None, timeout: float = 10.0) -> dict:
    """An open loop: request i is due at start + i / rate whatever the answers so far. Each of
    `connections` keep-alive connections takes the next request number, waits for its time if
    it is early, sends it and reads the answer; latency counts from when the request was due,
    so a stalled server is not hidden by requests that were not sent meanwhile."""
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    latencies: list[float] = []
    counts = {"sent": 0, "answered": 0, "ok": 0, "io_errors": 0}
    total = int(rate * seconds)
    taken = 0
    start = time.perf_counter() + 0.05

    async def worker() -> None:
        nonlocal taken
        reader = writer = None
        while taken < total:
            i = taken
            taken += 1
            due = start + i / rate
            early = due - time.perf_counter()
            if early > 0:
                await asyncio.sleep(early)
            try:
                async with asyncio.timeout(max(0.1, due + timeout - time.perf_counter())):
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    counts["sent"] += 1
                    writer.write(f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}\r\n".encode())
                    status, keep = await _answer(reader)
                latencies.append(time.perf_counter() - due)
                counts["answered"] += 1
                counts["ok"] += 200 <= status < 400
                if not keep:
                    writer.close()
                    writer = None
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
                counts["io_errors"] += 1
                if writer is not None:
                    writer.close()
                writer = None
        if writer is not None:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(connections))), seconds + timeout + 10)
    out = _summary(latencies, counts, time.perf_counter() - start)
    out["offered"], out["rps"] = total, counts["answered"] / seconds  # answered per second of the offered window
    return out


def run_python(url: str, paths: list[str], seconds: float, connections: int, key: str | None,
               rate: float | None = None) -> dict:
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    host, port = url.removeprefix("http://").split(":")
    before = resource.getrusage(resource.RUSAGE_SELF)
    if rate:
        out = runner(_python_rate(host, int(port), paths, seconds, rate, connections, key))
    else:
        out = runner(_python_load(host, int(port), paths, seconds, connections, key))
    after = resource.getrusage(resource.RUSAGE_SELF)
    out["client_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return out


# -- measuring ---------------------------------------------------------------------------------
# (name, label, which paths, with the API key, connections: None = --connections, fixed rate:
# None = as fast as answered, "target" = TARGET_RPS offered by the open-loop Python client)
ENDPOINTS = [("open", "GET /t/o/{token}", "open", False, None, None),
             ("open-rate", "GET /t/o/{token}", "open", False, None, "target"),
             ("click", "GET /t/c/{token}", "click", False, None, None),
             ("customer", "GET /v1/customers/{id}", "customer", True, None, None),
             ("customer-1", "GET /v1/customers/{id}", "customer", True, 1, None)]


def machine_cpu() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy (every process, from /proc/stat), and those
    the hypervisor took from this virtual machine (steal)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    fields += [0] * (8 - len(fields))
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]   # user nice system irq softirq
    return busy / os.sysconf("SC_CLK_TCK"), fields[7] / os.sysconf("SC_CLK_TCK")


def measure(server: Server, load: str, which: str, paths: list[str], key: str | None, connections: int, args,
            tmp: Path, rate: float | None = None) -> dict:
    def once(seconds: float) -> dict:
        if rate:
            return run_python(server.url, paths, seconds, connections, key, rate)
        if load == "wrk":
            return run_wrk(server.url, tmp / f"{which}.paths", tmp / "rotate.lua", seconds, connections,
                           min(args.threads, connections), key)
        return run_python(server.url, paths, seconds, connections, key)

    warm = once(args.warmup) if args.warmup else {"ok": 0, "sent": 0, "requests": 0}
    cpu0, (busy0, steal0) = server.cpu(), machine_cpu()
    timed = once(args.seconds)
    busy, steal = machine_cpu()
    timed["server_cpu"], timed["steal"] = server.cpu() - cpu0, steal - steal0
    timed["other_cpu"] = max(0.0, busy - busy0 - timed["server_cpu"] - timed["client_cpu"])
    timed["warm"], timed["connections"], timed["rate"] = warm, connections, rate
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
                    help="measure only these (repeatable): open, open-rate (the pixel at 2,000 req/s offered), "
                         "click, customer, customer-1 (the profile over one connection)")
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
          f"{args.seconds:g} s measured per endpoint, 127.0.0.1 only; the pixel at a fixed "
          f"{TARGET_RPS:,} req/s: the script's open-loop asyncio client")
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
            for name, label, which, auth, conns, rate in ENDPOINTS:
                if args.only and name not in args.only:
                    continue
                r = results[name] = measure(server, load, which, paths[which], key if auth else None,
                                            conns or args.connections, args, tmp, TARGET_RPS if rate else None)
                how = f"{'at most ' if rate else ''}{r['connections']} connection(s)" + (
                    f", {TARGET_RPS:,} req/s offered" if rate else "")
                print(f"  measured {label} over {how}: {r['rps']:,.0f} req/s", flush=True)
        finally:
            t = time.perf_counter()
            code = server.stop()
            stop_s = time.perf_counter() - t
        events = bench_events(ws)

        print()
        print(f"{'endpoint':<24}{'conns':>6}{'req/s':>8}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
              f"{'answered':>10}{'errors':>7}{'server CPU':>11}{'us/req':>8}{'load CPU':>9}{'others':>8}{'steal':>7}")
        for name, label, *_ in ENDPOINTS:
            if name not in results:
                continue
            r = results[name]
            per = r["server_cpu"] / r["requests"] * 1e6 if r["requests"] else float("nan")
            label = f"{label} @{TARGET_RPS // 1000}k/s" if r["rate"] else label
            print(f"{label:<24}{r['connections']:>6}{r['rps']:>8,.0f}{r['p50_ms']:>9.2f}{r['p90_ms']:>9.2f}"
                  f"{r['p99_ms']:>9.2f}{r['max_ms']:>9.1f}{r['requests']:>10,}{r['errors']:>7,}"
                  f"{r['server_cpu'] / r['wall']:>10.2f}c{per:>8,.0f}{r['client_cpu'] / r['wall']:>8.2f}c"
                  f"{r['other_cpu'] / r['wall']:>7.2f}c{r['steal'] / r['wall']:>6.2f}c")
        print(f"CPU: cores busy on average over the measured seconds (of {cores}): the server (and its workers), "
              "its CPU microseconds per answered request, the load generator, every other process on the "
              "machine, and the time the hypervisor took from this machine's cores (steal). errors: answers "
              f"other than 2xx/3xx, connection errors, no answer in {TIMEOUT_S} s.")
        print("@2k/s: requests offered at a fixed rate by the open-loop Python client (latency from when each "
              "was due); the other rows: as fast as answered, each connection sending on its answer.")
        closed, fixed = results.get("open"), results.get("open-rate")
        if closed or fixed:
            print(f"\nOpen pixel against the target ({TARGET_RPS:,} req/s with p99 under {TARGET_P99_MS:g} ms on 2 cores):")
            if closed:
                print(f"  as fast as answered over {closed['connections']} connections: {closed['rps']:,.0f} req/s, "
                      f"{closed['rps'] / TARGET_RPS:.2f}x the rate (p99 {closed['p99_ms']:.1f} ms at that load)")
            if fixed:
                print(f"  at {TARGET_RPS:,} req/s offered: {fixed['ok']:,} of {fixed['offered']:,} requests answered "
                      f"2xx, p99 {fixed['p99_ms']:.1f} ms, {fixed['p99_ms'] / TARGET_P99_MS:.2f}x the limit "
                      f"({TARGET_P99_MS / fixed['p99_ms']:.1f}x under it)")
            met = ((not closed or (closed["rps"] >= TARGET_RPS and closed["errors"] == 0)) and
                   (fixed["p99_ms"] < TARGET_P99_MS and fixed["ok"] == fixed["offered"]
                    if fixed else closed["p99_ms"] < TARGET_P99_MS))
            print(f"  target {'met' if met else 'NOT met'}")

        print(f"\nServer stopped (SIGINT) in {stop_s:.1f} s, exit code {code}. Tracking events in the store "
              "against the requests answered (warm-ups included):")
        for kind in ("open", "click"):
            rs = [x for name, _, which, *_ in ENDPOINTS if which == kind and name in results
                  for x in (results[name], results[name]["warm"])]
            if not rs:
                continue
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
