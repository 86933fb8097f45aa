"""`tenure clv fit` and `tenure clv evaluate`: the prediction models from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tenure.cli.lifecycle import BACKEND, WS, _date
from tenure.errors import TenureError
from tenure.workspace import Workspace

console = Console()
clv_app = typer.Typer(help="Fit and check the prediction models (BG/NBD and Gamma-Gamma).", no_args_is_help=True)
UNIT = typer.Option(None, "--unit", help="Time unit of the parameters: days or weeks (default: clv.unit).")


def register(app: typer.Typer) -> None:
    app.add_typer(clv_app, name="clv")


@clv_app.command("fit")
def fit(as_of: str = typer.Option(None, "--as-of", help="End of the calibration period (YYYY-MM-DD; default: today)."),
        unit: str = UNIT,
        as_json: bool = typer.Option(False, "--json", help="Print the parameters as JSON for scripts."),
        save: Path = typer.Option(None, "--save", help="Also write both models to this JSON file."),
        backend: str = BACKEND, workspace: Path = WS) -> None:
    """Fit BG/NBD and Gamma-Gamma on every customer's purchases up to a day and print the parameters."""
    from tenure.clv import scoring
    from tenure.clv.summary import summary_frame
    from tenure.warehouse.backends import analytics_tables

    ws = Workspace(workspace)
    day = _date(as_of, "--as-of") or ws.today()
    cfg = ws.settings.clv
    summary = summary_frame(analytics_tables(ws, backend), as_of=day, include_free=cfg.include_free_orders)
    models = scoring.fit(summary, unit=unit or cfg.unit)
    if models.gamma_gamma is None:
        raise TenureError(models.gamma_gamma_error or "the Gamma-Gamma fit failed")
    body = {"bgnbd": models.bgnbd.to_dict(), "gamma_gamma": models.gamma_gamma.to_dict()}
    if save:
        save.write_text(json.dumps({"as_of": day.isoformat(), "unit": models.bgnbd.unit, **body}, indent=2) + "\n",
                        encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    for model in (models.bgnbd, models.gamma_gamma):
        table = Table(title=f"{model.kind} as of {day}: {model.customers:,} customers, "
                            f"log-likelihood {model.log_likelihood:,.2f}", title_justify="left")
        for col in ("parameter", "estimate", "std error"):
            table.add_column(col, justify="left" if col == "parameter" else "right")
        for name, value in model.params.items():
            table.add_row(name, f"{value:.4g}", f"{model.std_errors[name]:.3g}")
        console.print(table)
    console.print(f"time unit: {models.bgnbd.unit}; one-time buyers have P(alive) = 1 under BG/NBD, "
                  "so read churn risk from purchase_probability_90d (docs/clv.md)")


@clv_app.command("evaluate")
def evaluate(calibration_end: str = typer.Option(..., "--calibration-end", help="Last day of the calibration period (YYYY-MM-DD)."),
             holdout_days: int = typer.Option(..., "--holdout-days", help="Length of the holdout period in days."),
             unit: str = UNIT,
             out_dir: Path = typer.Option(None, "--out-dir", help="Folder for the tracking chart (default: the workspace's reports/)."),
             as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON for scripts."),
             backend: str = BACKEND, workspace: Path = WS) -> None:
    """Fit on a calibration period, predict the holdout, and compare with what happened and a naive baseline."""
    from tenure.clv.evaluate import evaluate as run_evaluation
    from tenure.clv.tracking_chart import write_html, write_png
    from tenure.warehouse.backends import analytics_tables

    ws = Workspace(workspace)
    end = _date(calibration_end, "--calibration-end")
    cfg = ws.settings.clv
    ev = run_evaluation(analytics_tables(ws, backend), calibration_end=end, holdout_days=holdout_days,
                        unit=unit or cfg.unit, include_free=cfg.include_free_orders)
    folder = out_dir or ws.root / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"clv-evaluate-{end}-{holdout_days}d"
    png, html = write_png(ev, stem.with_suffix(".png")), write_html(ev, stem.with_suffix(".html"))
    if as_json:
        typer.echo(json.dumps({**ev.to_dict(), "chart_png": str(png), "chart_html": str(html)}, indent=2))
        return
    table = Table(title=f"{ev.customers:,} customers: calibration to {end}, holdout {holdout_days} days",
                  title_justify="left")
    for col in ("method", "MAE", "RMSE", "predicted", "actual", "total error"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in ev.metrics.itertuples():
        table.add_row(r.method, f"{r.mae:.3f}", f"{r.rmse:.3f}", f"{r.predicted_total:,.0f}",
                      f"{r.actual_total:,.0f}", f"{r.total_error:+.1%}")
    console.print(table)
    console.print(f"tracking chart: {png}\n                {html}")
