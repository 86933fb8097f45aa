"""Bad campaign definitions are refused with one clear line (exit 2) before anything is enrolled
or sent: unknown segmentation or label, a negative offset, a malformed trigger, and templates
with a syntax error, an undefined variable or a reach for Python internals."""

from __future__ import annotations

import datetime as dt

import pytest

from tenure import Workspace
from tenure.cli import main
from tests.conftest import write

D = dt.date(2026, 3, 10)


@pytest.fixture
def shop(tmp_path):
    root = tmp_path / "shop"
    ws = Workspace.init(root, timezone="UTC")
    write(root / "in" / "orders.csv", "order_id,customer_id,ordered_at,status,amount\n"
          f"o1,c1,{D - dt.timedelta(days=10)}T10:00:00,completed,20\n")
    ws.ingest("orders", [root / "in" / "orders.csv"])
    return root


def add_campaign(root, body: str) -> None:
    with open(root / "tenure.toml", "a", encoding="utf-8") as f:
        f.write("\n[campaigns.mine]\nenabled = true\n" + body + "\n")


def run(root, capsys) -> tuple[int, str]:
    code = main(["run", "--as-of", D.isoformat(), "--now", f"{D}T12:00", "-w", str(root)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("body, message", [
    ('trigger = { lifecyle = "lapsing" }\nsteps = [{ offset_days = 0, template = "rf-new-1" }]',
     "campaigns.mine.trigger: unknown segmentation 'lifecyle' (known: churn_risk, lifecycle, membership, rf, "
     "rfm_segment, tier, unengaged, vip)"),
    ('trigger = { lifecycle = "sleeping" }\nsteps = [{ offset_days = 0, template = "rf-new-1" }]',
     "campaigns.mine.trigger: lifecycle has no label 'sleeping'"),
    ('trigger = { rf = "wandering" }\nsteps = [{ offset_days = -1, template = "rf-new-1" }]',
     "campaigns.mine.steps.0.offset_days: Input should be greater than or equal to 0"),
    ('trigger = { orders = "two", days_since_last = 5 }\nsteps = [{ offset_days = 0, template = "rf-new-1" }]',
     "campaigns.mine.trigger.orders: orders 'two' is not a count such as '1', '1-2' or '3+'"),
    ('trigger = { rf = "lost", event = "subscribe" }\nsteps = [{ offset_days = 0, template = "rf-new-1" }]',
     "campaigns.mine.trigger: needs exactly one of"),
    ('trigger = { rf = "lost" }\nsteps = [{ offset_days = 5, template = "a" }, { offset_days = 2, template = "b" }]',
     "campaigns.mine: step offsets [5, 2] must increase"),
    ('trigger = { rf = "lost" }\nsteps = [{ offset_days = 0, channel = "fax", template = "a" }]',
     "campaigns.mine.steps.0.channel: Input should be 'email', 'sms', 'webhook' or 'task'"),
    ('trigger = { rf = "lost" }\nsteps = [{ offset_days = 0, template = "rf-lost-1" }]\n[campaigns.sunset]\n'
     'trigger = { rf = "lost" }\nsteps = [{ offset_days = 0, template = "rf-lost-1" }]',
     "campaigns.sunset: the name is the sunset policy's own"),
])
def test_bad_definitions_name_the_campaign_and_field(shop, capsys, body, message):
    add_campaign(shop, body)
    code, err = run(shop, capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (shop / "store.sqlite").exists()  # nothing was enrolled or sent: no store was even opened


@pytest.mark.parametrize("files, message", [
    ({"subject.txt": "Hi", "body.txt": "Hello {{ customer.name }"}, "syntax error"),
    ({"subject.txt": "Hi", "body.txt": "Hello {{ custmer.name }}"}, "'custmer' is undefined"),
    ({"subject.txt": "Hi", "body.txt": "Hello {{ customer.nmae }}"}, "nmae"),
    ({"subject.txt": "Hi", "body.txt": "{{ customer.__class__.__mro__ }}"}, "Python internals"),
    ({"subject.txt": "Hi", "body.txt": "{{ ''.__class__.__subclasses__() }}"}, "Python internals"),
])
def test_bad_templates_are_refused_before_anything_is_sent(shop, capsys, files, message):
    for name, text in files.items():
        write(shop / "templates" / "mine-1" / name, text)
    add_campaign(shop, 'trigger = { orders = "1", days_since_last = 10 }\n'
                       'steps = [{ offset_days = 0, template = "mine-1" }]')
    code, err = run(shop, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "campaigns.mine.steps[0]: template 'mine-1'" in err and message in err, err
    assert not (shop / "snapshots" / f"snapshot-{D}.parquet").exists()  # refused before the run began
    assert not (shop / "store.sqlite").exists()


def test_check_command_renders_every_template_even_of_campaigns_that_are_off(shop, capsys):
    write(shop / "templates" / "rf-lost-2" / "subject.txt", "{% if %}")
    code = main(["campaigns", "check", "-w", str(shop)])
    err = capsys.readouterr().err
    assert code == 2 and "campaigns.rf-lost.steps[1]: template 'rf-lost-2'" in err, err
