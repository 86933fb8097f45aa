"""One error hierarchy. Every TenureError carries a one-line message a user can act on.

The CLI prints `error: <message>` and exits with `exit_code` (2 for a user's mistake);
anything that is not a TenureError is a bug in Tenure and keeps its traceback.
"""

from __future__ import annotations


class TenureError(Exception):
    """Base class: a failure with a message meant for the person running Tenure."""

    exit_code = 2

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        # Keep the message on one line: it is printed as-is by the CLI.
        message = " ".join(str(message).split())
        if fix:
            message = f"{message} — {' '.join(fix.split())}"
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(TenureError):
    """tenure.toml is missing, unreadable or holds a value that does not validate."""


class WorkspaceError(TenureError):
    """The workspace folder is missing, not a workspace, or busy."""


class SourceError(TenureError):
    """An input file, sheet or database is not what the chosen preset expects."""


class MappingError(SourceError):
    """A column mapping names a column that does not exist or a field that is unknown."""


class QuarantineLimitError(TenureError):
    """Too many rows were rejected: the load was rolled back, the rejects were kept."""


class MissingExtraError(TenureError):
    """An optional dependency is not installed; the message names the pip install."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(
            f"{what} is not installed", fix=f"run: pip install 'tenure[{extra}]'"
        )


class CampaignError(ConfigError):
    """A campaign, its trigger, a step or a template is not valid: refused before anything is sent."""


class StoreError(TenureError):
    """The operational store cannot be opened, migrated or written."""


class LoyaltyError(TenureError):
    """A redemption or adjustment that cannot be made: nothing is written. `reason` says which:
    "invalid" (unknown reward, a bad number, no reason), "insufficient" (not enough points) or
    "key_reused" (an idempotency key sent before with a different request)."""

    def __init__(self, message: str, *, fix: str | None = None, reason: str = "invalid") -> None:
        super().__init__(message, fix=fix)
        self.reason = reason
