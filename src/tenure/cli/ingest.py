"""`tenure ingest {customers,orders,order_items,events} PATH...`"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tenure.errors import TenureError
from tenure.ingest.presets import NAMES
from tenure.ingest.readers import ReadOptions
from tenure.ingest.summary import IngestSummary
from tenure.workspace import Workspace

console = Console()


class Entity(str, Enum):
    customers = "customers"
    orders = "orders"
    order_items = "order_items"
    events = "events"


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def parse_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise TenureError(f"--map {pair!r} is not CANONICAL=SOURCE", fix="write e.g. --map order_id=OrderNumber")
        mapping[field.strip()] = column.strip()
    return mapping


def ingest(
    entity: Entity = typer.Argument(..., metavar="TABLE", help="Which table the rows go to."),
    sources: list[str] = typer.Argument(..., metavar="SOURCES", help="Files (.csv, .csv.gz, .tsv, .parquet, .xlsx) or a database URL."),
    preset: str = typer.Option("generic", "--preset", "-p", help=f"Column mapping of a known export: {', '.join(NAMES)}."),
    maps: list[str] = typer.Option([], "--map", "-m", help="CANONICAL=SOURCE column mapping; repeatable."),
    sheet: str = typer.Option(None, "--sheet", help="Excel sheet to read (default: the first)."),
    table: str = typer.Option(None, "--table", help="Database table to read (with a database URL)."),
    query: str = typer.Option(None, "--query", help="SQL query to read (with a database URL)."),
    delimiter: str = typer.Option(None, "--delimiter", help="CSV field delimiter (default ',', tab for .tsv)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Text encoding of CSV files: utf-8, utf-16 or latin-1."),
    date_format: str = typer.Option(None, "--date-format", help="strptime format of dates, e.g. '%d/%m/%Y %H:%M'."),
    max_quarantine: float = typer.Option(None, "--max-quarantine-share", help="Override ingest.max_quarantine_share (0-1)."),
    now: dt.datetime = typer.Option(None, "--now", help="Ingest time (workspace zone); rows dated after it are rejected. Default: the clock."),
    workspace: Path = typer.Option(Path("."), "--workspace", "-w", help="The workspace folder."),
) -> None:
    """Load rows into the warehouse: idempotent, all or nothing, every row accounted for."""
    ws = Workspace(workspace)
    from tenure.cli.lifecycle import _say_if_waiting

    _say_if_waiting(ws)
    options = ReadOptions(delimiter=delimiter.encode().decode("unicode_escape") if delimiter else None,
                          encoding=encoding, sheet=sheet, table=table, query=query)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"ingesting {entity.value}", total=None)
        summary = ws.ingest(
            entity.value, sources, preset=preset, mapping=parse_map(maps), now=now, options=options,
            date_format=date_format, max_quarantine_share=max_quarantine,
            progress=lambda name: bar.update(task, description=f"read {name}"),
        )
    console.print(render(summary))
    if summary.quarantine_file:
        console.print(f"Rows not loaded, with their reasons: {summary.quarantine_file}")


def render(s: IngestSummary) -> Table:
    unit = {"order_items": "orders"}.get(s.entity, s.entity)
    table = Table(title=f"{s.entity} ← {', '.join(s.sources)}", title_justify="left",
                  caption=f"run {s.run_id}, preset {s.preset}", caption_justify="left")
    table.add_column("fate")
    table.add_column("rows", justify="right")
    table.add_column(unit, justify="right")
    table.add_row("read", f"{s.read:,}", "")
    labels = {"loaded": "loaded", "updated": "updated", "redelivered": "re-delivered (skipped)",
              "guest": "guest orders (kept)", "adjustment": "adjustments (not orders)",
              "quarantined": "quarantined"}
    for fate, label in labels.items():
        if fate in s.rows or fate in ("loaded", "quarantined"):
            table.add_row(label, f"{s.rows.get(fate, 0):,}", f"{s.units.get(fate, 0):,}")
        if fate == "guest":
            for name, n in s.extra.items():
                table.add_row(f"  of the new orders: {name}", "", f"{n:,}")
    for reason, n in sorted(s.reasons.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {reason}", f"{n:,}", "")
    table.add_row("quarantined share", f"{s.quarantined_share:.2%}", "", end_section=True)
    check = "[green]every row read has one fate[/]" if s.accounted else "[bold red]ROWS UNACCOUNTED FOR[/]"
    table.caption += f"; {check}"
    return table
