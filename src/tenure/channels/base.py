"""The shape every channel has: a `Message` in, an `Outcome` out.

A channel is one file (email, sms, webhook, task) with a class that has `name`, `open()`,
`send(message, in_flight)` and `close()`. `in_flight` is called right before the step that cannot
be taken back (SMTP DATA, the HTTP request): the dispatcher records it, so that after a crash it
knows which single message may or may not have reached the provider (docs/campaigns.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class Message:
    key: str                       # idempotency key: hash of (campaign, customer, entry date, step)
    campaign: str
    step: int                      # 0-based index of the campaign's step
    customer_id: str
    channel: str                   # email | sms | webhook | task
    recipient: str | None          # email address or phone number; None for webhook and task
    subject: str | None            # email subject
    text: str                      # plain text: email text part, SMS body, task description
    html: str | None = None        # email HTML part
    headers: dict[str, str] = field(default_factory=dict)  # extra email headers (List-Unsubscribe, ...)
    payload: dict = field(default_factory=dict)            # JSON-able facts for webhook and task
    due_on: dt.date | None = None


@dataclass(frozen=True)
class Outcome:
    # sent: the provider accepted it. failed: it never will (4xx, bad address): not retried.
    # retry: a transient failure (5xx, timeout, connection refused): tried again on a later run.
    # unknown: the connection broke after the message was handed over: it may have arrived.
    status: Literal["sent", "failed", "retry", "unknown"]
    detail: str = ""
    provider_id: str | None = None


class Channel(Protocol):
    name: str

    def open(self) -> None: ...

    def send(self, message: Message, in_flight: Callable[[], None]) -> Outcome: ...

    def close(self) -> None: ...
