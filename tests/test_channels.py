"""The four channels against real servers: aiosmtpd for SMTP, http.server for SMS and webhooks."""

from __future__ import annotations

import base64
import datetime as dt
import json
from urllib.parse import parse_qs

import pytest

from tenure.campaigns.compose import compose
from tenure.campaigns.definitions import Campaign, Step, Trigger
from tenure.campaigns.templates import Templates
from tenure.channels import CHANNEL_NAMES
from tenure.channels.base import Message
from tenure.channels.email import EmailChannel
from tenure.channels.settings import EmailSettings, SmsSettings, TaskSettings, WebhookSettings
from tenure.channels.sms import SmsChannel
from tenure.channels.task import TaskChannel
from tenure.channels.webhook import WebhookChannel, encode, verify_signature
from tenure.errors import ConfigError, TenureError
from tests.servers import Certs, HttpSink, Reply, SmtpSink, free_port

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.timezone.utc)
SECRET = "workspace-secret"
CUSTOMER = {"customer_id": "C-7", "name": "Ada Lovelace", "email": "ada@example.com", "phone": "+441234567890",
            "orders": 4, "spend": 250.0, "last_purchase": dt.date(2026, 1, 5)}


class Flight:
    """An in_flight callback that counts its calls and can run a check at the moment it is called."""

    def __init__(self, check=None) -> None:
        self.calls, self.check = 0, check

    def __call__(self) -> None:
        self.calls += 1
        if self.check:
            self.check()


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    return Certs(tmp_path_factory.mktemp("certs"))


def message(key: str = "k1", *, recipient: str | None = "ada@example.com", channel: str = "email", **kw) -> Message:
    fields = dict(key=key, campaign="rf-loyal", step=0, customer_id="C-7", channel=channel, recipient=recipient,
                  subject="Hello", text="Plain text body", html=None, due_on=dt.date(2026, 3, 1))
    return Message(**{**fields, **kw})


def email_message(key: str, *, public_url: str) -> Message:
    campaign = Campaign(trigger=Trigger(rf="loyal"), steps=[Step(offset_days=0, template="rf-loyal-1")])
    return compose(key=key, campaign_name="rf-loyal", campaign=campaign, step_index=0, customer=CUSTOMER,
                   picks=[{"sku": "TEA-01", "name": "Earl Grey tea"}], due_on=dt.date(2026, 3, 1), currency="GBP",
                   templates=Templates(), public_url=public_url, secret=SECRET,
                   unsubscribe_mailto="unsubscribe@example.com")


def smtp(sink: SmtpSink, **kw) -> EmailSettings:
    return EmailSettings(host="127.0.0.1", port=sink.port, **{"security": "none", **kw})


def test_channel_names_and_shape():
    assert CHANNEL_NAMES == ("email", "sms", "webhook", "task")
    for cls, name in ((EmailChannel, "email"), (SmsChannel, "sms"), (WebhookChannel, "webhook"), (TaskChannel, "task")):
        assert cls.name == name and all(callable(getattr(cls, m)) for m in ("open", "send", "close"))


def test_settings_have_defaults_and_descriptions():
    for section in (EmailSettings, SmsSettings, WebhookSettings, TaskSettings):
        assert section() == section.model_validate({})
        for name, field in section.model_fields.items():
            assert field.description, f"{section.__name__}.{name} has no description"
    with pytest.raises(ValueError, match="security"):
        EmailSettings(security="ssl")
    with pytest.raises(ValueError, match="extra"):
        SmsSettings(token="never in tenure.toml")


# --- email -------------------------------------------------------------------------------------

def test_email_is_multipart_with_headers_from_the_key(tmp_path):
    with SmtpSink() as sink:
        channel = EmailChannel(smtp(sink, from_name="Example Shop", reply_to="help@example.com"), clock=lambda: NOW)
        channel.open()
        flight = Flight()
        tracked = email_message("key-one", public_url="https://crm.example.com")
        plain = email_message("key-two", public_url="")
        first, second = channel.send(tracked, flight), channel.send(plain, flight)
        channel.close()
        got = sink.messages
    assert (first.status, second.status) == ("sent", "sent") and flight.calls == 2
    assert first.provider_id == "<key-one@example.com>" and sink.message_ids() == [
        "<key-one@example.com>", "<key-two@example.com>"]
    assert got[0].session == got[1].session  # one connection for the batch
    msg = got[0].message
    assert msg["From"] == "Example Shop <shop@example.com>" and msg["To"] == "ada@example.com"
    assert msg["Reply-To"] == "help@example.com" and msg["Subject"] == "Thank you for being one of our regulars"
    assert msg["Date"] == "Sun, 01 Mar 2026 09:30:00 +0000"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = (part.get_content().replace("\r\n", "\n") for part in msg.iter_parts())
    assert text.startswith("Hi Ada,\n") and "You have ordered from us 4 times" in text and "- Earl Grey tea" in text
    assert "<li>Earl Grey tea</li>" in html and 'src="https://crm.example.com/t/o/' in html
    unsubscribe = msg["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://crm.example.com/u/") and "<mailto:unsubscribe@example.com" in unsubscribe
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe.split(">")[0][1:] in text  # the same link in the footer
    bare = got[1].message
    assert bare["List-Unsubscribe"] == "<mailto:unsubscribe@example.com?subject=unsubscribe>"
    assert bare["List-Unsubscribe-Post"] is None and "/t/o/" not in bare.get_body(("html",)).get_content()


def test_email_text_only_when_no_html():
    with SmtpSink() as sink:
        channel = EmailChannel(smtp(sink))
        assert channel.send(message(text="Just text, ünïcode too"), Flight()).status == "sent"
        channel.close()
        msg = sink.messages[0].message
    assert msg.get_content_type() == "text/plain" and msg.get_content().strip() == "Just text, ünïcode too"
    assert msg["From"] == "shop@example.com" and msg["Reply-To"] is None


def test_starttls_with_login(certs):
    with SmtpSink(tls_context=certs.server_context, require_starttls=True, auth=("shop", "s3cret")) as sink:
        settings = smtp(sink, security="starttls", username="shop", ca_file=str(certs.ca_file))
        channel = EmailChannel(settings, password="s3cret")
        channel.open()
        assert channel.send(message(), Flight()).status == "sent"
        channel.close()
        with pytest.raises(ConfigError, match="refused the login of 'shop'"):
            EmailChannel(settings, password="wrong").open()
        with pytest.raises(ConfigError, match="certificate .* is not trusted"):
            EmailChannel(smtp(sink, security="starttls"), password="s3cret").open()
        got = sink.messages
    assert len(got) == 1 and got[0].tls and got[0].login == "shop"


def test_starttls_refuses_clear_text(monkeypatch):
    with SmtpSink() as sink:  # a server that offers no STARTTLS
        with pytest.raises(ConfigError, match="does not offer STARTTLS; nothing is sent in clear text"):
            EmailChannel(smtp(sink, security="starttls")).open()
        monkeypatch.delenv("TENURE_SMTP_PASSWORD", raising=False)
        with pytest.raises(ConfigError, match="TENURE_SMTP_PASSWORD is not"):
            EmailChannel(smtp(sink, username="shop")).open()
        assert sink.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd cannot see implicit TLS
def test_implicit_tls_with_login(certs):
    with SmtpSink(tls_context=certs.server_context, auth=("shop", "s3cret")) as sink:
        settings = smtp(sink, security="tls", username="shop", ca_file=str(certs.ca_file))
        channel = EmailChannel(settings, password="s3cret")
        assert channel.send(message(), Flight()).status == "sent"
        channel.close()
        got = sink.messages
    assert got[0].tls and got[0].login == "shop" and got[0].message["Message-ID"] == "<k1@example.com>"


def test_smtp_replies_map_to_outcomes():
    with SmtpSink() as sink:
        channel = EmailChannel(smtp(sink))

        def rcpt_accepted_nothing_delivered():
            assert sink.events[-1:] == [("rcpt", "ada@example.com")], "in_flight before RCPT succeeded"

        after_rcpt = Flight(rcpt_accepted_nothing_delivered)
        sink.fail_next("550 5.1.1 no such user", at="rcpt")
        refused = channel.send(message("a"), after_rcpt)
        assert refused.status == "failed" and "RCPT TO: 550" in refused.detail and after_rcpt.calls == 0
        sink.fail_next("451 4.3.0 try later", at="data")
        later = channel.send(message("b"), after_rcpt)
        assert later.status == "retry" and "DATA: 451" in later.detail and after_rcpt.calls == 1
        sink.fail_next("554 5.6.0 content refused", at="data")
        bad = channel.send(message("c"), after_rcpt)
        assert bad.status == "failed" and bad.provider_id is None and after_rcpt.calls == 2
        sink.fail_next("452 4.2.2 mailbox full", at="rcpt")
        assert channel.send(message("d"), after_rcpt).status == "retry" and after_rcpt.calls == 2
        ok = channel.send(message("e"), after_rcpt)  # the same connection still serves after refusals
        channel.close()
        assert ok.status == "sent" and after_rcpt.calls == 3
        assert sink.message_ids() == ["<e@example.com>"]
        assert len({m.session for m in sink.messages}) == 1


def test_a_refused_sender_is_a_setting_error():
    with SmtpSink(fail_with="553 5.7.1 sender not owned by user", fail_at="mail") as sink:
        flight = Flight()
        with pytest.raises(ConfigError, match="refuses the sender shop@example.com: 553"):
            EmailChannel(smtp(sink)).send(message(), flight)
        assert flight.calls == 0 and sink.messages == []
        sink.fail_next("421 4.3.2 shutting down", at="mail")
        assert EmailChannel(smtp(sink)).send(message(), flight).status == "retry" and flight.calls == 0


def test_reconnects_once_after_a_dropped_connection():
    with SmtpSink() as sink:
        channel = EmailChannel(smtp(sink))
        channel.open()
        assert channel.send(message("a"), Flight()).status == "sent"
        sink.restart()  # drops the open connection
        flight = Flight()
        assert channel.send(message("b"), flight).status == "sent" and flight.calls == 1
        channel.close()
        sessions = [m.session for m in sink.messages]
    assert sink.message_ids() == ["<a@example.com>", "<b@example.com>"] and sessions[0] != sessions[1]


def test_non_ascii_subject_name_and_body_arrive_intact():
    with SmtpSink() as sink:
        channel = EmailChannel(smtp(sink, from_name="Café Zoë"))
        channel.open()
        sent = channel.send(message("u", subject="Grüße, Zoë ☕ – a long subject " * 3,
                                    text="Prix : 12,50 € — merci !\n" * 40, html="<p>Grüße ☕</p>"), Flight())
        channel.close()
    got = sink.messages[0].message
    assert sent.status == "sent"
    assert str(got["Subject"]) == "Grüße, Zoë ☕ – a long subject " * 3
    assert got["From"].addresses[0].display_name == "Café Zoë"
    # Quoted-printable on the wire keeps the wire's CRLF line ends in the decoded text.
    assert got.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Prix : 12,50 € — merci !\n" * 40
    assert got.get_body(("html",)).get_content().strip() == "<p>Grüße ☕</p>"
    assert max(len(line) for line in sink.messages[0].raw.split(b"\r\n")) <= 998


class HangUpSink(SmtpSink):
    """Takes the message, then drops the line instead of answering 250: the client cannot know."""

    async def handle_DATA(self, server, session, envelope):
        await super().handle_DATA(server, session, envelope)
        server.transport.close()
        return "250 OK"  # never reaches the client


def test_a_line_lost_during_data_is_unknown_not_retried():
    with HangUpSink() as sink:
        channel = EmailChannel(smtp(sink))
        channel.open()
        flight = Flight()
        outcome = channel.send(message("a"), flight)
        channel.close()
    # The server has it, the client saw no reply: resending could duplicate it.
    assert outcome.status == "unknown" and "lost during DATA" in outcome.detail
    assert flight.calls == 1 and sink.message_ids() == ["<a@example.com>"]


def test_unreachable_server():
    settings = EmailSettings(host="127.0.0.1", port=free_port(), security="none", timeout_seconds=2)
    with pytest.raises(TenureError, match="cannot reach the SMTP server at 127.0.0.1"):
        EmailChannel(settings).open()
    flight = Flight()
    outcome = EmailChannel(settings).send(message(), flight)
    assert outcome.status == "retry" and "failed twice" in outcome.detail and flight.calls == 0
    assert EmailChannel(settings).send(message(recipient=None), flight).status == "failed"


def test_bad_addresses_and_headers_fail_before_connecting():
    channel, flight = EmailChannel(EmailSettings(host="127.0.0.1", port=free_port(), security="none")), Flight()
    assert "not an ASCII address" in channel.send(message(recipient="adä@example.com"), flight).detail
    injected = channel.send(message(subject="Hi\r\nBcc: everyone@example.com"), flight)
    assert injected.status == "failed" and "line break" in injected.detail and flight.calls == 0


# --- sms -------------------------------------------------------------------------------------

def test_sms_twilio_form_with_basic_auth():
    twilio = {"sid": "SM0123", "status": "queued"}
    with HttpSink([Reply(201, twilio)]) as sink:
        settings = SmsSettings(url=f"{sink.url}/2010-04-01/Accounts/AC42/Messages.json", auth="basic",
                               username="AC42", from_number="+15005550006", body_format="form")
        channel = SmsChannel(settings, token="tok")
        flight = Flight()
        outcome = channel.send(message(recipient="+441234567890", channel="sms", text="Hi Ada, 15% off"), flight)
        channel.close()
        (request,) = sink.requests
    assert outcome.status == "sent" and outcome.provider_id == "SM0123" and flight.calls == 1
    assert request.method == "POST" and request.path == "/2010-04-01/Accounts/AC42/Messages.json"
    assert request.header("Authorization") == "Basic " + base64.b64encode(b"AC42:tok").decode()
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {"To": ["+441234567890"], "From": ["+15005550006"],
                                               "Body": ["Hi Ada, 15% off"]}


def test_sms_json_with_bearer_and_custom_fields():
    with HttpSink([Reply(200, {"id": 981})]) as sink:
        settings = SmsSettings(url=sink.url + "/send", auth="bearer", body_format="json",
                               fields={"recipient": "{{ to }}", "text": "{{ body }}",
                                       "ref": "{{ key }}-{{ customer_id }}"})
        outcome = SmsChannel(settings, token="abc").send(message("k9", recipient="+33600000000", channel="sms",
                                                                   text="Bonjour"), Flight())
        (request,) = sink.requests
    assert outcome.status == "sent" and outcome.provider_id == "981"
    assert request.header("Authorization") == "Bearer abc"
    assert request.json() == {"recipient": "+33600000000", "text": "Bonjour", "ref": "k9-C-7"}


def test_sms_retries_5xx_but_not_4xx():
    sms = message(recipient="+441234567890", channel="sms")
    with HttpSink([503, 503, Reply(201, {"sid": "SM1"})]) as sink:
        settings = SmsSettings(url=sink.url, backoff_seconds=0.01)
        outcome = SmsChannel(settings).send(sms, Flight())
        assert outcome.status == "sent" and len(sink.requests) == 3 and "after 3 attempt" in outcome.detail
    with HttpSink([Reply(400, {"message": "The 'To' number is not a valid phone number."})]) as sink:
        flight = Flight()
        outcome = SmsChannel(SmsSettings(url=sink.url, backoff_seconds=0.01)).send(sms, flight)
        assert outcome.status == "failed" and len(sink.requests) == 1 and flight.calls == 1
        assert "400" in outcome.detail and "not a valid phone number" in outcome.detail
    with HttpSink(default=502) as sink:
        outcome = SmsChannel(SmsSettings(url=sink.url, backoff_seconds=0.01, max_attempts=3)).send(sms, Flight())
        assert outcome.status == "retry" and len(sink.requests) == 3 and "502" in outcome.detail


def test_sms_refusals(monkeypatch):
    flight = Flight()
    assert SmsChannel(SmsSettings(url="http://127.0.0.1:9")).send(message(recipient=None, channel="sms"),
                                                                  flight).status == "failed"
    assert flight.calls == 0
    with pytest.raises(ConfigError, match="sms.fields.Body"):
        SmsChannel(SmsSettings(fields={"Body": "{{ bodyy }}"}))
    monkeypatch.delenv("TENURE_SMS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="TENURE_SMS_TOKEN is not set"):
        SmsChannel(SmsSettings(url="https://api.example.com", auth="basic")).open()
    with pytest.raises(ConfigError, match="sms.url"):
        SmsChannel(SmsSettings()).open()


# --- webhook -----------------------------------------------------------------------------------

def hook(url: str, **kw) -> WebhookChannel:
    return WebhookChannel(WebhookSettings(url=url, backoff_seconds=0.01, **kw), secret="hook-key", clock=lambda: NOW)


def test_webhook_body_and_signature():
    payload = {"customer": {"customer_id": "C-7", "spend": 12.5, "last_purchase": "2026-01-05"}, "picks": []}
    with HttpSink() as sink:
        channel = hook(sink.url + "/in")
        flight = Flight()
        outcome = channel.send(message("k5", recipient=None, channel="webhook", payload=payload), flight)
        channel.close()
        (request,) = sink.requests
    expected = {**payload, "key": "k5", "campaign": "rf-loyal", "step": 0, "customer_id": "C-7",
                "sent_at": "2026-03-01T09:30:00+00:00"}
    assert outcome.status == "sent" and flight.calls == 1 and request.path == "/in"
    assert request.body == encode(expected) and request.json() == expected
    assert request.body.index(b'"campaign"') < request.body.index(b'"customer"')  # sorted keys
    signature = request.header("X-Tenure-Signature")
    assert signature.startswith("sha256=") and verify_signature("hook-key", request.body, signature)
    assert not verify_signature("hook-key", request.body.replace(b"12.5", b"99.5"), signature)
    assert not verify_signature("other-key", request.body, signature)
    assert request.header("X-Tenure-Key") == "k5"


def test_webhook_retries():
    with HttpSink([503, 503, 200]) as sink:
        flight = Flight()
        outcome = hook(sink.url).send(message(channel="webhook"), flight)
        bodies = {r.body for r in sink.requests}
        signatures = {r.header("X-Tenure-Signature") for r in sink.requests}
        assert outcome.status == "sent" and len(sink.requests) == 3 and flight.calls == 1
        assert len(bodies) == 1 and len(signatures) == 1  # the same bytes each time
    with HttpSink([400, 200]) as sink:
        outcome = hook(sink.url).send(message(channel="webhook"), Flight())
        assert outcome.status == "failed" and len(sink.requests) == 1
    with HttpSink(default=500) as sink:
        outcome = hook(sink.url, max_attempts=4).send(message(channel="webhook"), Flight())
        assert outcome.status == "retry" and len(sink.requests) == 4 and "after 4 attempt" in outcome.detail


def test_webhook_timeout_and_refused_connection_are_retried():
    with HttpSink([Reply(200, delay=0.6), 200]) as sink:
        outcome = hook(sink.url, timeout_seconds=0.2).send(message(channel="webhook"), Flight())
        assert outcome.status == "sent" and len(sink.requests) == 2 and "after 2 attempt" in outcome.detail
    outcome = hook(f"http://127.0.0.1:{free_port()}", max_attempts=2).send(message(channel="webhook"), Flight())
    assert outcome.status == "retry" and "ConnectError" in outcome.detail


def test_webhook_needs_its_secret(monkeypatch):
    monkeypatch.delenv("TENURE_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="TENURE_WEBHOOK_SECRET holding the signing key is not set"):
        WebhookChannel(WebhookSettings(url="https://hooks.example.com")).open()
    monkeypatch.setenv("TENURE_WEBHOOK_SECRET", "from-env")
    with HttpSink() as sink:
        WebhookChannel(WebhookSettings(url=sink.url)).send(message(channel="webhook"), Flight())
        (request,) = sink.requests
    assert verify_signature("from-env", request.body, request.header("X-Tenure-Signature"))


# --- task -------------------------------------------------------------------------------------

def test_task_is_inserted_once():
    stored: dict[str, dict] = {}

    def insert(task: dict) -> bool:
        if task["outbox_key"] in stored:
            return False
        stored[task["outbox_key"]] = task
        return True

    channel = TaskChannel(insert_task=insert, settings=TaskSettings())
    channel.open()
    call = message("t1", recipient=None, channel="task", text="Call Ada about her order")
    flight = Flight()
    first, again = channel.send(call, flight), channel.send(call, flight)
    channel.close()
    assert stored == {"t1": {"outbox_key": "t1", "customer_id": "C-7", "campaign": "rf-loyal",
                             "action": "Call Ada about her order", "due_on": dt.date(2026, 3, 1)}}
    assert (first.status, again.status) == ("sent", "sent") and flight.calls == 2
    assert first.detail == "task created" and again.detail == "task already existed"


def test_task_is_posted_signed_when_a_webhook_is_set():
    inserted = []
    with HttpSink([200, 503, 503]) as sink:
        channel = TaskChannel(insert_task=lambda t: inserted.append(t) or True,
                              settings=TaskSettings(webhook_url=sink.url + "/tasks"), secret="task-key",
                              webhook=WebhookSettings(backoff_seconds=0.01, max_attempts=2))
        flight = Flight()
        sent = channel.send(message("t2", recipient=None, channel="task", text="Call Ada"), flight)
        later = channel.send(message("t3", recipient=None, channel="task", text="Call Bob"), flight)
        channel.close()
        first = sink.requests[0]
    assert sent.status == "sent" and flight.calls == 2 and len(inserted) == 2
    assert later.status == "retry" and "task created" in later.detail and len(sink.requests) == 3
    assert first.path == "/tasks" and first.header("X-Tenure-Key") == "t2"
    assert verify_signature("task-key", first.body, first.header("X-Tenure-Signature"))
    assert json.loads(first.body) == {"outbox_key": "t2", "customer_id": "C-7", "campaign": "rf-loyal",
                                      "action": "Call Ada", "due_on": "2026-03-01"}
