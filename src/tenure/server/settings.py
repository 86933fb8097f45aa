"""Settings of `tenure serve`: where it listens, its schedule, sessions and batches."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    host: str = Field("127.0.0.1", description="Address `tenure serve` listens on (0.0.0.0: every "
                      "interface; put it behind an HTTPS reverse proxy).")
    port: int = Field(8484, ge=1, le=65535, description="Port `tenure serve` listens on.")
    schedule: str = Field(
        "", description="When the daily pipeline runs by itself (load the ingest API's items, snapshot, "
        "campaigns, dispatch), as a cron expression in the workspace time zone, e.g. \"0 6 * * *\". Empty: "
        "only runs started by hand or by POST /v1/runs. `tenure serve --schedule` overrides it.")
    secure_cookies: bool = Field(
        False, description="Mark the dashboard's session cookie Secure (sent over HTTPS only). Turn on "
        "when the server is reached through HTTPS, as it should be anywhere but on localhost.")
    session_hours: int = Field(12, ge=1, le=24 * 30, description="A dashboard login lasts this long.")
    page_size: int = Field(100, ge=1, le=10_000, description="Default page size of the API's member lists.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from tenure.server.schedule import parse_cron

        if value.strip():
            parse_cron(value)
        return value.strip()
