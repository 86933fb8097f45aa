"""What one ingest did: rows and units (orders, customers, events) by fate and reason."""

from __future__ import annotations

from dataclasses import dataclass, field

FATES = ("loaded", "updated", "redelivered", "guest", "adjustment", "quarantined")


@dataclass
class IngestSummary:
    run_id: str
    entity: str
    preset: str
    sources: list[str]
    read: int = 0
    rows: dict[str, int] = field(default_factory=dict)       # fate -> input rows
    units: dict[str, int] = field(default_factory=dict)      # fate -> orders/customers/events
    reasons: dict[str, int] = field(default_factory=dict)    # quarantine reason -> rows
    extra: dict[str, int] = field(default_factory=dict)      # e.g. cancelled orders loaded
    status: str = "committed"
    quarantine_file: str | None = None

    def count(self, fate: str) -> int:
        return self.rows.get(fate, 0)

    @property
    def quarantined_share(self) -> float:
        return self.count("quarantined") / self.read if self.read else 0.0

    @property
    def accounted(self) -> bool:
        """Every row read has exactly one fate."""
        return sum(self.rows.values()) == self.read

    def as_dict(self) -> dict:
        return {"read": self.read, "rows": self.rows, "units": self.units,
                "reasons": self.reasons, "extra": self.extra}
