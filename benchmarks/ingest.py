"""Ingest throughput and peak memory, for generated shops of 1M and 10M orders.

For each size and format (Parquet, CSV) it times `Workspace.ingest("orders", ...)` into a fresh
workspace, in a child process so that the peak memory is that run's alone, and in the same run
two references: the issue's target (1M rows/s from Parquet) and a plain DuckDB copy of the same
file into a table (no validation, no dedupe: the floor for any loader on this engine).

    .venv/bin/python benchmarks/ingest.py [--orders 1000000 10000000] [--dir .bench]

Prints figures; asserts nothing. Results and the machine are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from _machine import describe  # benchmarks/_machine.py: run as scripts, benchmarks/ is on the path

TARGET_ROWS_PER_S = 1_000_000


def child(mode: str, path: str, workdir: str) -> None:
    """Run one measured load and print its figures as JSON."""
    import datetime as dt

    import duckdb

    from tenure import Workspace

    shutil.rmtree(workdir, ignore_errors=True)
    start = time.perf_counter()
    if mode == "tenure":
        ws = Workspace.init(workdir)
        summary = ws.ingest("orders", [path], now=dt.datetime(2026, 1, 1))
        rows = summary.count("loaded") + summary.count("guest")
    else:
        Path(workdir).mkdir(parents=True)
        con = duckdb.connect(str(Path(workdir) / "plain.duckdb"))
        reader = f"read_parquet('{path}')" if path.endswith(".parquet") else f"read_csv('{path}')"
        con.execute(f"CREATE TABLE orders AS SELECT * FROM {reader}")
        rows = con.execute("SELECT count(*) FROM orders").fetchone()[0]
        con.close()
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def measure(mode: str, path: Path, workdir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), str(workdir)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dir", type=Path, default=Path(".bench"))
    args = parser.parse_args()
    from tenure.synth import customers_for_orders, generate

    print(f"machine: {describe()}")
    print(f"{'orders':>12} {'format':>8} {'loaded':>12} {'tenure s':>9} {'rows/s':>11} {'peak MB':>8} "
          f"{'vs 1M/s':>8} {'plain s':>8} {'vs plain':>9}")
    for n in args.orders:
        for fmt in ("parquet", "csv"):
            data = args.dir / f"shop-{n}-{fmt}"
            if not (data / f"orders.{fmt}").exists():
                generate(customers=customers_for_orders(n), seed=1, out=data, fmt=fmt)
            path = data / f"orders.{fmt}"
            ours = measure("tenure", path, args.dir / "ws")
            plain = measure("plain", path, args.dir / "plain")
            rate = ours["rows"] / ours["seconds"]
            print(f"{n:>12,} {fmt:>8} {ours['rows']:>12,} {ours['seconds']:>9.2f} {rate:>11,.0f} "
                  f"{ours['peak_mb']:>8,.0f} {rate / TARGET_ROWS_PER_S:>7.2f}x {plain['seconds']:>8.2f} "
                  f"{ours['seconds'] / plain['seconds']:>8.2f}x", flush=True)
    shutil.rmtree(args.dir / "ws", ignore_errors=True)
    shutil.rmtree(args.dir / "plain", ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
