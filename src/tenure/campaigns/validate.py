"""Checks of campaign definitions that need the rest of the settings (which segmentations and
labels exist) or the workspace (templates): run before anything is enrolled or sent."""

from __future__ import annotations

from tenure.campaigns.definitions import Trigger


def labels_of(settings) -> dict[str, set[str] | None]:
    """Each segmentation's possible labels; None where any label can occur."""
    rf = {r.name for r in settings.rf.rungs} | {settings.rf.before_first_rung, settings.rf.no_orders}
    rfm = {s.name for s in settings.rfm.segments} | {settings.rfm.no_orders, "other"}
    out: dict[str, set[str] | None] = {
        "lifecycle": set(settings.lifecycle.labels.values()), "rf": rf, "rfm_segment": rfm,
        "churn_risk": {"low", "medium", "high", "none", "unknown"},
    }
    out["tier"] = set(settings.loyalty.tier_names())
    out["membership"] = {"member", "cancelled", "lapsed", "none"}
    out.update({name: {"in", "out"} for name in settings.segments})
    return out


def trigger_problem(trigger: Trigger, settings) -> str | None:
    if trigger.kind != "label":
        return None
    known = labels_of(settings)
    seg = trigger.segmentation
    if seg not in known:
        return f"unknown segmentation {seg!r} (known: {', '.join(sorted(known))})"
    if seg == "churn_risk" and not settings.clv.enabled:
        return "churn_risk needs clv.enabled = true"
    if seg in ("tier", "membership") and not settings.loyalty.enabled:
        return f"{seg} needs loyalty.enabled = true"
    labels = known[seg]
    if labels is not None and trigger.label not in labels:
        return f"{seg} has no label {trigger.label!r} (labels: {', '.join(sorted(labels))})"
    return None


def check_templates(settings, templates) -> None:
    """Every step of every enabled campaign has a template that parses and renders safely."""
    for name, campaign in settings.campaigns.items():
        if not campaign.enabled:
            continue
        for i, step in enumerate(campaign.steps):
            if step.channel != "webhook":
                templates.check(step.template, step.channel, where=f"campaigns.{name}.steps[{i}]")
    if settings.sunset.enabled:
        templates.check(settings.sunset.template, "email", where="sunset.template")
