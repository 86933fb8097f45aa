"""Message templates: Jinja2 in a sandbox, checked before anything is sent.

A template NAME is a folder: `NAME/subject.txt` and `NAME/body.txt` (email, required),
`NAME/body.html` (email, optional), `NAME/sms.txt` (sms), `NAME/task.txt` (task); webhook steps
need none. The workspace's `templates/` folder is searched first, then the defaults shipped in
`default_templates/` (which also holds `_base/`, layouts a template may extend or include).

Templates are written by shop staff, not by us: the sandbox refuses any reach into Python
internals, StrictUndefined turns a misspelt variable into an error instead of an empty string,
and `check()` renders each template against `sample_context()` (full, then with every optional
value missing) so a campaign is refused at validation, not in the middle of a send.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import (ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError,
                    UndefinedError, pass_context, select_autoescape)
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from tenure.errors import CampaignError

DEFAULTS = Path(__file__).resolve().parent / "default_templates"
FILES = {"email": ("subject.txt", "body.txt", "body.html"), "sms": ("sms.txt",), "task": ("task.txt",),
         "webhook": ()}
OPTIONAL = {"body.html"}
CUSTOMER_FIELDS = (
    "customer_id", "name", "first_name", "email", "phone", "lifecycle", "rf", "rfm", "rfm_segment",
    "churn_risk", "orders", "spend", "avg_spend", "days_since_last", "first_purchase", "last_purchase",
    "clv_365d", "p_alive", "purchase_probability_90d", "expected_purchases_90d",
    # loyalty (empty unless loyalty.enabled)
    "tier", "next_tier", "spend_to_next_tier", "membership", "points_balance", "points_expiring_30d")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FIX = "edit the template; docs/campaigns.md lists the variables a template may use"


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None = None


@pass_context
def money(context, amount, currency: str | None = None) -> str:
    """`{{ customer.spend | money }}`: the amount in the shop's currency and locale."""
    from babel.numbers import format_currency

    if amount is None:
        return ""
    shop = context.get("shop") or {}
    return format_currency(amount, currency or shop.get("currency") or "USD", locale=shop.get("locale") or "en_US")


@pass_context
def date(context, value, format: str = "long") -> str:
    """`{{ customer.first_purchase | date }}`: a date in the shop's locale ("14 May 2024")."""
    from babel.dates import format_date

    if value is None:
        return ""
    shop = context.get("shop") or {}
    return format_date(value, format=format, locale=shop.get("locale") or "en_US")


def _blank_none(value):
    # A missing fact (None) prints as nothing, not as the word "None".
    return "" if value is None else value


def sample_context(*, sparse: bool = False) -> dict:
    """The documented template context, filled with a plausible customer; `sparse=True` leaves every
    optional value empty (no picks, no unsubscribe link, unknown facts), as for a brand-new contact."""
    customer = {
        "customer_id": "C-1001", "name": "Ada Lovelace", "first_name": "Ada", "email": "ada@example.com",
        "phone": "+441234567890", "lifecycle": "active", "rf": "loyal", "rfm": "545",
        "rfm_segment": "champions", "churn_risk": "low", "orders": 7, "spend": 412.5, "avg_spend": 58.93,
        "days_since_last": 21, "first_purchase": dt.date(2024, 5, 14), "last_purchase": dt.date(2026, 2, 8),
        "clv_365d": 230.4, "p_alive": 0.93, "purchase_probability_90d": 0.71, "expected_purchases_90d": 1.4,
        "tier": "silver", "next_tier": "gold", "spend_to_next_tier": 1587.5, "membership": "member",
        "points_balance": 1240, "points_expiring_30d": 150,
    }
    if sparse:
        customer = {k: (v if k == "customer_id" else None) for k, v in customer.items()}
    return {
        "customer": customer,
        "campaign": {"name": "rf-loyal", "description": "RF ladder, rung loyal", "step": 1, "steps": 2},
        "picks": [] if sparse else [{"sku": "TEA-01", "name": "Earl Grey tea, 250 g"},
                                    {"sku": "MUG-07", "name": "Stoneware mug"}],
        "shop": {"currency": "GBP", "locale": "en_GB"},
        "links": {"unsubscribe": None if sparse else "https://crm.example.com/u/sample-token"},
        "as_of": dt.date(2026, 3, 1),
    }


class Templates:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder else None
        loaders = [FileSystemLoader(self.folder)] if self.folder else []
        self.env = SandboxedEnvironment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(DEFAULTS)]), undefined=StrictUndefined,
            autoescape=select_autoescape(("html",), default_for_string=False, default=False),
            trim_blocks=True, lstrip_blocks=True, finalize=_blank_none)
        self.env.filters.update(money=money, date=date)

    def check(self, name: str, channel: str, *, where: str) -> None:
        """Raise CampaignError unless the template renders for `channel` with the sample context."""
        self.render(name, channel, sample_context(), where=where)
        self.render(name, channel, sample_context(sparse=True), where=where)

    def render(self, name: str, channel: str, context: dict, *, where: str = "render") -> Rendered:
        if channel not in FILES:
            raise CampaignError(f"{where}: unknown channel {channel!r}", fix=f"use one of {', '.join(FILES)}")
        if channel == "webhook":
            return Rendered(None, "")
        if not _NAME.match(name or ""):
            raise CampaignError(f"{where}: template {name!r} is not a folder name",
                                fix="use letters, digits, '-', '_' and '.', starting with a letter or digit")
        out = {file: self._one(name, file, context, where) for file in FILES[channel]}
        if channel == "email":
            return Rendered(" ".join(out["subject.txt"].split()), out["body.txt"].strip() + "\n",
                            out["body.html"])
        return Rendered(None, out[FILES[channel][0]].strip())

    def _one(self, name: str, file: str, context: dict, where: str) -> str | None:
        path = f"{name}/{file}"

        def refuse(problem: str, fix: str = _FIX) -> CampaignError:
            return CampaignError(f"{where}: template {name!r}: {problem}", fix=fix)

        try:
            template = self.env.get_template(path)
        except TemplateNotFound as exc:
            if exc.name != path:  # an {% include %} or {% extends %} names a missing file
                raise refuse(f"{path} names {exc.name!r}, which does not exist") from None
            if file in OPTIONAL:
                return None
            expected = (self.folder or DEFAULTS) / name / file
            raise refuse(f"file {expected} not found", fix=f"create {expected}") from None
        except TemplateSyntaxError as exc:
            raise refuse(f"syntax error in {exc.name or path} line {exc.lineno}: {exc.message}") from None
        try:
            return template.render(context)
        except SecurityError as exc:
            raise refuse(f"{path}{_line(exc)} reaches for Python internals ({exc}); templates may only read "
                         "the documented variables") from None
        except UndefinedError as exc:
            raise refuse(f"{path}{_line(exc)} uses an undefined variable or attribute: {exc.message}") from None
        except TemplateNotFound as exc:
            raise refuse(f"{path} names {exc.name!r}, which does not exist") from None
        except TemplateSyntaxError as exc:
            raise refuse(f"syntax error in {exc.name or path} line {exc.lineno}: {exc.message}") from None
        except Exception as exc:  # a filter given the wrong type, a division by zero, ...
            raise refuse(f"{path}{_line(exc)} fails: {type(exc).__name__}: {exc}") from None


def _line(exc: BaseException) -> str:
    """' line N' of the innermost template frame (Jinja rewrites tracebacks to template lines)."""
    tb, line = exc.__traceback__, ""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".txt", ".html")):
            line = f" line {tb.tb_lineno}"
        tb = tb.tb_next
    return line
