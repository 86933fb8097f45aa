"""`tenure dispatch`, `tenure campaigns ...`, `tenure tasks ...` and `tenure suppressions ...`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from tenure.cli.lifecycle import NOW, WS, _date, _now, console
from tenure.errors import TenureError
from tenure.workspace import Workspace

campaigns_app = typer.Typer(help="Campaigns: list, check, preview, backtest, report.", no_args_is_help=True)
tasks_app = typer.Typer(help="Tasks for managers created by campaign steps.", invoke_without_command=True)
suppressions_app = typer.Typer(help="Who gets no marketing, and why; add and lift.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("dispatch")(dispatch)
    app.add_typer(campaigns_app, name="campaigns")
    app.add_typer(tasks_app, name="tasks")
    app.add_typer(suppressions_app, name="suppressions")


def _write(frame: pd.DataFrame, out: Path) -> None:
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise TenureError(f"--out {out.name}: unknown file type", fix="end the name with .csv or .parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    (frame.to_csv if out.suffix.lower() == ".csv" else frame.to_parquet)(out, index=False)
    console.print(f"Wrote {len(frame):,} rows to {out}")


def _print(frame: pd.DataFrame, title: str, limit: int = 50) -> None:
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(frame.columns):
        table.add_column(str(col), justify="right" if pd.api.types.is_numeric_dtype(frame[col]) else "left",
                         no_wrap=i == 0)
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*["" if pd.isna(v) else (f"{v:,}" if isinstance(v, int) else str(v)) for v in row])
    console.print(table)
    if len(frame) > limit:
        console.print(f"... {len(frame) - limit:,} more rows (use --out to write them all)")


def dispatch(now: str = NOW, limit: int = typer.Option(None, "--limit", help="Stop after this many messages (per worker)."),
             workers: int = typer.Option(1, "--workers", min=1, max=64,
                                         help="Dispatchers to run in parallel processes; each message still goes once."),
             workspace: Path = WS) -> None:
    """Send the campaign messages that are due (tenure run does this after enrolling)."""
    ws = Workspace(workspace)
    counts = ws.dispatch(now=_now(now), limit=limit, workers=workers)
    shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()) if v) or "nothing was due"
    console.print(f"Dispatch: {shown}")


@campaigns_app.command("list")
def list_campaigns(workspace: Path = WS) -> None:
    """Every campaign of tenure.toml: on or off, trigger, steps, window, holdout, priority."""
    ws = Workspace(workspace)
    rows = [{"campaign": n, "enabled": "on" if c.enabled else "off", "trigger": c.trigger.describe(),
             "steps": " ".join(f"{'+' if s.offset_days else ''}{s.offset_days}:{s.channel}" for s in c.steps),
             "window": c.conversion_window_days, "holdout": f"{c.holdout_share:.0%}", "priority": c.priority}
            for n, c in ws.settings.campaigns.items()]
    _print(pd.DataFrame(rows), "campaigns")


@campaigns_app.command("check")
def check(workspace: Path = WS) -> None:
    """Validate every campaign and render each template of the enabled ones with sample data."""
    from tenure.campaigns.validate import check_templates

    ws = Workspace(workspace)  # loading validates triggers and steps
    check_templates(ws.settings.model_copy(update={"campaigns": {
        n: c.model_copy(update={"enabled": True}) for n, c in ws.settings.campaigns.items()}}), ws.templates)
    console.print(f"{len(ws.settings.campaigns)} campaigns and their templates are valid.")


@campaigns_app.command("preview")
def preview(as_of: str = typer.Option(..., "--as-of", help="The day to preview (YYYY-MM-DD)."),
            campaign: str = typer.Option(None, "--campaign", help="Only this campaign (it may be off)."),
            out: Path = typer.Option(None, "--out", help="Write every message to a .csv or .parquet file."),
            workspace: Path = WS) -> None:
    """Who would get what on a day, sending and storing nothing."""
    from tenure.campaigns.views import preview as build

    ws = Workspace(workspace)
    with console.status("finding who enters"):
        plan = build(ws, _date(as_of, "--as-of"), campaign=campaign)
    if out:
        return _write(plan, out)
    if plan.empty:
        console.print(f"Nobody would enter a campaign on {as_of}.")
        return
    # Templates are in `tenure campaigns list`; without them the table fits a terminal.
    summary = (plan.groupby(["campaign", "step", "channel", "due_on", "status"]).size()
               .rename("messages").reset_index())
    summary["due_on"] = summary.due_on.astype(str)
    _print(summary, f"messages that {as_of} would schedule (held_out: the holdout, never sent)")


@campaigns_app.command("backtest")
def backtest(start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)."),
             end: str = typer.Option(..., "--to", help="Last day (YYYY-MM-DD)."),
             campaign: str = typer.Option(None, "--campaign", help="Only this campaign (it may be off)."),
             out: Path = typer.Option(None, "--out", help="Write the daily counts to a .csv or .parquet file."),
             workspace: Path = WS) -> None:
    """Replay the triggers over the stored snapshots: how many would have entered each day."""
    from tenure.campaigns.views import backtest as build

    ws = Workspace(workspace)
    with console.status("replaying the triggers"):
        daily = build(ws, _date(start, "--from"), _date(end, "--to"), campaign=campaign)
    if out:
        return _write(daily, out)
    wide = daily.pivot(index="day", columns="campaign", values="entered")
    monthly = wide.groupby(pd.to_datetime(wide.index).to_period("M")).sum()
    monthly.index = monthly.index.astype(str)
    _print(monthly.reset_index(names="month"), f"entries per month, {start} to {end} ({len(wide)} snapshot days)")


@campaigns_app.command("report")
def report(campaign: str = typer.Option(None, "--campaign", help="Only this campaign (default: all that enrolled anyone)."),
           as_of: str = typer.Option(None, "--as-of", help="Count orders up to this day (default: today)."),
           out: Path = typer.Option(None, "--out", help="Write every row and column to a .csv or .parquet file."),
           workspace: Path = WS) -> None:
    """Per campaign and step: enrolled, sent, capped, failed, opened, clicked, converted, revenue;
    treatment versus holdout with the uplift's 95% interval and the incremental revenue."""
    from tenure.campaigns.measure import campaign_report

    ws = Workspace(workspace)
    frame = campaign_report(ws, as_of=_date(as_of, "--as-of") or ws.today(), campaign=campaign)
    if out:
        return _write(frame, out)
    if frame.empty:
        console.print("No campaign has enrolled anyone yet.")
        return
    funnel = frame[["campaign", "step", "enrolled", "sent", "capped", "failed", "suppressed", "opened", "clicked",
                    "converted", "revenue"]].copy()
    funnel["revenue"] = funnel.revenue.map(lambda v: f"{v:,.2f}")
    _print(funnel, "campaigns by step (converted and revenue: treatment group)")
    effect = frame[frame.step == "all"].copy()
    shown = pd.DataFrame({
        "campaign": effect.campaign,
        "treatment": [f"{r:.1%} of {int(n):,}" for r, n in zip(effect.treatment_rate, effect.treatment_n)],
        "holdout": [f"{r:.1%} of {int(n):,}" if n else "none" for r, n in zip(effect.holdout_rate, effect.holdout_n)],
        "uplift (95% CI)": [f"{u:+.1%} ({lo:+.1%} to {hi:+.1%})" if u == u else "n/a"
                            for u, lo, hi in zip(effect.uplift, effect.uplift_low, effect.uplift_high)],
        "incremental revenue (95% CI)": [
            (f"{v:,.0f} ({lo:,.0f} to {hi:,.0f})" if lo == lo else f"{v:,.0f} (too few to tell)") if v == v else "n/a"
            for v, lo, hi in zip(effect.incremental_revenue, effect.incremental_revenue_low,
                                 effect.incremental_revenue_high)]})
    _print(shown, "what each campaign changed: treatment versus holdout")


@campaigns_app.command("outbox")
def outbox(workspace: Path = WS) -> None:
    """Messages by campaign and status (pending, sent, capped, unknown, ...)."""
    from tenure.campaigns.views import outbox_summary

    _print(outbox_summary(Workspace(workspace)), "outbox")


@tasks_app.callback()
def tasks(ctx: typer.Context, everything: bool = typer.Option(False, "--all", help="Done tasks too."),
          out: Path = typer.Option(None, "--out", help="Write the tasks to a .csv or .parquet file."),
          workspace: Path = WS) -> None:
    """Open tasks for managers (who to call and why), or --all."""
    if ctx.invoked_subcommand is not None:
        return
    from tenure.campaigns.views import task_list

    frame = task_list(Workspace(workspace), status=None if everything else "open")
    if out:
        return _write(frame, out)
    _print(frame[["id", "due_on", "customer_id", "campaign", "action", "status"]], "tasks")


@tasks_app.command("done")
def task_done(task_id: int = typer.Argument(..., metavar="ID", help="The task's id (see `tenure tasks`)."),
              note: str = typer.Option(None, "--note", help="What came of it."), workspace: Path = WS) -> None:
    """Mark a task done."""
    from tenure.campaigns.runner import utc
    from tenure.campaigns.views import finish_task

    ws = Workspace(workspace)
    finish_task(ws, task_id, note=note, now=utc(ws.now(), ws.settings.workspace.timezone))
    console.print(f"Task {task_id} done.")


@suppressions_app.command("list")
def suppressions(everything: bool = typer.Option(False, "--all", help="Lifted suppressions too."),
                 workspace: Path = WS) -> None:
    """Customers who get no marketing (or none on a channel), with the reason."""
    from tenure.campaigns.suppressions import listing

    _print(listing(Workspace(workspace), lifted=everything), "suppressions")


@suppressions_app.command("add")
def suppress(customer_id: str = typer.Argument(..., metavar="ID", help="The customer's id."),
             scope: str = typer.Option("marketing", "--scope", help="all, marketing, email or sms."),
             reason: str = typer.Option("manual", "--reason", help="Why (shown in the list)."),
             workspace: Path = WS) -> None:
    """Stop marketing (or one channel, or everything) to a customer."""
    from tenure.campaigns.suppressions import add

    ws = Workspace(workspace)
    add(ws, customer_id, scope=scope, reason=reason, source="cli")
    console.print(f"{customer_id}: suppressed ({scope}).")


@suppressions_app.command("lift")
def lift(customer_id: str = typer.Argument(..., metavar="ID", help="The customer's id."),
         reason: str = typer.Option("manual", "--reason", help="Why it is lifted."), workspace: Path = WS) -> None:
    """Lift every active suppression of a customer: they are back in the normal flow."""
    from tenure.campaigns.suppressions import lift as do_lift

    n = do_lift(Workspace(workspace), customer_id, reason=reason)
    console.print(f"{customer_id}: {n} suppression(s) lifted.")
