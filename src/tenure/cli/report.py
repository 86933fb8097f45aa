"""`tenure report`: the self-contained HTML report of a day (docs/report.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from tenure.cli.lifecycle import BACKEND, WS, _date, console
from tenure.workspace import Workspace


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(as_of: str = typer.Option(None, "--as-of", help="The day to report on (YYYY-MM-DD; default: today in the workspace zone)."),
           out: Path = typer.Option(None, "--out", help="HTML file to write (default: reports/report-DAY.html in the workspace)."),
           backend: str = BACKEND, workspace: Path = WS) -> None:
    """Write one HTML file with the key figures, a chart per analysis and what to do about each stage."""
    from tenure.report import write_report

    ws = Workspace(workspace)
    with console.status("building the report"):
        path = write_report(ws, as_of=_date(as_of, "--as-of"), out=out, backend=backend)
    console.print(str(path), highlight=False, soft_wrap=True)
