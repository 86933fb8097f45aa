"""tenure.toml: the validated settings of a workspace, and the commented file `tenure init` writes.

Every setting is a Pydantic field with a description and a default; the template written by
`tenure init` is rendered from these fields, so it cannot drift from what is validated.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tenure.analytics.settings import (ClvSettings, CycleSettings, LifecycleSettings, RFMSettings, RFSettings,
                                      Segment, _default_segments)
from tenure.campaigns.definitions import Campaign, default_campaigns
from tenure.campaigns.settings import MessagingSettings, StoreSettings, SunsetSettings
from tenure.channels.settings import EmailSettings, SmsSettings, TaskSettings, WebhookSettings
from tenure.errors import ConfigError
from tenure.loyalty.settings import LoyaltySettings
from tenure.server.settings import ServerSettings

CONFIG_FILE = "tenure.toml"
ENTITIES = ("customers", "orders", "order_items", "events")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class WorkspaceSettings(_Section):
    timezone: str = Field(
        "UTC",
        description="IANA time zone of the shop (e.g. Europe/London). Timestamps without a zone "
        "are read in it, zoned ones are converted to it, and days end at midnight in it.",
    )
    currency: str = Field(
        "USD",
        description="ISO 4217 code given to amounts whose source names no currency.",
    )
    locale: str = Field(
        "en_US",
        description="Locale of numbers, dates and money in reports (e.g. en_GB, de_DE, fr_FR): "
        "decimal and thousands separators, the currency symbol and its place.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/London'")
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError(f"{value!r} is not a three-letter ISO 4217 code such as 'EUR'")
        return value.upper()

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        from babel import Locale, UnknownLocaleError

        try:
            return str(Locale.parse(value.replace("-", "_")))
        except (UnknownLocaleError, ValueError):
            raise ValueError(f"unknown locale {value!r}; use a name such as 'en_GB' or 'de_DE'")


class WarehouseSettings(_Section):
    backend: Literal["duckdb", "pyspark"] = Field(
        "duckdb",
        description="Analytics engine: 'duckdb' (embedded, no set-up) or 'pyspark' (Spark through Ibis; "
        "needs Java 17+ and the pyspark extra). The same analytics code runs on both.",
    )
    spark_master: str = Field(
        "local[2]",
        description="Spark master URL when backend = 'pyspark': local[N] on one machine, or a cluster "
        "such as spark://host:7077.",
    )
    path: str = Field(
        "warehouse.duckdb",
        description="The DuckDB warehouse file, relative to the workspace folder.",
    )


class IngestSettings(_Section):
    max_quarantine_share: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="Largest share of input rows an ingest may quarantine. Above it the load is "
        "rolled back (the rejected rows are still written to quarantine/) and the command exits 2.",
    )
    mapping: dict[Literal["customers", "orders", "order_items", "events"], dict[str, str]] = Field(
        default_factory=dict,
        description="Column mappings for the generic preset, one table per entity: "
        "canonical field = source column. `--map` on the command line wins over these.",
        json_schema_extra={
            "example": '[ingest.mapping.orders]\norder_id = "OrderNumber"\nordered_at = "Created"'
        },
    )


class Settings(_Section):
    workspace: WorkspaceSettings = Field(default_factory=WorkspaceSettings)
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    cycle: CycleSettings = Field(default_factory=CycleSettings)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)
    rf: RFSettings = Field(default_factory=RFSettings)
    rfm: RFMSettings = Field(default_factory=RFMSettings)
    clv: ClvSettings = Field(default_factory=ClvSettings)
    segments: dict[str, Segment] = Field(
        default_factory=_default_segments,
        description="Custom segments: [segments.NAME] with a `rule` in the rule language and a "
        "`description`; each becomes a true/false column of the snapshot.",
    )
    store: StoreSettings = Field(default_factory=StoreSettings)
    messaging: MessagingSettings = Field(default_factory=MessagingSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
    sunset: SunsetSettings = Field(default_factory=SunsetSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    loyalty: LoyaltySettings = Field(default_factory=LoyaltySettings)
    campaigns: dict[str, Campaign] = Field(
        default_factory=default_campaigns,
        description="Campaigns: [campaigns.NAME] with a trigger, steps, conversion window, holdout share, "
        "priority and re-entry rule (docs/campaigns.md). The RF ladder's seven rungs, welcome, anniversary "
        "and reactivation ship off; set enabled = true to run one.",
    )

    @model_validator(mode="after")
    def _campaign_triggers(self) -> Settings:
        from tenure.campaigns.validate import trigger_problem

        if "sunset" in self.campaigns:
            raise ValueError("campaigns.sunset: the name is the sunset policy's own (see [sunset]); choose another")
        for name, campaign in self.campaigns.items():
            problem = trigger_problem(campaign.trigger, self)
            if problem:
                raise ValueError(f"campaigns.{name}.trigger: {problem}")
        return self


def load_settings(path: Path) -> Settings:
    """Read and validate tenure.toml; errors name the file, the field and the problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} not found", fix="run `tenure init` to create a workspace")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (see docs/configuration.md for the settings there are)"
        raise ConfigError(f"{path}: {field}: {msg}" if field else f"{path}: {msg}")


def setting_names(model: type[BaseModel] = Settings, prefix: str = "") -> list[str]:
    """Dotted names of every documented setting, e.g. 'ingest.max_quarantine_share'."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            names += setting_names(sub, f"{prefix}{name}.")
        else:
            names.append(f"{prefix}{name}")
    return names


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML rendering for {value!r}")


def _key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else _toml_value(name)


def _scalars(model: BaseModel, lines: list[str], documented: bool = True, inline: bool = False) -> None:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if inline and isinstance(value, BaseModel):  # a campaign's trigger: an inline table
            value = value.model_dump(exclude_none=True)
        elif inline and isinstance(value, list) and value and isinstance(value[0], BaseModel):
            value = [v.model_dump() for v in value]  # a campaign's steps: an array of inline tables
        elif _is_table(value):
            continue
        if value is None:  # an optional setting left empty: shown commented out
            if documented and field.description:
                lines += [f"# {ln}" for ln in _wrap(field.description)]
            lines += [f"# {_key(name)} = ", ""] if documented else []
            continue
        if documented and field.description:
            lines += [f"# {ln}" for ln in _wrap(field.description)]
        lines.append(f"{_key(name)} = {_toml_value(value)}")
        if documented:
            lines.append("")


def _is_table(value: object) -> bool:
    return (isinstance(value, BaseModel)
            or (isinstance(value, list) and value and isinstance(value[0], BaseModel))
            or (isinstance(value, dict) and (not value or any(isinstance(v, (BaseModel, dict)) for v in value.values()))))


def render_template(settings: Settings | None = None) -> str:
    """The commented tenure.toml: every setting with its description and its value."""
    settings = settings or Settings()
    lines = [
        "# tenure.toml: the settings of this Tenure workspace.",
        "# Every setting is listed with its default; docs/configuration.md explains each one.",
        "",
    ]
    for section, field in Settings.model_fields.items():
        value = getattr(settings, section)
        if isinstance(value, dict):  # [segments.NAME] tables
            lines += [f"# {ln}" for ln in _wrap(field.description or "")]
            for key, item in value.items():
                lines.append(f"[{section}.{_key(key)}]")
                _scalars(item, lines, documented=False, inline=True)
                lines.append("")
            continue
        lines.append(f"[{section}]")
        _scalars(value, lines)
        for name, sub in type(value).model_fields.items():
            item = getattr(value, name)
            doc = [f"# {ln}" for ln in _wrap(sub.description or "")]
            if isinstance(item, list) and item and isinstance(item[0], BaseModel):
                lines += doc
                for entry in item:
                    lines.append(f"[[{section}.{name}]]")
                    _scalars(entry, lines, documented=False)
                lines.append("")
            elif isinstance(item, BaseModel):  # a sub-table such as [loyalty.membership_events]
                lines += doc
                lines.append(f"[{section}.{name}]")
                _scalars(item, lines, documented=False)
                lines.append("")
            elif isinstance(item, dict) and item and all(isinstance(v, BaseModel) for v in item.values()):
                lines += doc  # named sub-tables such as [loyalty.rewards.NAME]
                for key, entry in item.items():
                    lines.append(f"[{section}.{name}.{_key(key)}]")
                    _scalars(entry, lines, documented=False)
                    lines.append("")
            elif isinstance(item, dict) and not item:
                example = (sub.json_schema_extra or {}).get("example", "")
                lines += ["", *doc, "# Example:", *[f"# {ln}" for ln in str(example).splitlines()], ""]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _wrap(text: str, width: int = 96) -> list[str]:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return out + ([line] if line else [])
