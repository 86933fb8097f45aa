"""`tenure init` and `tenure status`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tenure.workspace import Workspace

console = Console()
WorkspaceOpt = typer.Option(Path("."), "--workspace", "-w", help="The workspace folder.")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("status")(status)


def init(
    directory: Path = typer.Argument(Path("."), help="Folder to make a workspace of (created if missing)."),
    timezone: str = typer.Option(None, "--timezone", help="The shop's IANA time zone (default UTC)."),
    currency: str = typer.Option(None, "--currency", help="Currency of amounts without one (default USD)."),
    loyalty: bool = typer.Option(False, "--loyalty", help="Turn the loyalty programme on: tenure.toml gets "
                                 "loyalty.enabled = true (off by default)."),
) -> None:
    """Create a workspace: a commented tenure.toml, the warehouse and its folders."""
    ws = Workspace.init(directory, timezone=timezone, currency=currency, loyalty=loyalty)
    console.print(f"Created a Tenure workspace in [bold]{ws.root}[/]; settings in tenure.toml")


def status(workspace: Path = WorkspaceOpt) -> None:
    """Show the row count of every warehouse table and the latest ingests."""
    ws = Workspace(workspace)
    table = Table(title=f"Warehouse {ws.warehouse_path.name}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in ws.counts().items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    runs = Table(title="Latest ingests")
    for col in ("run", "table", "preset", "status", "read", "loaded", "quarantined"):
        runs.add_column(col)
    for run in ws.ingest_runs():
        counts = json.loads(run["counts"]) if isinstance(run["counts"], str) else run["counts"]
        rows = counts.get("rows", {})
        runs.add_row(run["run_id"], run["entity"], run["preset"], run["status"], f"{counts.get('read', 0):,}",
                     f"{rows.get('loaded', 0):,}", f"{rows.get('quarantined', 0):,}")
    console.print(runs)
    from tenure.campaigns.runner import store_in_use

    if store_in_use(ws):
        from tenure.ingest.inbox import pending

        waiting = pending(ws.store)
        if waiting:
            shown = ", ".join(f"{n:,} {entity}" for entity, n in sorted(waiting.items()))
            console.print(f"Posted to the ingest API, waiting for the next run: {shown}")
