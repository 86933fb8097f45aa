"""Webhook channel: a signed JSON POST per message.

The body is the message's payload plus key, campaign, step (0-based, as in the outbox),
customer_id and sent_at, serialised once with sorted keys. Headers: `X-Tenure-Signature:
sha256=<hex HMAC-SHA256 of the exact body bytes>` (the header name is a setting) and
`X-Tenure-Key: <key>`, the idempotency key a receiver uses to ignore a repeated delivery.
A receiver checks the signature with `verify_signature(secret, body, header)`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Callable

import httpx

from tenure.channels import _http
from tenure.channels.base import Message, Outcome
from tenure.channels.settings import WebhookSettings
from tenure.errors import ConfigError


def _default(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(data: dict) -> bytes:
    """The one serialisation that is signed and sent: sorted keys, no NaN, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_default).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """True when `header` is the signature of exactly these body bytes (constant-time compare)."""
    return hmac.compare_digest(signature(secret, body).encode(), (header or "").strip().encode())


class WebhookChannel:
    name = "webhook"

    def __init__(self, settings: WebhookSettings, *, secret: str | None = None, client: httpx.Client | None = None,
                 clock: Callable[[], dt.datetime] | None = None, setting: str = "webhook") -> None:
        self.settings = settings
        self._secret = secret if secret is not None else os.environ.get(settings.secret_env, "")
        self._client, self._own = client, client is None
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._setting = setting  # the section named in errors: "webhook", or "tasks" for task POSTs

    def open(self) -> None:
        _http.check_url(self.settings.url, f"{self._setting}.url")
        if not self._secret:
            raise ConfigError(f"{self._setting}: the environment variable {self.settings.secret_env} holding the "
                              "signing key is not set",
                              fix=f"export {self.settings.secret_env}=<a long random string shared with the receiver>")
        if self._client is None:
            self._client = httpx.Client(timeout=self.settings.timeout_seconds)

    def send(self, message: Message, in_flight: Callable[[], None]) -> Outcome:
        data = {**message.payload, "key": message.key, "campaign": message.campaign, "step": message.step,
                "customer_id": message.customer_id,
                "sent_at": self._clock().isoformat(timespec="seconds")}
        return self.post(data, key=message.key, in_flight=in_flight)

    def post(self, data: dict, *, key: str, in_flight: Callable[[], None] | None = None) -> Outcome:
        """POST `data` signed, with retries; `in_flight` is called once, before the first try."""
        if self._client is None:
            self.open()
        body = encode(data)
        headers = {"Content-Type": "application/json", "X-Tenure-Key": key,
                   self.settings.signature_header: signature(self._secret, body)}
        if in_flight is not None:
            in_flight()
        outcome, _ = _http.post(self._client, self.settings.url, label=self._setting, content=body, headers=headers,
                                timeout=self.settings.timeout_seconds,
                                attempts=self.settings.max_attempts, backoff=self.settings.backoff_seconds)
        return Outcome(outcome.status, outcome.detail, provider_id=key if outcome.status == "sent" else None)

    def close(self) -> None:
        if self._own and self._client is not None:
            self._client.close()
            self._client = None
