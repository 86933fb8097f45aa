"""Task channel: a task for a manager (call the customer, send a personal note).

The task is a row of the operational store, written by the dispatcher's `insert_task` (which
returns False when a task with that outbox key exists: a repeat after a crash, still "sent").
With `tasks.webhook_url` set, each task is also POSTed there, signed exactly like a webhook
(the webhook channel's code), so a helpdesk or chat can show it; the receiver dedups on
X-Tenure-Key.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tenure.channels.base import Message, Outcome
from tenure.channels.settings import TaskSettings, WebhookSettings
from tenure.channels.webhook import WebhookChannel


class TaskChannel:
    name = "task"

    def __init__(self, *, insert_task: Callable[[dict], bool], settings: TaskSettings, secret: str | None = None,
                 client: httpx.Client | None = None, webhook: WebhookSettings | None = None) -> None:
        """`webhook`: the [webhook] section, whose timeout, retries and signature header task POSTs share."""
        self._insert = insert_task
        self._hook = None
        if settings.webhook_url:
            hook = (webhook or WebhookSettings()).model_copy(
                update={"url": settings.webhook_url, "secret_env": settings.secret_env})
            self._hook = WebhookChannel(hook, secret=secret, client=client, setting="tasks")

    def open(self) -> None:
        if self._hook is not None:
            self._hook.open()

    def send(self, message: Message, in_flight: Callable[[], None]) -> Outcome:
        task = {"outbox_key": message.key, "customer_id": message.customer_id, "campaign": message.campaign,
                "action": message.text, "due_on": message.due_on}
        in_flight()
        created = self._insert(dict(task))
        stored = "task created" if created else "task already existed"
        if self._hook is None:
            return Outcome("sent", stored, provider_id=message.key)
        # Posted even when the task already existed: the earlier try may have stored it and then
        # failed to notify. A refused POST (4xx) does not undo the task, which is what matters.
        posted = self._hook.post(task, key=message.key)
        if posted.status == "retry":
            return Outcome("retry", f"{stored}; {posted.detail}")
        return Outcome("sent", f"{stored}; {posted.detail}", provider_id=message.key)

    def close(self) -> None:
        if self._hook is not None:
            self._hook.close()
