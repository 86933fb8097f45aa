"""`tenure loyalty ...` end to end on a generated shop with the programme on and one `tenure run`:
what each command prints against an independent reading (the ledger table, the snapshot file),
and every refusal: exit 2, one line, no traceback, nothing written."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa

from tenure import Workspace
from tenure.cli import main
from tenure.loyalty import ledger
from tenure.loyalty.simulate import simulate
from tenure.store.tables import loyalty_ledger
from tests.test_loyalty_api import DAY, fresh_customer, ledger_rows, ledger_sum, loyalty_workspace, snapshot

L = loyalty_ledger.c
OFF = "error: loyalty.enabled is false in tenure.toml — set it to true"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    ws = loyalty_workspace(tmp_path_factory.mktemp("loyalty-cli"), customers=300, seed=7)
    code = main(["run", "--as-of", DAY.isoformat(), "--no-dispatch", "-w", str(ws.root)])
    assert code == 0
    assert ledger_rows(ws) > 0
    return ws


def cli(ws, capsys, *args) -> tuple[int, str, str]:
    code = main([*args, "-w", str(ws.root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def refused(code: int, out: str, err: str, says: str) -> None:
    """Exit 2 with one line on stderr, `error: ...` naming the problem, no traceback."""
    assert code == 2, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert says in lines[0], err
    assert "Traceback" not in out + err


def balance_of(ws, cid: str) -> int:
    today = ws.today()
    with ws.store.connect() as conn:
        return simulate(cid, fixed=ledger.entries(conn, cid), as_of=today, expires=ws.settings.loyalty.expires_on).balance


# Rebuilds first: a redemption settles the expiries due by today, which a rebuild up to the day of
# the run does not replay.
def test_a_rebuild_of_an_untouched_ledger_finds_no_difference(shop, capsys):
    before = ledger_rows(shop)
    code, out, err = cli(shop, capsys, "loyalty", "rebuild")
    assert code == 0, out + err
    assert f"derived ledger entries with {before:,} recomputed from history up to {DAY}: 0 differences; " \
           "0 customers' balances would change" in out.replace("\n", " ")
    assert ledger_rows(shop) == before


def test_a_rebuild_finds_a_missing_entry_exits_1_and_puts_it_back_with_apply(shop, capsys):
    with shop.store.begin() as conn:
        row = conn.execute(sa.select(loyalty_ledger).where(L.kind == "earn").order_by(L.id).limit(1)).one()
        conn.execute(loyalty_ledger.delete().where(L.id == row.id))
    code, out, _ = cli(shop, capsys, "loyalty", "rebuild")
    text = out.replace("\n", " ")
    assert code == 1 and "1 differences" in text and row.key in out and "--apply" in text
    code, out, _ = cli(shop, capsys, "loyalty", "rebuild", "--as-of", DAY.isoformat(), "--apply")
    assert code == 0 and "Applied" in out
    with shop.store.connect() as conn:
        back = conn.execute(sa.select(loyalty_ledger).where(L.key == row.key)).one()
    assert (back.points, back.customer_id, back.effective_on) == (row.points, row.customer_id, row.effective_on)
    code, out, _ = cli(shop, capsys, "loyalty", "rebuild")
    assert code == 0 and ": 0 differences;" in out.replace("\n", " ")


def test_balance_shows_points_tier_and_affordable_rewards(shop, capsys):
    (cid, tier), = snapshot(shop, "SELECT customer_id, tier FROM s ORDER BY tier_spend DESC LIMIT 1")
    code, out, err = cli(shop, capsys, "loyalty", "balance", cid)
    assert code == 0, err
    assert f"customer {cid}: points on {shop.today()}" in out
    assert f"{balance_of(shop, cid):,} points" in out and tier in out
    for name, reward in shop.settings.loyalty.rewards.items():
        assert (name in out) == (reward.cost <= balance_of(shop, cid))
    refused(*cli(shop, capsys, "loyalty", "balance", "NOBODY-1"), "no customer 'NOBODY-1'")


def test_adjust_redeem_and_history(shop, capsys):
    cid = fresh_customer(shop)
    start = balance_of(shop, cid)
    code, out, err = cli(shop, capsys, "loyalty", "adjust", cid, "800", "--reason", "goodwill: late delivery")
    assert code == 0, err
    assert f"balance now {start + 800:,}" in out and ledger_sum(shop, cid) == start + 800
    code, out, err = cli(shop, capsys, "loyalty", "adjust", cid, "-100", "--reason", "double credit", "--key", "fix-1")
    assert code == 0, err
    assert f"balance now {start + 700:,}" in out
    code, out, _ = cli(shop, capsys, "loyalty", "adjust", cid, "-100", "--reason", "double credit", "--key", "fix-1")
    assert code == 0 and "nothing new was written" in out and ledger_sum(shop, cid) == start + 700

    cost = shop.settings.loyalty.rewards["discount-5"].cost
    rows = ledger_rows(shop)
    code, out, err = cli(shop, capsys, "loyalty", "redeem", cid, "--reward", "discount-5", "--key", "order-1")
    assert code == 0, err
    assert f"balance now {start + 700 - cost:,}" in out and ledger_rows(shop) == rows + 1
    code, out, _ = cli(shop, capsys, "loyalty", "redeem", cid, "--reward", "discount-5", "--key", "order-1")
    assert code == 0 and "Already done with this key" in out and ledger_rows(shop) == rows + 1
    code, out, _ = cli(shop, capsys, "loyalty", "redeem", cid, "--points", "50", "--key", "order-2")
    assert code == 0 and f"balance now {start + 650 - cost:,}" in out
    with shop.store.connect() as conn:
        row = conn.execute(sa.select(loyalty_ledger).where(L.key == "redeem:order-1")).one()
    assert (row.points, row.reward, row.source, row.customer_id) == (-cost, "discount-5", "cli", cid)

    code, out, _ = cli(shop, capsys, "loyalty", "history", cid, "--limit", "3")
    assert code == 0 and f"customer {cid}: 3 ledger entries, newest first" in out
    lines = [ln for ln in out.splitlines() if "redeem" in ln or "adjust" in ln]
    assert "-50" in lines[0] and f"-{cost}" in lines[1] and "-100" in lines[2]


@pytest.mark.parametrize(("args", "says"), [
    (("redeem", "{cid}", "--points", "999999", "--key", "big"), "has {balance} points; the redemption needs 999999"),
    (("redeem", "{cid}", "--reward", "yacht", "--key", "k-yacht"), "unknown reward 'yacht'"),
    (("redeem", "{cid}", "--points", "-5", "--key", "k-neg"), "points to redeem must be a positive whole number"),
    (("redeem", "{cid}", "--points", "5", "--reward", "sample", "--key", "k-both"), "name either --reward or --points"),
    (("redeem", "{cid}", "--key", "k-none"), "name either --reward or --points"),
    (("redeem", "{cid}", "--points", "5", "--key", "  "), "an idempotency key is required"),
    (("redeem", "NOBODY-2", "--points", "5", "--key", "k-nobody"), "no customer 'NOBODY-2'"),
    (("adjust", "{cid}", "-999999", "--reason", "too much"), "cannot take 999999"),
    (("adjust", "{cid}", "0", "--reason", "zero"), "an adjustment must be a non-zero whole number"),
    (("adjust", "{cid}", "10", "--reason", "   "), "an adjustment needs a reason"),
])
def test_a_refused_redemption_or_adjustment_is_one_line_exit_2_and_writes_nothing(shop, capsys, args, says):
    cid = fresh_customer(shop)
    assert cli(shop, capsys, "loyalty", "adjust", cid, "300", "--reason", "test funds")[0] == 0
    balance = ledger_sum(shop, cid)
    before = ledger_rows(shop)
    argv = [a.format(cid=cid) for a in args]
    refused(*cli(shop, capsys, "loyalty", *argv), says.format(balance=balance))
    assert ledger_rows(shop) == before and ledger_sum(shop, cid) == balance


def test_a_key_reused_for_another_request_is_refused(shop, capsys):
    cid = fresh_customer(shop)
    assert cli(shop, capsys, "loyalty", "adjust", cid, "500", "--reason", "test funds")[0] == 0
    assert cli(shop, capsys, "loyalty", "redeem", cid, "--reward", "sample", "--key", "reused")[0] == 0
    before = ledger_rows(shop)
    refused(*cli(shop, capsys, "loyalty", "redeem", cid, "--points", "10", "--key", "reused"),
            "this idempotency key was already used for a different request")
    assert ledger_rows(shop) == before


def test_members_of_a_tier_as_csv_and_as_a_table(shop, capsys):
    for tier in shop.settings.loyalty.tier_names():
        expected = [r[0] for r in snapshot(shop, "SELECT customer_id FROM s WHERE tier = ? "
                                                 "ORDER BY tier_spend DESC, customer_id", [tier])]
        code, out, err = cli(shop, capsys, "loyalty", "members", "--tier", tier, "--csv")
        assert code == 0, err
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [r["customer_id"] for r in rows] == expected
        assert {r["tier"] for r in rows} <= {tier}
        code, out, _ = cli(shop, capsys, "loyalty", "members", "--tier", tier, "--as-of", DAY.isoformat())
        assert code == 0 and f"tier {tier} on {DAY}: {len(expected):,} customers" in out
    refused(*cli(shop, capsys, "loyalty", "members", "--tier", "platinum"), "--tier 'platinum' is not a tier")
    refused(*cli(shop, capsys, "loyalty", "members", "--tier", "gold", "--as-of", "2020-01-01"),
            "no snapshot stored for 2020-01-01")


def test_liability(shop, capsys):
    code, out, err = cli(shop, capsys, "loyalty", "liability")
    assert code == 0, err
    today = shop.today()
    with shop.store.connect() as conn:
        per = ledger.all_entries(conn)
    loyalty = shop.settings.loyalty
    states = [simulate(c, fixed=items, as_of=today, expires=loyalty.expires_on) for c, items in per.items()]
    outstanding = sum(s.balance for s in states)
    soon = sum(s.expiring(today, today + dt.timedelta(days=30)) for s in states)
    assert f"points liability on {today}" in out
    assert f"{outstanding:,}" in out and f"{outstanding * loyalty.point_value:,.2f} USD" in out
    assert f"{soon:,}" in out
    refused(*cli(shop, capsys, "loyalty", "liability", "--as-of", "31/12/2025"), "--as-of '31/12/2025' is not a date")


def test_every_command_says_when_the_programme_is_off(tmp_path, capsys):
    ws = Workspace.init(tmp_path / "off")
    for args in (("balance", "C1"), ("history", "C1"), ("redeem", "C1", "--points", "5", "--key", "k"),
                 ("adjust", "C1", "5", "--reason", "x"), ("members", "--tier", "gold"), ("liability",), ("rebuild",)):
        code, out, err = cli(ws, capsys, "loyalty", *args)
        assert code == 2 and err.strip() == OFF and "Traceback" not in out + err, (args, out, err)
