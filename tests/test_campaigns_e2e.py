"""A campaign with a step on every channel, end to end on a generated shop: `tenure run` over
several days sends real email (aiosmtpd), SMS and signed webhooks (a real HTTP server), creates
manager tasks; templates carry personal product picks; preview writes nothing, backtest counts
what was enrolled, and the report's funnel equals what the servers received."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa

from tenure import Workspace, generate
from tenure.channels.webhook import verify_signature
from tenure.cli import main
from tenure.store.tables import enrollments, outbox, tasks
from tests.conftest import NOW
from tests.servers import HttpSink, SmtpSink

DAYS = [dt.date(2025, 11, 1) + dt.timedelta(days=i) for i in range(6)]
SECRET = "test-webhook-secret"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    generate(customers=1500, seed=11, out=root / "in", fmt="parquet")
    ws = Workspace.init(root / "shop", timezone="UTC")
    for entity in ("customers", "orders", "order_items", "events"):
        ws.ingest(entity, [root / "in" / f"{entity}.parquet"], now=NOW)
    mp = pytest.MonkeyPatch()
    mp.setenv("TENURE_WEBHOOK_SECRET", SECRET)
    with SmtpSink() as smtp, HttpSink() as http:
        (ws.root / "tenure.toml").write_text(f"""
[workspace]
timezone = "UTC"
[clv]
enabled = false
[messaging]
quiet_hours = ""
frequency_cap = 0
[email]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
[sms]
url = "{http.url}/sms"
[webhook]
url = "{http.url}/hook"
[campaigns.omni]
enabled = true
description = "every channel"
trigger = {{ orders = "1-2", days_since_last = 51 }}
conversion_window_days = 12
steps = [{{ offset_days = 0, channel = "email", template = "rf-wandering-1" }},
         {{ offset_days = 1, channel = "sms", template = "rf-at-risk-1" }},
         {{ offset_days = 2, channel = "webhook" }},
         {{ offset_days = 3, channel = "task", template = "reactivation-call" }}]
""")
        ws = Workspace(ws.root)
        for day in DAYS:
            assert main(["run", "--as-of", day.isoformat(), "--now", f"{day}T12:00", "-w", str(ws.root)]) == 0
        yield ws, smtp.messages, http.requests
    mp.undo()


def statuses(ws) -> pd.DataFrame:
    with ws.store.connect() as conn:
        result = conn.execute(sa.select(outbox.c.key, outbox.c.customer_id, outbox.c.step, outbox.c.status,
                                        outbox.c.due_on, outbox.c.reason))
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def test_every_channel_received_what_the_outbox_says_was_sent(world):
    ws, emails, requests = world
    o = statuses(ws)
    sent = o[o.status == "sent"]
    assert set(sent.step) == {0, 1, 2, 3}
    assert len(emails) == (sent.step == 0).sum() > 5
    sms = [r for r in requests if r.path == "/sms"]
    hooks = [r for r in requests if r.path == "/hook"]
    assert len(sms) == (sent.step == 1).sum() > 0
    assert len(hooks) == (sent.step == 2).sum() > 0
    for hook in hooks:  # signed with the shared secret over the exact bytes received
        assert verify_signature(SECRET, hook.body, hook.header("X-Tenure-Signature"))
        assert hook.json()["key"] == hook.header("X-Tenure-Key")
    with ws.store.connect() as conn:
        task_rows = conn.execute(sa.select(tasks.c.outbox_key, tasks.c.action)).fetchall()
    assert {k for k, _ in task_rows} == set(sent[sent.step == 3].key)
    # SMS only with consent and a number; every refusal says why.
    refused = o[o.status.isin(["no_consent", "no_address"])]
    assert not refused.empty and refused.reason.str.startswith("no ").all()
    assert {r.json()["To"] for r in sms} <= set(pd.read_parquet(ws.root.parent / "in" / "customers.parquet").phone)


def test_emails_carry_personal_picks_the_customer_does_not_have(world):
    ws, emails, _ = world
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        owned = con.execute("""SELECT o.customer_id, i.name, CAST(o.ordered_at AS DATE) AS day
                               FROM order_items i JOIN orders o USING (order_id) WHERE o.status = 'completed'""").df()
        names = set(con.execute("SELECT DISTINCT name FROM order_items").df().name)
    finally:
        con.close()
    email_to_id = {f"{c.lower()}@example.com": c for c in owned.customer_id.unique()}
    with ws.store.connect() as conn:
        sent_at = dict(conn.execute(sa.select(outbox.c.key, outbox.c.sent_at)).fetchall())
    with_picks = 0
    for m in emails:
        text = m.message.get_body(("plain",)).get_content()
        lines = text.splitlines()
        start = lines.index("Chosen for you:") + 1 if "Chosen for you:" in lines else len(lines)
        picks = [ln[2:] for ln in lines[start:] if ln.startswith("- ")]
        # What they had bought by the day the email went out (picks are computed on that day).
        sent_on = sent_at[m.message_id.strip("<>").split("@")[0]].date()
        mine = set(owned.name[(owned.customer_id == email_to_id.get(m.message["To"]))
                              & (pd.to_datetime(owned.day).dt.date <= sent_on)])
        assert set(picks) <= names and not set(picks) & mine, (m.message["To"], picks)
        assert len(picks) <= ws.settings.messaging.picks
        with_picks += bool(picks)
    assert with_picks > len(emails) // 2


def test_preview_writes_nothing_and_backtest_counts_the_enrollments(world, capsys, tmp_path):
    ws, _, _ = world
    before = len(statuses(ws))
    out = tmp_path / "preview.csv"
    assert main(["campaigns", "preview", "--as-of", "2025-11-07", "--out", str(out), "-w", str(ws.root)]) == 0
    plan = pd.read_csv(out)
    assert len(statuses(ws)) == before and set(plan.campaign) <= {"omni"}
    assert set(plan.step) <= {0, 1, 2, 3}

    out = tmp_path / "backtest.csv"
    assert main(["campaigns", "backtest", "--from", str(DAYS[0]), "--to", str(DAYS[-1]), "--out", str(out),
                 "-w", str(ws.root)]) == 0
    daily = pd.read_csv(out)
    with ws.store.connect() as conn:
        enrolled = dict(conn.execute(sa.select(enrollments.c.entered_on, sa.func.count())
                                     .group_by(enrollments.c.entered_on)).fetchall())
    assert {dt.date.fromisoformat(d): n for d, n in zip(daily.day, daily.entered) if n} == enrolled


def test_report_funnel_and_tasks_export(world, capsys, tmp_path):
    ws, emails, _ = world
    out = tmp_path / "report.csv"
    assert main(["campaigns", "report", "--as-of", str(DAYS[-1]), "--out", str(out), "-w", str(ws.root)]) == 0
    report = pd.read_csv(out)
    by_step = report.set_index("step")
    assert by_step.loc["0", "sent"] == len(emails)
    o = statuses(ws)
    with ws.store.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(enrollments)).scalar()
    assert by_step.loc["all", "treatment_n"] + by_step.loc["all", "holdout_n"] == n
    assert by_step.loc["all", "sent"] == (o.status == "sent").sum()

    assert main(["campaigns", "report", "-w", str(ws.root)]) == 0
    shown = capsys.readouterr().out
    assert "uplift (95% CI)" in shown and "omni" in shown

    csv = tmp_path / "tasks.csv"
    assert main(["tasks", "--out", str(csv), "-w", str(ws.root)]) == 0
    listed = pd.read_csv(csv)
    assert len(listed) == (o[(o.step == 3)].status == "sent").sum() and listed.action.str.len().min() > 10
    first = int(listed.id.iloc[0])
    assert main(["tasks", "done", str(first), "--note", "called, will order", "-w", str(ws.root)]) == 0
    assert main(["tasks", "done", str(first), "-w", str(ws.root)]) == 2  # done already: a clear error
    assert "no open task" in capsys.readouterr().err
