"""The FastAPI application of `tenure serve`: routers, sessions, error answers, background work."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match

from tenure import __version__
from tenure.errors import TenureError, WorkspaceError
from tenure.server.auth import LoginRequired, derived_key, secret_problem

log = logging.getLogger("tenure.server")

DESCRIPTION = """Tenure's REST API: post customers, orders and events; read profiles, segments and
analyses; start runs; export or erase a person. Every `/v1` endpoint takes an API key as a Bearer
token (`tenure keys create --scope read|write|admin`). Tracking links (`/t/...`, `/u/...`) need
none: their signed token is the authority."""


def check_secret(ws) -> str:
    secret = ws.secret
    problem = secret_problem(secret)
    if problem:
        raise WorkspaceError(f"the workspace secret in {ws.root / '.tenure-secret'} {problem}: the server "
                             "will not sign or accept links with it",
                             fix="delete the file and run any tenure command to make a new random one "
                                 "(links in messages already sent stop working)")
    return secret


def create_app(ws, *, schedule: str | None = None, tracking_interval: float = 0.2) -> FastAPI:
    """The app for workspace `ws`. `schedule` (cron) overrides server.schedule; "" disables it."""
    from tenure.server import api, dashboard, loyalty_api, reads, tracking
    from tenure.server.schedule import Scheduler

    secret = check_secret(ws)
    settings = ws.settings.server
    expr = settings.schedule if schedule is None else schedule

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.tracker.start()
        if app.state.scheduler:
            app.state.scheduler.start()
        try:
            yield
        finally:
            if app.state.scheduler:
                app.state.scheduler.stop(timeout=5)
            app.state.tracker.stop()
            reads.close_all(app.state)

    app = FastAPI(title="Tenure", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    app.state.ws = ws
    app.state.store = ws.store
    app.state.secret = secret
    app.state.tracker = tracking.TrackingWriter(ws.store, interval=tracking_interval)
    app.state.scheduler = Scheduler(ws, expr) if expr else None
    app.state.readers = []

    app.add_middleware(SessionMiddleware, secret_key=derived_key(secret, "session"),
                       session_cookie="tenure_session", max_age=settings.session_hours * 3600,
                       same_site="lax", https_only=settings.secure_cookies)
    app.include_router(tracking.router)
    app.include_router(api.router)
    app.include_router(loyalty_api.router)
    dashboard.mount(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the server answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(TenureError)
    async def tenure_error(request: Request, exc: TenureError):
        if isinstance(exc, WorkspaceError) and "busy" in exc.message:
            return JSONResponse({"detail": exc.message}, status_code=503, headers={"Retry-After": "5"})
        return JSONResponse({"detail": exc.message}, status_code=400)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 405:  # Starlette's Allow names only the first route on the path
            allowed = allowed_methods(app, request.scope)
            if allowed:
                exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        return await http_exception_handler(request, exc)

    return app


def allowed_methods(app: FastAPI, scope) -> list[str]:
    """Every method some route answers on this path (RFC 9110: a 405 lists all of them), asked
    of the routes one method at a time as the router asks them (included routers nest). [] when
    a route takes any method (tracking's fast links): it answers its own 405 with its own Allow."""
    def full(method: str) -> bool:
        probe = {**scope, "method": method}
        return any(route.matches(probe)[0] == Match.FULL for route in app.router.routes)

    if full("TENURE-NO-SUCH-METHOD"):
        return []
    return [m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS") if full(m)]
