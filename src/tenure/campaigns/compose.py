"""Compose one message: the template context from a customer's facts, the rendered texts, and for
email the tracked links and List-Unsubscribe headers. Pure: no clock, no network, no store."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from tenure.campaigns.definitions import Campaign
from tenure.campaigns.links import list_unsubscribe_headers, track_html, unsubscribe_url
from tenure.campaigns.templates import CUSTOMER_FIELDS, Templates
from tenure.channels.base import Message


def plain(value):
    """A Python value a template can print and JSON can hold: numpy scalars unwrapped, NaN, NaT
    and pandas' NA as None (pandas is not imported here)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # a numpy scalar
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    return value


def json_safe(value):
    """`plain`, with dates as ISO strings and containers walked."""
    value = plain(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def customer_context(customer: dict) -> dict:
    """Exactly the documented customer fields (missing ones None), so a template that passed
    `Templates.check` renders for every customer."""
    facts = {name: plain(customer.get(name)) for name in CUSTOMER_FIELDS}
    facts["customer_id"] = str(facts["customer_id"])
    if facts["first_name"] is None and isinstance(facts["name"], str) and facts["name"].strip():
        facts["first_name"] = facts["name"].split()[0]
    return facts


def compose(*, key: str, campaign_name: str, campaign: Campaign, step_index: int, customer: dict,
            picks: list[dict], due_on: dt.date, currency: str, templates: Templates, public_url: str,
            secret: str, unsubscribe_mailto: str = "", locale: str = "en_US") -> Message:
    step = campaign.steps[step_index]
    facts = customer_context(customer)
    picks = [{str(k): plain(v) for k, v in p.items()} for p in picks]
    unsubscribe = unsubscribe_url(public_url, secret, key=key, customer_id=facts["customer_id"])
    context = {
        "customer": facts,
        "campaign": {"name": campaign_name, "description": campaign.description, "step": step_index + 1,
                     "steps": len(campaign.steps)},
        "picks": picks,
        "shop": {"currency": currency, "locale": locale},
        "links": {"unsubscribe": unsubscribe},
        "as_of": due_on,
    }
    rendered = templates.render(step.template, step.channel, context,
                                where=f"campaigns.{campaign_name}.steps[{step_index}]")
    html, headers, payload = rendered.html, {}, {}
    if step.channel == "email":
        if html and public_url:
            html = track_html(html, public_url=public_url, secret=secret, key=key,
                              customer_id=facts["customer_id"])
        headers = list_unsubscribe_headers(unsubscribe_url=unsubscribe, mailto=unsubscribe_mailto)
    if step.channel in ("webhook", "task"):
        payload = {"customer": json_safe(facts), "picks": json_safe(picks), "campaign": campaign_name,
                   "step": step_index}
    address = {"email": facts["email"], "sms": facts["phone"]}.get(step.channel)
    recipient = (address.strip() or None) if isinstance(address, str) else None
    return Message(key=key, campaign=campaign_name, step=step_index, customer_id=facts["customer_id"],
                   channel=step.channel, recipient=recipient, subject=rendered.subject, text=rendered.text,
                   html=html, headers=headers, payload=payload, due_on=due_on)
