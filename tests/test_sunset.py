"""The sunset policy end to end: inactive contacts get one offer by email (a real SMTP server);
who does not react is suppressed for marketing, who reacts goes back to the normal flow; a
suppression is listed and can be lifted."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tenure import Workspace
from tenure.campaigns import suppressions as supp
from tenure.store.tables import outbox, sunset_offers
from tests.conftest import write
from tests.servers import SmtpSink

D = dt.date(2026, 3, 10)


def shop(root, port):
    ws = Workspace.init(root, timezone="UTC")
    long_ago = D - dt.timedelta(days=800)
    write(root / "in" / "customers.csv", "customer_id,email,consent_email,created_at\n" + "".join(
        f"{c},{c}@example.com,{consent},{long_ago}T09:00:00\n"
        for c, consent in (("quiet", "true"), ("opener", "true"), ("noconsent", "false"), ("wakes", "true"),
                           ("buyer", "true"))))
    write(root / "in" / "events.csv", "customer_id,occurred_at,type\n"
          f"opener,{D - dt.timedelta(days=30)}T10:00:00,email_open\n"
          f"quiet,{D - dt.timedelta(days=500)}T10:00:00,email_open\n"
          f"wakes,{D + dt.timedelta(days=5)}T10:00:00,email_click\n")
    write(root / "in" / "orders.csv", "order_id,customer_id,ordered_at,status,amount\n"
          f"o1,buyer,{long_ago}T10:00:00,completed,10\no2,buyer,{D + dt.timedelta(days=3)}T10:00:00,completed,12\n")
    for entity in ("customers", "events", "orders"):
        ws.ingest(entity, [root / "in" / f"{entity}.csv"])
    toml = (root / "tenure.toml").read_text()
    toml = toml.replace("[sunset]\n# Run the sunset policy (DOMAIN.md) in every `tenure run`.\nenabled = false",
                        "[sunset]\n# Run the sunset policy (DOMAIN.md) in every `tenure run`.\nenabled = true")
    toml = toml.replace('host = "localhost"', 'host = "127.0.0.1"').replace("port = 25\n", f"port = {port}\n")
    toml = toml.replace('security = "starttls"', 'security = "none"').replace('quiet_hours = "21:00-08:00"', 'quiet_hours = ""')
    (root / "tenure.toml").write_text(toml)
    ws = Workspace(root)
    assert ws.settings.sunset.enabled
    return ws


def states(ws) -> dict[str, str]:
    with ws.store.connect() as conn:
        return dict(conn.execute(sa.select(sunset_offers.c.customer_id, sunset_offers.c.state)).fetchall())


def test_offer_then_suppress_or_return(tmp_path):
    with SmtpSink() as sink:
        ws = shop(tmp_path / "shop", sink.port)
        first = ws.run(as_of=D, now=dt.datetime.combine(D, dt.time(12)))
        assert first.campaigns.sunset == {"reacted": 0, "suppressed": 0, "offered": 3}
        assert states(ws) == {"quiet": "offered", "wakes": "offered", "buyer": "offered"}
        assert sorted(m.message["To"] for m in sink.messages) == [
            "buyer@example.com", "quiet@example.com", "wakes@example.com"]
        assert all(m.message["Subject"] for m in sink.messages)

        later = D + dt.timedelta(days=30)
        second = ws.run(as_of=later, now=dt.datetime.combine(later, dt.time(12)))
        assert second.campaigns.sunset["suppressed"] == 1 and second.campaigns.sunset["reacted"] == 2
        assert states(ws) == {"quiet": "suppressed", "wakes": "reacted", "buyer": "reacted"}
        listed = supp.listing(ws)
        assert listed[["customer_id", "scope", "reason"]].values.tolist() == [["quiet", "marketing", "sunset"]]
        # No second offer while the first is recent, and no offer to the suppressed contact.
        assert second.campaigns.sunset["offered"] == 0
        with ws.store.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 3

        assert supp.lift(ws, "quiet", reason="asked to come back") == 1
        assert supp.listing(ws).empty
        lifted = supp.listing(ws, lifted=True).iloc[0]
        assert lifted.lifted_reason == "asked to come back"


def test_runs_are_logged_with_their_counts_or_their_error(tmp_path):
    import pytest

    from tenure.errors import TenureError
    from tenure.store import runlog

    with SmtpSink() as sink:
        ws = shop(tmp_path / "shop", sink.port)
        ws.run(as_of=D, now=dt.datetime.combine(D, dt.time(12)))
        ws.dispatch(now=dt.datetime.combine(D, dt.time(13)))
    logged = runlog.recent(ws.store)
    assert [(r["kind"], r["status"]) for r in logged] == [("dispatch", "ok"), ("run", "ok")]
    assert logged[1]["counts"]["entered"] == {"sunset": 3} and logged[1]["as_of"] == D
    assert logged[1]["counts"]["dispatched"]["sent"] == 3 and logged[0]["finished_at"] >= logged[0]["started_at"]

    from tests.servers import free_port

    broken = shop(tmp_path / "broken", free_port())  # nothing listens on its SMTP port
    with pytest.raises(TenureError, match="cannot reach"):
        broken.run(as_of=D, now=dt.datetime.combine(D, dt.time(12)))
    last = runlog.recent(broken.store)[0]
    assert (last["kind"], last["status"]) == ("run", "failed") and "cannot reach" in last["error"]
