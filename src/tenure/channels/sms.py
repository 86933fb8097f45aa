"""SMS channel: one HTTP POST to the provider per message (Twilio's shape by default).

The request's fields come from `sms.fields`, each a small template over to, from, body, key and
customer_id, sent as JSON or as a form. 2xx is sent (provider_id from the reply's "sid" or "id");
4xx is final (a bad number stays bad); 5xx and timeouts are retried (channels/_http.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from tenure.channels import _http
from tenure.channels.base import Message, Outcome
from tenure.channels.settings import SmsSettings
from tenure.errors import ConfigError

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_SAMPLE = {"to": "+441234567890", "from": "+441000000000", "body": "Hello", "key": "k", "customer_id": "C-1"}


class SmsChannel:
    name = "sms"

    def __init__(self, settings: SmsSettings, *, token: str | None = None, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self._token = token if token is not None else os.environ.get(settings.password_env, "")
        self._client, self._own = client, client is None
        self._fields = {}
        for name, text in settings.fields.items():
            try:  # refused here, at start-up, rather than on the first message
                self._fields[name] = _ENV.from_string(text)
                self._fields[name].render(_SAMPLE)
            except TemplateError as exc:
                raise ConfigError(f"sms.fields.{name}: {exc}",
                                  fix="use only {{ to }}, {{ from }}, {{ body }}, {{ key }} and {{ customer_id }}")

    def open(self) -> None:
        _http.check_url(self.settings.url, "sms.url")
        if self.settings.auth != "none" and not self._token:
            raise ConfigError(f"sms.auth is {self.settings.auth!r} but the environment variable "
                              f"{self.settings.password_env} is not set",
                              fix=f"export {self.settings.password_env}=<the provider's token>")
        if self._client is None:
            self._client = httpx.Client(timeout=self.settings.timeout_seconds)

    def request(self, message: Message) -> dict:
        """The keyword arguments of the POST (body and auth), without sending it."""
        s = self.settings
        values = {"to": message.recipient, "from": s.from_number, "body": message.text, "key": message.key,
                  "customer_id": message.customer_id}
        fields = {name: template.render(values) for name, template in self._fields.items()}
        request: dict = {"json": fields} if s.body_format == "json" else {"data": fields}
        if s.auth == "basic":
            request["auth"] = (s.username, self._token)
        elif s.auth == "bearer":
            request["headers"] = {"Authorization": f"Bearer {self._token}"}
        return request

    def send(self, message: Message, in_flight: Callable[[], None]) -> Outcome:
        if not message.recipient:
            return Outcome("failed", "sms: the customer has no phone number")
        if self._client is None:
            self.open()
        request = self.request(message)
        in_flight()
        s = self.settings
        outcome, response = _http.post(self._client, s.url, label="sms", attempts=s.max_attempts,
                                       backoff=s.backoff_seconds, timeout=s.timeout_seconds, **request)
        if outcome.status == "sent":
            return Outcome("sent", outcome.detail, provider_id=_provider_id(response))
        return outcome

    def close(self) -> None:
        if self._own and self._client is not None:
            self._client.close()
            self._client = None


def _provider_id(response: httpx.Response) -> str | None:
    try:
        reply = response.json()
    except ValueError:
        return None
    if isinstance(reply, dict):
        for name in ("sid", "id"):
            if reply.get(name) is not None:
                return str(reply[name])
    return None
