"""Lifecycle analytics: pure Ibis expressions over the canonical tables; nothing here executes."""
