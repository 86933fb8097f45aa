"""Templates (sandboxed, checked before sending), tracked links and message composition."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tenure import tokens
from tenure.campaigns.compose import compose
from tenure.campaigns.definitions import Campaign, Step, Trigger, default_campaigns
from tenure.campaigns.links import list_unsubscribe_headers, track_html, unsubscribe_url
from tenure.campaigns.templates import DEFAULTS, Templates, sample_context
from tenure.errors import CampaignError

SECRET = "workspace-secret"
PUBLIC = "https://crm.example.com"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def refusal(folder: Path, files: dict[str, str], channel: str = "email", name: str = "t") -> str:
    templates = Templates(write(folder, files))
    with pytest.raises(CampaignError) as caught:
        templates.check(name, channel, where="campaigns.x.steps[0]")
    message = str(caught.value)
    assert message.startswith(f"campaigns.x.steps[0]: template {name!r}: ")
    return message


def test_every_default_step_has_a_template_that_checks_and_renders():
    templates, seen = Templates(), 0
    context = sample_context()
    for name, campaign in default_campaigns().items():
        for i, step in enumerate(campaign.steps):
            templates.check(step.template, step.channel, where=f"campaigns.{name}.steps[{i}]")
            out = templates.render(step.template, step.channel, context)
            seen += 1
            if step.channel == "email":
                assert out.subject and "\n" not in out.subject and "{" not in out.subject
                assert out.text.startswith("Hi Ada,\n\n") and "The team" in out.text
                assert "https://crm.example.com/u/sample-token" in out.text  # the unsubscribe footer
                assert out.html.startswith("<!DOCTYPE html>") and "<p>Hi Ada,</p>" in out.html
                assert 'href="https://crm.example.com/u/sample-token"' in out.html
                assert 4 <= out.text.count("\n\n") <= 9, f"{step.template} is not short"
            else:
                assert step.channel == "task" and "Call Ada Lovelace on +441234567890" in out.text
    assert seen == 19
    bare = templates.render("rf-loyal-1", "email", sample_context(sparse=True))
    assert bare.text.startswith("Hi there,") and "Unsubscribe" not in bare.text and "Unsubscribe" not in bare.html
    assert "Earl Grey" not in bare.text and "<ul" not in bare.html and "None" not in bare.text


def test_picks_are_listed_where_the_rung_asks_for_them():
    out = Templates().render("rf-loyal-2", "email", sample_context())
    assert "- Earl Grey tea, 250 g\n- Stoneware mug" in out.text
    assert "<li>Earl Grey tea, 250 g</li>" in out.html


def test_sms_variants_fit_one_message():
    for name in ("rf-at-risk-1", "rf-lost-1"):
        out = Templates().render(name, "sms", sample_context())
        assert out.subject is None and out.text.startswith("Hi Ada,") and "STOP" in out.text
        assert len(out.text) <= 160 and "\n" not in out.text
        Templates().check(name, "sms", where="x")


def test_money_and_date_filters_use_the_shop_locale(tmp_path):
    templates = Templates(write(tmp_path, {"t/task.txt": "{{ customer.spend | money }} since "
                                           "{{ customer.first_purchase | date }}"}))
    assert templates.render("t", "task", sample_context()).text == "£412.50 since 14 May 2024"
    context = {**sample_context(), "shop": {"currency": "EUR", "locale": "de_DE"}}
    assert templates.render("t", "task", context).text == "412,50\xa0€ since 14. Mai 2024"


def test_workspace_templates_come_first(tmp_path):
    templates = Templates(write(tmp_path, {"rf-new-1/subject.txt": "Our own {{ campaign.name }} subject"}))
    out = templates.render("rf-new-1", "email", sample_context())
    assert out.subject == "Our own rf-loyal subject" and out.text.startswith("Hi Ada,")


def test_missing_files_are_named(tmp_path):
    message = refusal(tmp_path, {"t/subject.txt": "Hi"})
    assert f"file {tmp_path / 't' / 'body.txt'} not found" in message and f"create {tmp_path}" in message
    assert "sms.txt not found" in refusal(tmp_path, {}, channel="sms", name="u")
    assert "'_base/nope.txt', which does not exist" in refusal(
        tmp_path, {"v/task.txt": '{% include "_base/nope.txt" %}'}, channel="task", name="v")
    with pytest.raises(CampaignError, match="not a folder name"):
        Templates(tmp_path).check("../etc", "email", where="x")
    Templates(tmp_path).check("anything", "webhook", where="x")  # webhook steps need no template


def test_syntax_error_names_the_line(tmp_path):
    message = refusal(tmp_path, {"t/subject.txt": "Hi", "t/body.txt": "Hello\n\n{{ customer.name | }}\nbye"})
    assert "syntax error in t/body.txt line 3: expected token 'name', got 'end of print statement'" in message


def test_undefined_variable_and_attribute(tmp_path):
    message = refusal(tmp_path, {"t/subject.txt": "Hi", "t/body.txt": "Hello\n{{ cusomer.name }}"})
    assert "t/body.txt line 2 uses an undefined variable or attribute: 'cusomer' is undefined" in message
    message = refusal(tmp_path, {"a/subject.txt": "Hi {{ customer.nickname }}", "a/body.txt": "x"}, name="a")
    assert "t/subject.txt" not in message and "'dict object' has no attribute 'nickname'" in message
    # valid with the full sample, but a new contact has no picks: refused too
    message = refusal(tmp_path, {"p/task.txt": "Suggest {{ picks[0].name }}"}, channel="task", name="p")
    assert "undefined" in message


@pytest.mark.parametrize("attack", ["{{ customer.__class__.__mro__ }}", "{{ ''.__class__ }}",
                                    "{{ cycler.__init__.__globals__ }}",
                                    "{{ customer.items.__self__.__class__ }}",
                                    "{{ '{0.__class__}'.format(customer) }}"])
def test_python_internals_are_refused(tmp_path, attack):
    message = refusal(tmp_path, {"t/subject.txt": "Hi", "t/body.html": f"<p>{attack}</p>", "t/body.txt": "x"})
    assert "t/body.html line 1 reaches for Python internals" in message and "unsafe" in message


def test_html_is_escaped_and_text_is_not(tmp_path):
    templates = Templates(write(tmp_path, {"t/subject.txt": "For {{ customer.name }}",
                                           "t/body.txt": "Hi {{ customer.name }}",
                                           "t/body.html": "<p>Hi {{ customer.name }}</p>"}))
    context = sample_context()
    context["customer"] = {**context["customer"], "name": "<script>alert(1)</script> & co"}
    out = templates.render("t", "email", context)
    assert out.html == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>" and "<script>" not in out.html
    assert out.text == "Hi <script>alert(1)</script> & co\n" and out.subject == "For <script>alert(1)</script> & co"


# --- links --------------------------------------------------------------------------------------

def test_track_html_rewrites_links_and_adds_the_pixel():
    unsub = unsubscribe_url(PUBLIC + "/", SECRET, key="k1", customer_id="C-7")
    html = (f'<html><body><a href="https://shop.example.com/p?a=1&amp;b=2">Shop</a> '
            f"<A class='x' HREF='http://plain.example.com/x'>x</A> <a href=\"mailto:help@example.com\">mail</a> "
            f'<a href="#top">top</a> <a title="a > b" href="{unsub}">Unsubscribe</a></BODY></html>')
    out = track_html(html, public_url=PUBLIC, secret=SECRET, key="k1", customer_id="C-7")
    clicks = [part.split('"')[0] for part in out.split(f'"{PUBLIC}/t/c/')[1:]]
    assert len(clicks) == 2
    assert tokens.verify(SECRET, "click", clicks[0]) == {"k": "k1", "c": "C-7",
                                                         "u": "https://shop.example.com/p?a=1&b=2"}
    assert tokens.verify(SECRET, "click", clicks[1])["u"] == "http://plain.example.com/x"
    assert 'href="mailto:help@example.com"' in out and 'href="#top"' in out and f'href="{unsub}"' in out
    assert "shop.example.com" not in out and ">Shop</a>" in out and "class='x'" in out
    pixel = out.split(f'<img src="{PUBLIC}/t/o/')[1].split('"')[0]
    assert tokens.verify(SECRET, "open", pixel) == {"k": "k1", "c": "C-7"}
    assert out.endswith("</BODY></html>") and out.index("/t/o/") < out.index("</BODY>")
    tampered = clicks[0][:-2] + ("A" if clicks[0][-2] != "A" else "B") + clicks[0][-1]
    assert tokens.verify(SECRET, "click", tampered) is None
    assert tokens.verify(SECRET, "unsubscribe", clicks[0]) is None  # a click token is not an unsubscribe
    assert tokens.verify("another-secret", "click", clicks[0]) is None
    assert tokens.verify(SECRET, "unsubscribe", unsub.rsplit("/", 1)[1]) == {"k": "k1", "c": "C-7"}


def test_track_html_without_body_or_public_url():
    out = track_html('<p><a href="https://a.example">a</a></p>', public_url=PUBLIC, secret=SECRET, key="k",
                     customer_id="C")
    link, pixel = out.split("</a></p>")  # no </body>: the pixel goes at the end
    assert link.startswith(f'<p><a href="{PUBLIC}/t/c/') and pixel.startswith(f'<img src="{PUBLIC}/t/o/')
    assert 'width="1" height="1"' in pixel and pixel.endswith(">")
    assert track_html("<p>x</p>", public_url="", secret=SECRET, key="k", customer_id="C") == "<p>x</p>"
    assert unsubscribe_url("", SECRET, key="k", customer_id="C") is None


def test_list_unsubscribe_headers():
    both = list_unsubscribe_headers(unsubscribe_url="https://crm.example.com/u/tok", mailto="stop@example.com")
    assert both == {
        "List-Unsubscribe": "<https://crm.example.com/u/tok>, <mailto:stop@example.com?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert list_unsubscribe_headers(unsubscribe_url=None, mailto="mailto:stop@example.com") == {
        "List-Unsubscribe": "<mailto:stop@example.com?subject=unsubscribe>"}
    assert list_unsubscribe_headers(unsubscribe_url=None, mailto="") == {}


# --- compose ------------------------------------------------------------------------------------

CUSTOMER = {"customer_id": np.str_("C-7"), "name": "Ada Lovelace", "email": "ada@example.com",
            "phone": "+441234567890", "orders": np.int64(4), "spend": np.float64(250.0), "avg_spend": float("nan"),
            "first_purchase": dt.date(2024, 5, 14), "last_purchase": dt.datetime(2026, 1, 5, 10, 30),
            "clv_365d": None, "not_documented": "ignored"}


def one_step(channel: str, template: str = "") -> Campaign:
    return Campaign(description="Test campaign", trigger=Trigger(rf="at-risk"),
                    steps=[Step(offset_days=0, channel=channel, template=template)])


def make(channel: str, template: str = "", customer: dict = CUSTOMER, public_url: str = PUBLIC):
    return compose(key="k42", campaign_name="test", campaign=one_step(channel, template), step_index=0,
                   customer=customer, picks=[{"sku": "TEA-01", "name": "Earl Grey tea"}], due_on=dt.date(2026, 3, 1),
                   currency="GBP", templates=Templates(), public_url=public_url, secret=SECRET,
                   unsubscribe_mailto="stop@example.com", locale="en_GB")


def test_compose_email():
    msg = make("email", "rf-at-risk-1")
    assert (msg.key, msg.campaign, msg.step, msg.customer_id, msg.channel) == ("k42", "test", 0, "C-7", "email")
    assert msg.recipient == "ada@example.com" and msg.subject == "A little something for you: 15% off"
    assert msg.text.startswith("Hi Ada,\n") and "- Earl Grey tea" in msg.text and msg.payload == {}
    unsub = msg.headers["List-Unsubscribe"].split(">")[0][1:]
    assert unsub.startswith(f"{PUBLIC}/u/") and unsub in msg.text and f'href="{unsub}"' in msg.html
    assert tokens.verify(SECRET, "unsubscribe", unsub.rsplit("/", 1)[1]) == {"k": "k42", "c": "C-7"}
    assert msg.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and "/t/o/" in msg.html
    assert msg.due_on == dt.date(2026, 3, 1)
    plain = make("email", "rf-at-risk-1", public_url="")
    assert "/t/o/" not in plain.html and "Unsubscribe" not in plain.text
    assert plain.headers == {"List-Unsubscribe": "<mailto:stop@example.com?subject=unsubscribe>"}
    assert make("email", "rf-at-risk-1", customer={**CUSTOMER, "email": None}).recipient is None


def test_compose_sms_and_missing_phone():
    msg = make("sms", "rf-lost-1")
    assert msg.recipient == "+441234567890" and msg.subject is None and msg.html is None and msg.headers == {}
    assert msg.text.startswith("Hi Ada, we would love you back: 20% off")
    assert make("sms", "rf-lost-1", customer={**CUSTOMER, "phone": "  "}).recipient is None


def test_compose_task_and_webhook_payloads_are_json_safe():
    task = make("task", "reactivation-call")
    assert task.recipient is None and task.text.startswith("Call Ada Lovelace on +441234567890 (ada@example.com).")
    assert "with 4 orders and £250.00 spent" in task.text
    hook = make("webhook")
    assert hook.text == "" and hook.subject is None and hook.payload == task.payload
    payload = json.loads(json.dumps(hook.payload, allow_nan=False))
    customer = payload["customer"]
    assert payload["picks"] == [{"sku": "TEA-01", "name": "Earl Grey tea"}]
    assert (payload["campaign"], payload["step"]) == ("test", 0)
    assert customer["customer_id"] == "C-7" and customer["orders"] == 4 and customer["spend"] == 250.0
    assert customer["avg_spend"] is None and customer["clv_365d"] is None and customer["first_name"] == "Ada"
    assert customer["first_purchase"] == "2024-05-14" and customer["last_purchase"] == "2026-01-05T10:30:00"
    assert "not_documented" not in customer and set(customer) == set(sample_context()["customer"])
    assert not any(isinstance(v, float) and math.isnan(v) for v in customer.values())


def test_default_templates_folder_has_only_what_campaigns_use():
    steps = {s.template for c in default_campaigns().values() for s in c.steps}
    folders = {p.name for p in DEFAULTS.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert folders == steps | {"sunset-offer"}  # sunset-offer: the [sunset] policy's template
