"""`tenure run`, `backfill`, `segments`, `transitions`, `customer` and `export snapshot`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tenure.errors import TenureError
from tenure.workspace import Workspace

console = Console()
WS = typer.Option(Path("."), "--workspace", "-w", help="The workspace folder.")
BACKEND = typer.Option(None, "--backend", help="Analytics engine for this run: duckdb or pyspark (default: warehouse.backend).")
NOW = typer.Option(None, "--now", help="Pretend it is this wall-clock time in the workspace zone "
                   "(YYYY-MM-DDTHH:MM; for tests and replays). Default: now.")
export_app = typer.Typer(help="Write stored results to files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    for name, fn in (("run", run), ("backfill", backfill), ("segments", segments),
                     ("transitions", transitions), ("customer", customer)):
        app.command(name)(fn)
    app.add_typer(export_app, name="export")


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise TenureError(f"{option} {text!r} is not a date", fix="write it as YYYY-MM-DD")


def run(as_of: str = typer.Option(None, "--as-of", help="The day to compute (YYYY-MM-DD; default: today in the workspace zone)."),
        no_dispatch: bool = typer.Option(False, "--no-dispatch", help="Enroll the day's campaign entries but send nothing."),
        now: str = NOW, backend: str = BACKEND, workspace: Path = WS) -> None:
    """Compute and store the snapshot of a day and the transitions since the previous one; enroll
    the enabled campaigns' entries and send the messages that are due."""
    ws = Workspace(workspace)
    _say_if_waiting(ws)
    with console.status("computing the snapshot"):
        result = ws.run(as_of=_date(as_of, "--as-of"), backend=backend, now=_now(now), dispatch=not no_dispatch)
    for entity, done in result.inbox.items():
        bad = done["rows"].get("quarantined", 0)
        console.print(f"Loaded from the ingest API: {done['items']:,} {entity}"
                      + (f" ([yellow]{bad:,} quarantined[/], see `tenure status`)" if bad else ""))
    if result.cycle_fallback:
        console.print(f"[yellow]note:[/] no customer has bought twice by {result.as_of}: the store cycle "
                      f"is the configured fallback of {result.store_cycle_days:g} days (cycle.fallback_days)")
    console.print(f"Snapshot {result.as_of}: {result.customers:,} customers, store cycle "
                  f"{result.store_cycle_days:g} days; {result.transitions:,} label changes since "
                  f"{result.previous or 'no earlier snapshot'}")
    if result.clv_note:
        console.print(f"[yellow]note:[/] {result.clv_note}", soft_wrap=True)
    if result.loyalty is not None:
        acc = result.loyalty
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(acc.by_kind.items())) or "nothing new"
        console.print(f"Loyalty: {acc.entries:,} ledger entries written ({kinds}); "
                      f"{acc.customers:,} customers in the programme", soft_wrap=True)
    for col in ("lifecycle", "rf", "churn_risk", "tier", "membership"):
        if col in result.labels:
            console.print(_labels_table(col, result.labels[col]))
    if result.campaigns is not None:
        c = result.campaigns
        entered = ", ".join(f"{k} {v:,}" for k, v in sorted(c.entered.items())) or "nobody"
        sent = ", ".join(f"{k} {v:,}" for k, v in sorted(c.dispatched.items()) if v) or "nothing was due"
        console.print(f"Campaigns: entered {entered}; {c.messages:,} messages scheduled, {c.skipped:,} skipped "
                      f"(converted or left); dispatch: {sent}", soft_wrap=True)


def _say_if_waiting(ws) -> None:
    from tenure.locking import is_held

    if is_held(ws.root):
        console.print("waiting for another run, ingest or erasure in this workspace to finish ...")


def _now(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise TenureError(f"--now {text!r} is not a date and time", fix="write it as YYYY-MM-DDTHH:MM")


def _labels_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("label")
    table.add_column("customers", justify="right")
    for label, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(label, f"{n:,}")
    return table


def backfill(start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
             end: str = typer.Option(..., "--to", help="Last day (YYYY-MM-DD), included if on the schedule."),
             every: str = typer.Option("7d", "--every", help="Step between snapshots: Nd (days) or Nw (weeks)."),
             backend: str = BACKEND, workspace: Path = WS) -> None:
    """Store a snapshot every N days over a period, oldest first, with their transitions."""
    from tenure.runs import dates_between, parse_every

    ws = Workspace(workspace)
    _say_if_waiting(ws)
    days = dates_between(_date(start, "--from"), _date(end, "--to"), parse_every(every))
    with Progress(TextColumn("snapshots"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("backfill", total=len(days))
        results = ws.backfill(start=days[0], end=days[-1], every_days=parse_every(every), backend=backend,
                              progress=lambda day: bar.advance(task))
    console.print(f"Stored {len(results)} snapshots from {days[0]} to {days[-1]}.")


def segments(by: str = typer.Option("lifecycle", "--by", help="lifecycle, rf, rfm (the rfm_segment) or a custom segment's name."),
             as_of: str = typer.Option(None, "--as-of", help="Stored snapshot to read (default: the latest)."),
             workspace: Path = WS) -> None:
    """Customers, share, revenue share, median days since last purchase and mean orders by label."""
    from tenure.report_tables import segment_summary

    ws = Workspace(workspace)
    rows, day = segment_summary(ws, by=by, as_of=_date(as_of, "--as-of"))
    table = Table(title=f"{by} on {day}", title_justify="left")
    for col, justify in (("label", "left"), ("customers", "right"), ("share", "right"),
                         ("revenue share", "right"), ("median days since last", "right"), ("mean orders", "right")):
        table.add_column(col, justify=justify, no_wrap=col == "label")
    for r in rows:
        table.add_row(r["label"], f"{r['customers']:,}", f"{r['share']:.1%}", f"{r['revenue_share']:.1%}",
                      "" if r["median_days"] is None else f"{r['median_days']:g}", f"{r['mean_orders']:.2f}")
    console.print(table)


def transitions(start: str = typer.Option(..., "--from", help="Earlier stored snapshot (YYYY-MM-DD)."),
                end: str = typer.Option(..., "--to", help="Later stored snapshot (YYYY-MM-DD)."),
                by: str = typer.Option("lifecycle", "--by", help="Segmentation: lifecycle, rf, rfm or a custom segment."),
                workspace: Path = WS) -> None:
    """A matrix: customers by their label on --from (rows) and on --to (columns)."""
    from tenure.report_tables import transition_matrix

    ws = Workspace(workspace)
    froms, tos, cells = transition_matrix(ws, start=_date(start, "--from"), end=_date(end, "--to"), by=by)
    table = Table(title=f"{by}: {start} (rows) → {end} (columns)", title_justify="left")
    table.add_column("from \\ to")
    for t in tos:
        table.add_column(t, justify="right")
    for f in froms:
        table.add_row(f, *[f"{cells.get((f, t), 0):,}" if cells.get((f, t)) else "·" for t in tos])
    console.print(table)


def customer(customer_id: str = typer.Argument(..., metavar="ID", help="The customer's id."),
             workspace: Path = WS) -> None:
    """One customer's features and labels over time, from every stored snapshot."""
    from tenure.report_tables import customer_history

    ws = Workspace(workspace)
    rows = customer_history(ws, customer_id)
    latest = rows[-1]
    facts = Table(title=f"customer {customer_id} on {_cell(latest['as_of'])}", title_justify="left",
                  show_header=False)
    facts.add_column("feature", style="bold")
    facts.add_column("value")
    for key in ("orders", "purchase_days", "first_purchase", "last_purchase", "days_since_last", "spend",
                "spend_365", "avg_spend", "own_cycle_days", "store_cycle_days", "rfm",
                "purchase_probability_90d", "p_alive", "expected_purchases_90d", "expected_spend",
                "clv_365d", "next_purchase_expected",
                "consent_email", "last_email_open", "last_email_click"):
        if key in latest:
            facts.add_row(key, _cell(latest[key]))
    console.print(facts)
    labels = ["lifecycle", "rf", "rfm_segment", *(["churn_risk"] if "churn_risk" in latest else []),
              *ws.settings.segments]
    timeline = Table(title=f"label changes over {len(rows)} snapshots", title_justify="left")
    for col in ("as_of", *labels):
        timeline.add_column(col, no_wrap=True)
    last = None
    for r in rows:  # only the snapshots where some label changed: a timeline, not a dump
        now = tuple(_cell(r.get(c)) for c in labels)
        if now != last:
            timeline.add_row(_cell(r["as_of"]), *now)
            last = now
    console.print(timeline)


def _cell(value) -> str:
    if value is None or value != value:  # None or NaN
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "isoformat"):
        return str(value)[:10]
    return str(value)


@export_app.command("snapshot")
def export_snapshot(as_of: str = typer.Option(None, "--as-of", help="Stored snapshot to export (default: the latest)."),
                    out: Path = typer.Option(..., "--out", help="File to write: .csv or .parquet."),
                    workspace: Path = WS) -> None:
    """Write a stored snapshot, one row per customer, to a CSV or Parquet file."""
    ws = Workspace(workspace)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise TenureError(f"--out {out.name}: unknown file type", fix="end the name with .csv or .parquet")
    table = ws.history.read(_date(as_of, "--as-of"))
    out.parent.mkdir(parents=True, exist_ok=True)
    (table.to_csv if out.suffix.lower() == ".csv" else table.to_parquet)(out)
    console.print(f"Wrote {int(table.count().execute()):,} customers to {out}")
