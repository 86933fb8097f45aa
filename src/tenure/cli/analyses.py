"""`tenure cohorts`, `funnel`, `flows`, `pareto` and `cycles`: print the analyses, or write them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from tenure.cli.lifecycle import BACKEND, WS, _date, console
from tenure.errors import TenureError
from tenure.workspace import Workspace

if TYPE_CHECKING:  # pandas loads with the analyses, not with every `tenure` command
    import pandas as pd

AS_OF = typer.Option(None, "--as-of", help="The day to analyse (YYYY-MM-DD; default: today in the workspace zone).")
OUT = typer.Option(None, "--out", help="Also write the tidy table to this file: .csv or .parquet.")


def register(app: typer.Typer) -> None:
    for name, fn in (("cohorts", cohorts), ("funnel", funnel), ("flows", flows), ("pareto", pareto),
                     ("cycles", cycles)):
        app.command(name)(fn)


def _check_out(out: Path | None) -> None:
    """Refuse a bad --out before any work is done."""
    if out is not None and out.suffix.lower() not in (".csv", ".parquet"):
        raise TenureError(f"--out {out.name}: unknown file type", fix="--out must end in .csv or .parquet")


def _write(frame: pd.DataFrame, out: Path | None) -> None:
    if out is None:
        return
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    console.print(f"Wrote {len(frame):,} rows to {out}")


def _pct(x, fmt: str = ".1%") -> str:
    return "" if x is None or x != x else format(x, fmt)


def _num(x, fmt: str = ",.0f") -> str:
    return "" if x is None or x != x else format(x, fmt)


def cohorts(as_of: str = AS_OF,
            by_channel: bool = typer.Option(False, "--by-channel",
                                            help="One cohort per first-purchase month and acquisition channel."),
            out: Path = OUT, backend: str = BACKEND, workspace: Path = WS) -> None:
    """Retention by cohort (month of the first purchase): the share who bought again in each month after."""
    from tenure import analyses

    _check_out(out)
    ws = Workspace(workspace)
    day = _date(as_of, "--as-of") or ws.today()
    df = analyses.cohorts(ws, as_of=day, by_channel=by_channel, backend=backend)
    keys = ["cohort", "channel"] if by_channel else ["cohort"]
    months = sorted(df.month.unique()) if len(df) else []
    table = Table(title=f"retention by cohort on {day} (share of the cohort who bought in month k)",
                  title_justify="left")
    for k in keys:
        table.add_column(k, no_wrap=True)
    table.add_column("customers", justify="right")
    for m in months:
        table.add_column(str(m), justify="right")
    for key, g in df.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cells = dict(zip(g.month, g.retention))
        table.add_row(*map(str, key), f"{int(g.cohort_size.iloc[0]):,}", *(_pct(cells.get(m), ".0%") for m in months))
    console.print(table)
    _write(df, out)  # already tidy: cohort, [channel,] month, cohort_size, active_customers, ...



def funnel(as_of: str = AS_OF,
           by: str = typer.Option(None, "--by", help="Split by cohort (month first seen) or channel (acquisition channel)."),
           out: Path = OUT, backend: str = BACKEND, workspace: Path = WS) -> None:
    """Customers at each step: lead, 1st, 2nd, 3rd, 4th+ purchase (distinct purchase days), with conversion."""
    from tenure import analyses

    _check_out(out)
    ws = Workspace(workspace)
    day = _date(as_of, "--as-of") or ws.today()
    df = analyses.funnel(ws, as_of=day, by=by, backend=backend)
    table = Table(title=f"purchase funnel on {day}", title_justify="left")
    keys = [by] if by else []
    for col, justify in [*((k, "left") for k in keys), ("step", "left"), ("customers", "right"),
                         ("conversion", "right"), ("of leads", "right"), ("median days", "right")]:
        table.add_column(col, justify=justify, no_wrap=True)
    for r in df.itertuples(index=False):
        table.add_row(*(str(getattr(r, k)) for k in keys), r.step, f"{r.customers:,}", _pct(r.conversion),
                      _pct(r.overall), _num(r.median_days, "g"))
    console.print(table)
    _write(df[[*keys, "step", "customers", "conversion", "step_number", "overall", "median_days"]], out)


def flows(start: str = typer.Option(..., "--from", help="Earlier stored snapshot (YYYY-MM-DD)."),
          end: str = typer.Option(..., "--to", help="Later stored snapshot (YYYY-MM-DD)."),
          by: str = typer.Option("lifecycle", "--by", help="Segmentation: lifecycle, rf, rfm or a custom segment."),
          out: Path = OUT, workspace: Path = WS) -> None:
    """Customers moving between labels from one stored snapshot to another, one row per pair."""
    from tenure import analyses

    _check_out(out)
    ws = Workspace(workspace)
    df = analyses.flows(ws, start=_date(start, "--from"), end=_date(end, "--to"), by=by)
    total = int(df.customers.sum())
    table = Table(title=f"{by}: {start} → {end}", title_justify="left")
    for col, justify in (("from", "left"), ("to", "left"), ("customers", "right"), ("share", "right")):
        table.add_column(col, justify=justify, no_wrap=True)
    for r in df.itertuples(index=False):
        table.add_row(r.from_label, r.to_label, f"{r.customers:,}", _pct(r.customers / total))
    console.print(table)
    _write(df, out)


def pareto(as_of: str = AS_OF, out: Path = OUT, backend: str = BACKEND, workspace: Path = WS) -> None:
    """The share of revenue brought by the top 1, 5, 10, 20 and 50% of buyers."""
    from tenure import analyses

    _check_out(out)
    ws = Workspace(workspace)
    day = _date(as_of, "--as-of") or ws.today()
    df = analyses.pareto(ws, as_of=day, backend=backend)
    table = Table(title=f"revenue concentration on {day} (completed orders)", title_justify="left")
    for col in ("top buyers", "customers", "revenue share"):
        table.add_column(col, justify="right")
    for r in df.itertuples(index=False):
        table.add_row(f"{r.top_share:.0%}", f"{r.customers:,}", _pct(r.revenue_share))
    console.print(table)
    _write(df[["top_share", "revenue_share", "customers"]], out)


def cycles(as_of: str = AS_OF, out: Path = OUT, backend: str = BACKEND, workspace: Path = WS) -> None:
    """Days between consecutive purchase days: store cycle, median, and by purchase number."""
    from tenure import analyses

    _check_out(out)
    ws = Workspace(workspace)
    day = _date(as_of, "--as-of") or ws.today()
    c = analyses.cycles(ws, as_of=day, backend=backend)
    n = int(c.intervals.intervals.sum())
    median = "none (nobody bought twice)" if c.median_days is None else f"{c.median_days:g} days"
    console.print(f"Purchase cycles on {day}: {n:,} intervals between purchase days; median {median}.")
    console.print(f"Store cycle used by the lifecycle: {c.store_cycle_days:g} days.")
    table = Table(title="interval leading to the n-th purchase day", title_justify="left")
    for col in ("purchase", "intervals", "median days", "mean days"):
        table.add_column(col, justify="right")
    for r in c.by_purchase_number.itertuples(index=False):
        table.add_row(r.purchase_number, f"{r.intervals:,}", _num(r.median_days, "g"), _num(r.mean_days, ".1f"))
    console.print(table)
    _write(c.intervals, out)
