"""The dashboard: server-rendered pages for a marketer (login required). See docs/dashboard.md.

Pages are Jinja2 templates (autoescaped) rendered on the server; the only script is charts.js,
which draws the report's ECharts options carried as JSON data blocks. Every asset is served from
the package under /static: nothing comes from another site, as the Content-Security-Policy says.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from tenure.server.dashboard.web import HERE, SecurityHeaders


def mount(app) -> None:
    """Add the dashboard's routes and static files to `app`."""
    from tenure.server.dashboard import analyses_pages, customers, login, loyalty, operations, overview

    for module in (login, overview, customers, analyses_pages, loyalty, operations):
        app.include_router(module.router)

    @app.get("/static/echarts.min.js", include_in_schema=False)
    def echarts() -> Response:
        return Response(echarts_js(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")
    app.add_middleware(SecurityHeaders)


@functools.cache
def echarts_js() -> bytes:
    """The report's vendored copy (tenure/report/assets, with its licence), not a second one."""
    return (resources.files("tenure.report") / "assets" / "echarts.min.js").read_bytes()
