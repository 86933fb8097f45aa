"""The app of one worker process of `tenure serve --workers N`.

uvicorn starts N worker processes (spawned: nothing is inherited but the environment) and each
builds its app with `from_env()` from the workspace named in $TENURE_SERVE_WORKSPACE. The daily
schedule must fire once, not N times, so it runs in the supervising process (`tenure serve`
itself); a worker only shows it (the dashboard's runs page: the cron expression and the next
fire time), from $TENURE_SERVE_SCHEDULE.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

WORKSPACE_ENV = "TENURE_SERVE_WORKSPACE"
SCHEDULE_ENV = "TENURE_SERVE_SCHEDULE"


class ScheduleShown:
    """The schedule as a worker's dashboard shows it; the supervising process runs it. Has the
    `Scheduler` attributes the app and the dashboard use, and starts and stops nothing."""

    def __init__(self, expr: str, timezone: str) -> None:
        self.expr, self.zone = expr, ZoneInfo(timezone)

    @property
    def next_fire(self) -> dt.datetime:
        from tenure.server.schedule import fire_times

        return fire_times(self.expr, dt.datetime.now(self.zone))[1]

    def start(self) -> None:
        pass

    def stop(self, timeout: float | None = None) -> None:
        pass


def from_env():
    """The FastAPI app for the workspace in $TENURE_SERVE_WORKSPACE, without a scheduler of its own."""
    from tenure.server.app import create_app
    from tenure.workspace import Workspace

    root = os.environ.get(WORKSPACE_ENV)
    if not root:
        raise RuntimeError(f"${WORKSPACE_ENV} is not set: start workers with `tenure serve --workers N`")
    ws = Workspace(root)
    app = create_app(ws, schedule="")
    expr = os.environ.get(SCHEDULE_ENV, "")
    if expr:
        app.state.scheduler = ScheduleShown(expr, ws.settings.workspace.timezone)
    return app
