"""`tenure generate`: write a synthetic shop's export files (for demos, tests and benchmarks)."""

from __future__ import annotations

import time
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from tenure.synth import DEFAULT_END, DEFAULT_START, customers_for_orders, generate
from tenure.synth.params import GenerateError

SHOW_AFTER = 1.0  # seconds: quick runs print no progress bar at all


class Format(str, Enum):
    parquet = "parquet"
    csv = "csv"


class _LazyProgress:
    """A transient progress bar that appears only once the run has taken over a second."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._began = time.perf_counter()
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, what: str, done: int, total: int) -> None:
        if self._bar is None:
            if time.perf_counter() - self._began < SHOW_AFTER:
                return
            self._bar = Progress(TextColumn("{task.description:<10}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                 console=self._console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(what, total=total)
        assert self._task is not None
        self._bar.update(self._task, description=what, completed=done, total=total)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _day(value: datetime | None, default: date) -> date:
    return value.date() if value is not None else default


def generate_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write customers, orders, "
                                      "order_items and events files into (created if missing; "
                                      "existing files of the same names are replaced).")],
    customers: Annotated[Optional[int], typer.Option(
        "--customers", help="How many customers (leads and buyers) the shop has. Give this or "
        "--orders.")] = None,
    orders: Annotated[Optional[int], typer.Option(
        "--orders", help="Make a shop with about this many orders instead (the customer count "
        "is estimated from it). Give this or --customers.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed and options "
                                      "always write the same data.")] = 1,
    fmt: Annotated[Format, typer.Option("--format", help="File format: parquet, or csv "
                                        "(comma-separated, header row, UTF-8).")] = Format.parquet,
    start: Annotated[Optional[datetime], typer.Option(
        "--start", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD",
        help=f"First day of the shop's history (default {DEFAULT_START}).",
        show_default=False)] = None,
    end: Annotated[Optional[datetime], typer.Option(
        "--end", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD",
        help=f"Last day of the shop's history, included (default {DEFAULT_END}).",
        show_default=False)] = None,
) -> None:
    """Write a realistic synthetic shop: customers, orders, order items and events files.

    The same seed and options always write the same data. The files use the canonical column
    names, so `tenure ingest` loads them with the generic preset and no mapping.
    """
    if (customers is None) == (orders is None):
        raise GenerateError("give exactly one of --customers and --orders")
    first, last = _day(start, DEFAULT_START), _day(end, DEFAULT_END)
    if orders is not None:
        customers = customers_for_orders(orders, start=first, end=last)
    assert customers is not None
    console = Console()
    progress = _LazyProgress(Console(stderr=True))
    began = time.perf_counter()
    try:
        summary = generate(customers=customers, seed=seed, out=out, fmt=fmt.value,
                           start=first, end=last, progress=progress)
    finally:
        progress.stop()
    seconds = time.perf_counter() - began

    console.print(f"Synthetic shop written to {out}", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("customers", "leads", "buyers", "orders", "order_items", "events"):
        table.add_row(name, f"{getattr(summary, name):,}")
    table.add_row("seconds", f"{seconds:.1f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)

