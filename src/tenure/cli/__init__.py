"""The `tenure` command: thin Typer commands that parse, call the Python API and print.

`main()` is the console script. A TenureError becomes one line on stderr and its exit code
(2 for a user's mistake); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from tenure.errors import TenureError

app = typer.Typer(
    name="tenure",
    help="Customer lifecycle engine: load a shop's data, see where every customer stands, act on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _register() -> None:
    from tenure.cli import analyses, campaigns, clv, generate, ingest, lifecycle, loyalty, report, serve, workspace

    for module in (workspace, ingest, generate, lifecycle, clv, analyses, report, campaigns, serve, loyalty):
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (Typer/click handle --help and usage errors: code 2)."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except TenureError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted; nothing was half-written")
        return 130
    return 0


def run() -> None:  # pragma: no cover - console script
    sys.exit(main())
