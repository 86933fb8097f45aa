"""Settings of the operational store, message dispatch and the sunset policy."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class StoreSettings(_Section):
    url: str = Field(
        "", description="The operational store (enrollments, outbox, consents, tasks, run log). Empty: "
        "store.sqlite in the workspace (SQLite, WAL). Production: postgresql+psycopg://user@host/db. "
        "$TENURE_STORE_URL wins over this, so a password need not be written here.")


class MessagingSettings(_Section):
    public_url: str = Field(
        "", description="Public base URL of `tenure serve` (e.g. https://crm.example.com). When set, emails "
        "get tracked links, an open pixel and one-click unsubscribe links; empty: none of these.")
    quiet_hours: str = Field(
        "21:00-08:00", description="No email or SMS is sent in these hours of the customer's time zone "
        "(customers.timezone, else workspace.timezone); they wait for the end. Empty: no quiet hours.")
    frequency_cap: int = Field(
        2, ge=0, description="At most this many marketing messages to one customer per "
        "frequency_cap_days, across channels; the rest are logged as capped, not sent. 0: no cap.")
    frequency_cap_days: int = Field(7, ge=1, description="The window of the frequency cap, in days.")
    max_lateness_days: int = Field(
        1, ge=0, description="A message more than this many days past its due day is expired, never sent "
        "(so a backfill over past days sends nothing old).")
    batch_size: int = Field(100, ge=1, le=10000, description="Messages claimed by a dispatcher at a time.")
    lease_minutes: int = Field(
        15, ge=1, description="Claims of a dispatcher on another machine that stopped answering are "
        "released after this (a dead one on this machine is noticed at once).")
    max_attempts: int = Field(5, ge=1, description="Sends of one message before a transient failure becomes final.")
    retry_minutes: int = Field(10, ge=1, description="Wait before a message that failed transiently is tried again "
                               "(doubling with each attempt).")
    resend_unknown: bool = Field(
        False, description="A message whose send was in flight when its dispatcher was killed may or may not "
        "have arrived. false: mark it unknown and never resend (at most once); true: send it again with the "
        "same Message-ID (at least once). docs/campaigns.md explains.")
    picks: int = Field(3, ge=0, le=20, description="Personal product picks given to templates.")

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if value and not _HOURS.match(value):
            raise ValueError(f"{value!r} is not a span of hours such as '21:00-08:00'")
        return value


class SunsetSettings(_Section):
    enabled: bool = Field(False, description="Run the sunset policy (DOMAIN.md) in every `tenure run`.")
    inactive_days: int = Field(365, ge=1, description="Contacts with no email open or click for this many days "
                               "(and consent to email) get one reactivation offer.")
    reaction_days: int = Field(30, ge=1, description="Those who neither open, click nor buy within this many days "
                               "of the offer are suppressed for marketing; those who do go back to the normal flow.")
    template: str = Field("sunset-offer", description="Template of the offer (an email).")
