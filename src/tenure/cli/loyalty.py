"""`tenure loyalty ...`: a customer's points and ledger, redemptions and adjustments, the members
of a tier, the points liability, and the rebuild that checks the ledger against history."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path

import typer
from rich.table import Table

from tenure.cli.lifecycle import WS, _cell, _date, console
from tenure.errors import TenureError
from tenure.workspace import Workspace

loyalty_app = typer.Typer(help="The loyalty programme: points, redemptions, tiers, the liability (loyalty.enabled).",
                          no_args_is_help=True)
CUSTOMER = typer.Argument(..., metavar="ID", help="The customer's id.")
MEMBER_COLUMNS = ("customer_id", "tier", "tier_spend", "next_tier", "spend_to_next_tier", "membership",
                  "membership_plan", "orders", "spend", "lifecycle")
TABLE_COLUMNS = {"customer_id": "customer", "tier_spend": "tier spend", "next_tier": "next tier",
                 "spend_to_next_tier": "to next tier", "membership": "membership", "orders": "orders",
                 "lifecycle": "lifecycle"}
SHOWN_DIFFERENCES = 20


def register(app: typer.Typer) -> None:
    app.add_typer(loyalty_app, name="loyalty")


def _workspace(path: Path) -> Workspace:
    from tenure.loyalty.views import check_enabled

    ws = Workspace(path)
    check_enabled(ws)
    return ws


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _points(n: int) -> str:
    return f"{n:,}"


@loyalty_app.command("balance")
def balance(customer_id: str = CUSTOMER, workspace: Path = WS) -> None:
    """A customer's points today, what expires in the next 30 days, their tier and membership (from
    the latest snapshot) and the rewards the balance affords."""
    from tenure.loyalty.views import customer_summary

    ws = _workspace(workspace)
    found = customer_summary(ws, customer_id)
    if found is None:
        raise TenureError(f"no customer {customer_id!r} in the latest snapshot or the points ledger",
                          fix="check the id")
    facts = Table(title=f"customer {customer_id}: points on {found['today']}", title_justify="left", show_header=False)
    facts.add_column("what", style="bold")
    facts.add_column("value")
    currency = ws.settings.workspace.currency
    facts.add_row("balance", f"{_points(found['balance'])} points ({found['value']:,.2f} {currency})")
    facts.add_row("expiring in 30 days", _points(found["expiring_30d"]))
    if found["next_expiry_on"]:
        facts.add_row("next expiry", f"{_points(found['next_expiry_points'])} points on {found['next_expiry_on']}")
    label = f" (snapshot {found['as_of']})" if found["as_of"] else ""
    for key in ("tier", "tier_spend", "next_tier", "spend_to_next_tier", "membership", "plan", "membership_until"):
        facts.add_row(key + (label if key == "tier" else ""), _cell(found[key]))
    console.print(facts)
    rewards = Table(title="rewards the balance affords", title_justify="left")
    for col, justify in (("reward", "left"), ("cost", "right"), ("kind", "left"), ("description", "left")):
        rewards.add_column(col, justify=justify)
    for r in found["rewards_affordable"]:
        rewards.add_row(r["name"], _points(r["cost"]), r["kind"], r["description"])
    console.print(rewards if found["rewards_affordable"] else "No reward is affordable yet.")


@loyalty_app.command("history")
def history(customer_id: str = CUSTOMER,
            limit: int = typer.Option(50, "--limit", min=1, max=100_000, help="At most this many entries (default 50)."),
            workspace: Path = WS) -> None:
    """A customer's points ledger, newest first: earned, redeemed, expired, adjusted, reversed."""
    from tenure.loyalty import ledger

    ws = _workspace(workspace)
    _known(ws, customer_id)
    with ws.store.connect() as conn:
        rows = ledger.history(conn, customer_id, limit=limit)
    table = Table(title=f"customer {customer_id}: {len(rows)} ledger entries, newest first", title_justify="left")
    for col, justify in (("day", "left"), ("kind", "left"), ("points", "right"), ("expires", "left")):
        table.add_column(col, justify=justify, no_wrap=True)
    table.add_column("reason", ratio=2, min_width=12)
    table.add_column("source", ratio=1, min_width=8, overflow="fold")
    for r in rows:
        table.add_row(str(r["effective_on"]), r["kind"], f"{r['points']:+,}", _cell(r["expires_on"]), r["reason"],
                      r["source"] + (f" {r['source_id']}" if r["source_id"] else ""))
    console.print(table)


def _written(what: str, customer_id: str, done) -> None:
    if done.replayed:
        console.print(f"Already done with this key: {done.entry.reason} ({done.entry.points:+,} points on "
                      f"{done.entry.effective_on}); nothing new was written. Balance {_points(done.balance)}.",
                      highlight=False, soft_wrap=True)
        return
    console.print(f"{what} for {customer_id}: {done.entry.points:+,} points ({done.entry.reason}); "
                  f"balance now {_points(done.balance)}.", highlight=False, soft_wrap=True)


@loyalty_app.command("redeem")
def redeem(customer_id: str = CUSTOMER,
           reward: str = typer.Option(None, "--reward", help="A reward named in [loyalty.rewards]: its cost is taken."),
           points: int = typer.Option(None, "--points", help="A number of points to take instead of a reward."),
           key: str = typer.Option(..., "--key", help="An idempotency key, unique per redemption (e.g. the order "
                                   "or voucher id): run again with it, nothing is taken twice."),
           workspace: Path = WS) -> None:
    """Take a reward's cost (or a number of points) from a customer's balance, oldest points first;
    refused, with nothing written, when the balance does not cover it."""
    from tenure.loyalty import ledger

    ws = _workspace(workspace)
    if (reward is None) == (points is None):
        raise TenureError("name either --reward or --points", fix="e.g. --reward discount-5, or --points 500")
    _known(ws, customer_id)
    done = ledger.redeem(ws.store, customer_id=customer_id, idempotency_key=key, today=ws.today(), now=_utc_now(),
                         settings=ws.settings.loyalty, reward=reward, points=points, source="cli")
    _written("Redeemed", customer_id, done)


@loyalty_app.command("adjust", context_settings={"ignore_unknown_options": True})
def adjust(customer_id: str = CUSTOMER,
           points: int = typer.Argument(..., metavar="POINTS", help="Points to add (250) or to take (-250)."),
           reason: str = typer.Option(..., "--reason", help="Why, kept on the entry, e.g. 'goodwill: late delivery'."),
           key: str = typer.Option(None, "--key", help="An idempotency key: run again with it, nothing is added twice."),
           workspace: Path = WS) -> None:
    """Add points (a new lot, expiring like earned points) or take them (never below zero), with a
    reason kept on the entry."""
    from tenure.loyalty import ledger

    ws = _workspace(workspace)
    _known(ws, customer_id)
    done = ledger.adjust(ws.store, customer_id=customer_id, points=points, reason=reason, today=ws.today(),
                         now=_utc_now(), settings=ws.settings.loyalty, idempotency_key=key, source="cli")
    _written("Adjusted", customer_id, done)


def _known(ws, customer_id: str) -> None:
    from tenure.loyalty.views import is_known

    if not is_known(ws, customer_id):
        raise TenureError(f"no customer {customer_id!r} in the latest snapshot or the points ledger",
                          fix="check the id, or run `tenure run` first for a new customer")


@loyalty_app.command("members")
def members(tier: str = typer.Option(..., "--tier", help="The tier's name, e.g. gold ([[loyalty.tiers]])."),
            as_of: str = typer.Option(None, "--as-of", help="Stored snapshot to read (YYYY-MM-DD; default: the latest)."),
            as_csv: bool = typer.Option(False, "--csv", help="Print every member as CSV (for a spreadsheet or a "
                                        "mailing tool) instead of a table."),
            workspace: Path = WS) -> None:
    """The customers in a tier in a stored snapshot, biggest tier spend first."""
    import ibis

    from tenure.server import reads

    ws = _workspace(workspace)
    names = ws.settings.loyalty.tier_names()
    if tier not in names:
        raise TenureError(f"--tier {tier!r} is not a tier", fix=f"use one of: {', '.join(names)}")
    day = reads.stored_day(ws, _date(as_of, "--as-of"))
    t = ws.history.read(day)
    if "tier" not in t.columns:
        raise TenureError(f"the snapshot of {day} has no tiers (it was made before loyalty was enabled)",
                          fix=f"run `tenure run --as-of {day}` again")
    cols = [c for c in MEMBER_COLUMNS if c in t.columns]
    rows = reads.records(t.filter(t.tier == tier).select(*cols)
                         .order_by(ibis.desc("tier_spend"), "customer_id").execute())
    if as_csv:
        out = csv.DictWriter(sys.stdout, fieldnames=cols, lineterminator="\n")
        out.writeheader()
        out.writerows(rows)
        return
    shown = [c for c in TABLE_COLUMNS if c in cols]
    table = Table(title=f"tier {tier} on {day}: {len(rows):,} customers", title_justify="left")
    for col in shown:
        table.add_column(TABLE_COLUMNS[col], no_wrap=col == "customer_id",
                         justify="right" if col in ("tier_spend", "spend_to_next_tier", "orders") else "left")
    for r in rows:
        table.add_row(*[_cell(r[c]) for c in shown])
    console.print(table)


@loyalty_app.command("liability")
def liability(as_of: str = typer.Option(None, "--as-of", help="The day to count on (YYYY-MM-DD; default: today "
                                        "in the workspace zone)."),
              workspace: Path = WS) -> None:
    """Outstanding points and what they are worth; points expiring in the next 30 days."""
    from tenure.loyalty.views import liability as figures

    ws = _workspace(workspace)
    day = _date(as_of, "--as-of") or ws.today()
    found = figures(ws, day)
    currency = ws.settings.workspace.currency
    table = Table(title=f"points liability on {day}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("outstanding points", _points(found["outstanding_points"]))
    table.add_row("their value", f"{found['value']:,.2f} {currency}")
    table.add_row("customers with points", _points(found["customers_with_points"]))
    table.add_row("expiring in 30 days", _points(found["expiring_30d"]))
    table.add_row("their value", f"{found['expiring_30d_value']:,.2f} {currency}")
    table.add_row("point value", f"{found['point_value']:g} {currency}")
    console.print(table)


@loyalty_app.command("rebuild")
def rebuild(as_of: str = typer.Option(None, "--as-of", help="Replay history up to this day (YYYY-MM-DD; default: "
                                      "the latest snapshot's day, what the last run accrued up to)."),
            apply: bool = typer.Option(False, "--apply", help="Replace the ledger's derived entries (earned, "
                                       "reversed, expired) by the recomputed ones; redemptions and adjustments stay."),
            workspace: Path = WS) -> None:
    """Recompute every earned, reversed and expired entry from the warehouse's history and compare
    with the ledger. Exit 1 when they differ and --apply is not given."""
    from tenure.cli.lifecycle import _say_if_waiting
    from tenure.loyalty.accrual import rebuild as replay
    from tenure.warehouse.backends import analytics_tables

    ws = _workspace(workspace)
    day = _date(as_of, "--as-of")
    if day is None:
        dates = ws.history.dates()
        day = dates[-1] if dates else ws.today()
    _say_if_waiting(ws)
    with ws.lock(), console.status("replaying the ledger"):
        result = replay(ws, day, tables=analytics_tables(ws), now=_utc_now(), apply=apply)
    console.print(f"Compared {_points(result.derived_before)} derived ledger entries with "
                  f"{_points(result.derived_after)} recomputed from history up to {result.as_of}: "
                  f"{_points(len(result.differences))} differences; {_points(result.balances_changed)} customers' "
                  f"balances {'changed' if result.applied else 'would change'}.", highlight=False, soft_wrap=True)
    if result.differences:
        table = Table(title=f"differences (first {min(SHOWN_DIFFERENCES, len(result.differences))})",
                      title_justify="left")
        for col, justify in (("entry", "left"), ("stored", "right"), ("recomputed", "right")):
            table.add_column(col, justify=justify, no_wrap=True)
        for key, stored, fresh in result.differences[:SHOWN_DIFFERENCES]:
            table.add_row(key, "" if stored is None else f"{stored:+,}", "" if fresh is None else f"{fresh:+,}")
        console.print(table)
    if result.applied:
        console.print("Applied: the derived entries were replaced in one transaction.")
    elif result.differences:
        console.print("Nothing was changed; run with --apply to replace the derived entries.")
        raise typer.Exit(1)
