"""Prediction speed: summary, fit and scoring for 1M and 10M customers, against lifetimes 0.11.3.

For each size it simulates purchases from known BG/NBD and Gamma-Gamma parameters (cached under
--dir as Parquet and as a DuckDB `orders` table shaped like the warehouse's), then times:

  tenure     the summary in DuckDB (`tenure.clv.summary.customer_summary`, to pandas), the fit
             of BG/NBD + Gamma-Gamma (`tenure.clv.scoring.fit`, unit days), and the scoring of
             every customer (`scoring.score`: p_alive, P(purchase in 90 days), expected
             purchases, expected spend, 12-step discounted CLV, next purchase date).
  lifetimes  lifetimes 0.11.3 in its own virtual environment (created here under --dir; it is
             unmaintained and never a project dependency): `summary_data_from_transaction_data`
             on the same purchases (freq D), `BetaGeoFitter` + `GammaGammaFitter`, and scoring
             (p_alive, expected purchases in 90 days, expected average profit) - less than
             tenure's scoring computes.

Both fit the same data; the benchmark prints the relative difference of every parameter (the
issue asks 1e-4) and the ratio lifetimes / tenure per step and in total (the issue asks >= 10x).
lifetimes runs in a child process with --lifetimes-timeout seconds per size; when it does not
finish, the ratio is printed as a lower bound.

    .venv/bin/python benchmarks/clv.py [--customers 1000000 10000000] [--dir .bench/clv]

Prints figures; asserts nothing. Results and the machine are in docs/benchmarks-clv.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

TRUTH = {"r": 0.5, "alpha": 60.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 60.0}
START, DAYS = dt.date(2024, 1, 1), 730
AS_OF = START + dt.timedelta(days=DAYS - 1)
TARGET_FIT_S, TARGET_SCORE_S, TARGET_RATIO = 10.0, 10.0, 10.0
LIFETIMES = ["lifetimes==0.11.3", "numpy<2", "pandas<2", "scipy<1.12", "pyarrow<16"]

LIFETIMES_SCRIPT = textwrap.dedent("""
    import json, sys, time, warnings
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data
    warnings.simplefilter("ignore")
    path, end = sys.argv[1], sys.argv[2]
    tx = pd.read_parquet(path, columns=["customer_id", "ordered_at", "amount"])
    out = {}
    t = time.perf_counter()
    s = summary_data_from_transaction_data(tx, "customer_id", "ordered_at", monetary_value_col="amount",
                                           observation_period_end=end, freq="D")
    out["summary_s"] = time.perf_counter() - t
    t = time.perf_counter()
    bgf = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    rep = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
    ggf = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    out["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    pa = bgf.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
    ex = bgf.conditional_expected_number_of_purchases_up_to_time(90, s["frequency"], s["recency"], s["T"])
    sp = ggf.conditional_expected_average_profit(s["frequency"], s["monetary_value"])
    out["score_s"] = time.perf_counter() - t
    gg = {"gamma" if k == "v" else k: float(v) for k, v in ggf.params_.items()}
    out["params"] = {**{k: float(v) for k, v in bgf.params_.items()}, **gg}
    out["customers"] = int(len(s))
    print(json.dumps(out))
""")


def data(n: int, folder: Path) -> tuple[Path, Path]:
    """Simulated purchases of n customers: Parquet (for lifetimes) and a DuckDB warehouse-like table."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tenure.clv.simulate import simulate_transactions

    folder.mkdir(parents=True, exist_ok=True)
    parquet, db = folder / "purchases.parquet", folder / "orders.duckdb"
    if parquet.exists() and db.exists():
        return parquet, db
    t = time.perf_counter()
    tx = simulate_transactions(n, **TRUTH, start=START.isoformat(), days=DAYS, seed=n)
    table = pa.table({
        "customer_id": pa.array(_ids(tx.customer.to_numpy())),
        "ordered_at": pa.array((START - dt.date(1970, 1, 1)).days * 86400 * 10**6 + tx.day.to_numpy() * 86400 * 10**6
                               + 12 * 3600 * 10**6, type=pa.timestamp("us")),
        "amount": pa.array(tx.amount.to_numpy()),
    })
    pq.write_table(table, parquet)
    con = duckdb.connect(str(db))
    con.execute(f"""CREATE OR REPLACE TABLE orders AS SELECT customer_id, ordered_at, 'completed' AS status,
                    CAST(amount AS DECIMAL(18,4)) AS amount FROM '{parquet}'""")
    con.close()
    print(f"  simulated {len(tx):,} purchases of {n:,} customers in {time.perf_counter() - t:.1f} s")
    return parquet, db


def _ids(numbers):
    import numpy as np

    return np.char.add("c", np.char.zfill(numbers.astype(str), 8))


def run_tenure(db: Path) -> dict:
    import ibis

    from tenure.analytics.features import Tables
    from tenure.clv import scoring
    from tenure.clv.summary import summary_frame

    con = ibis.duckdb.connect(str(db), read_only=True)
    orders = con.table("orders")
    tables = Tables(customers=None, orders=orders, events=None)
    out = {}
    t = time.perf_counter()
    summary = summary_frame(tables, as_of=AS_OF)
    out["summary_s"] = time.perf_counter() - t
    t = time.perf_counter()
    models = scoring.fit(summary, unit="days")
    out["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    scoring.score(summary, models, as_of=AS_OF)
    out["score_s"] = time.perf_counter() - t
    out["params"] = {**models.bgnbd.params, **models.gamma_gamma.params}
    out["customers"] = len(summary)
    return out


def lifetimes_python(folder: Path) -> Path:
    venv = folder / "lifetimes-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *LIFETIMES], check=True)
    return py


def run_lifetimes(py: Path, parquet: Path, timeout: float) -> dict | None:
    script = parquet.parent / "lifetimes_run.py"
    script.write_text(LIFETIMES_SCRIPT)
    try:
        done = subprocess.run([str(py), str(script), str(parquet), AS_OF.isoformat()], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode:
        print(done.stderr[-2000:])
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--dir", type=Path, default=Path(".bench/clv"))
    ap.add_argument("--lifetimes-timeout", type=float, default=1800)
    ap.add_argument("--no-lifetimes", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    py = None if args.no_lifetimes else lifetimes_python(args.dir)
    for n in args.customers:
        print(f"\n{n:,} customers")
        parquet, db = data(n, args.dir / str(n))
        mine = run_tenure(db)
        total = mine["summary_s"] + mine["fit_s"] + mine["score_s"]
        print(f"  tenure:    summary {mine['summary_s']:6.2f} s   fit {mine['fit_s']:6.2f} s "
              f"(target {TARGET_FIT_S:g})   scoring {mine['score_s']:6.2f} s (target {TARGET_SCORE_S:g})   "
              f"total {total:6.2f} s   ({mine['customers']:,} buyers)")
        if py is None:
            continue
        theirs = run_lifetimes(py, parquet, args.lifetimes_timeout)
        if theirs is None:
            print(f"  lifetimes: did not finish within {args.lifetimes_timeout:g} s: "
                  f"ratio > {args.lifetimes_timeout / total:.1f}x")
            continue
        their_total = theirs["summary_s"] + theirs["fit_s"] + theirs["score_s"]
        print(f"  lifetimes: summary {theirs['summary_s']:6.2f} s   fit {theirs['fit_s']:6.2f} s   "
              f"scoring {theirs['score_s']:6.2f} s   total {their_total:6.2f} s")
        print("  ratio lifetimes/tenure: " + "   ".join(
            f"{k.removesuffix('_s')} {theirs[k] / mine[k]:.1f}x" for k in ("summary_s", "fit_s", "score_s"))
            + f"   total {their_total / total:.1f}x (target >= {TARGET_RATIO:g}x)")
        diffs = {k: abs(mine["params"][k] - theirs["params"][k]) / abs(theirs["params"][k]) for k in theirs["params"]}
        print("  parameters (tenure | lifetimes | relative difference): " + ", ".join(
            f"{k} {mine['params'][k]:.5g} | {theirs['params'][k]:.5g} | {d:.1e}" for k, d in diffs.items()))


if __name__ == "__main__":
    main()
