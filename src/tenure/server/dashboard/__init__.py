"""The dashboard: server-rendered pages for a marketer (login required)."""

from __future__ import annotations


def mount(app) -> None:
    """Add the dashboard's routes and static files to `app`."""
