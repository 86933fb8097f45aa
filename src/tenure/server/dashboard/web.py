"""What every dashboard page shares: the Jinja environment, the layout's context, number formats,
the security headers and the error pages."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import pandas as pd
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tenure.errors import TenureError, WorkspaceError
from tenure.report.build import _code, _json_default  # the report's filters: same figures, same way
from tenure.report.fmt import Numbers
from tenure.server import reads
from tenure.server.auth import check_csrf, csrf_token

HERE = Path(__file__).parent
NAV = (("/", "Overview"), ("/segments", "Segments"), ("/cohorts", "Cohorts"), ("/funnel", "Funnel"),
       ("/flows", "Flows"), ("/pareto", "Pareto"), ("/loyalty", "Loyalty"), ("/campaigns", "Campaigns"),
       ("/tasks", "Tasks"), ("/runs", "Runs"))
OPTIONAL = {"/loyalty": lambda settings: settings.loyalty.enabled}  # nav links shown only when switched on
# Self only: no inline script or style anywhere (chart data travels as JSON in a data block),
# no framing, forms post back here only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin"}
PREFIXES = ("/login", "/logout", "/segments", "/customers", "/cohorts", "/funnel", "/flows", "/pareto",
            "/loyalty", "/campaigns", "/runs", "/tasks", "/static")


class SecurityHeaders:
    """ASGI middleware: the headers above on every dashboard response (pages, redirects, files,
    errors), not on the API or its /docs page, which loads Swagger UI from a CDN."""

    def __init__(self, app) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not is_dashboard(scope["path"]):
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                known = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in self.raw if h[0] not in known)]
            await send(message)

        return await self.app(scope, receive, with_headers)


def is_dashboard(path: str) -> bool:
    return path == "/" or any(path == p or path.startswith(p + "/") for p in PREFIXES)


# -- formats --------------------------------------------------------------------------------------
class Fmt:
    """The workspace's Numbers, tolerant of missing values (shown as an en dash)."""

    DASH = "–"

    def __init__(self, settings) -> None:
        self.nums = Numbers(settings.workspace.locale, settings.workspace.currency)
        self.zone = ZoneInfo(settings.workspace.timezone)
        self.zone_name = settings.workspace.timezone

    @staticmethod
    def _missing(x) -> bool:
        if x is None or isinstance(x, str):
            return x is None
        try:  # NaN, NaT and pandas' NA alike
            return bool(pd.isna(x))
        except (TypeError, ValueError):
            return False

    def int(self, x) -> str:
        return self.DASH if self._missing(x) else self.nums.int(x)

    def dec(self, x, digits: int = 1, *, fixed: bool = False) -> str:
        """`fixed`: keep trailing zeros (1.0 beside 7.1), so that a column's decimals align."""
        if self._missing(x):
            return self.DASH
        if fixed and digits:
            from babel.numbers import format_decimal

            return format_decimal(round(float(x), digits), format=f"#,##0.{'0' * digits}", locale=self.nums.locale)
        return self.nums.decimal(x, digits)

    def money(self, x, cents: bool | None = None) -> str:
        return self.DASH if self._missing(x) else self.nums.money(float(x), cents=cents)

    def pct(self, x, digits: int = 1) -> str:
        return self.DASH if self._missing(x) else self.nums.percent(float(x), digits, fixed=True)

    def days(self, x) -> str:
        return self.DASH if self._missing(x) else self.nums.days(x)

    def date(self, x) -> str:
        if self._missing(x):
            return self.DASH
        if isinstance(x, str):
            x = dt.date.fromisoformat(x[:10])
        if isinstance(x, dt.datetime):
            x = x.date()
        return self.nums.date(x)

    def when(self, x, *, utc: bool = False) -> str:
        """A moment as date and minute; `utc`: a naive UTC time of the store, shown in the shop's zone."""
        if self._missing(x):
            return self.DASH
        if isinstance(x, str):
            x = dt.datetime.fromisoformat(x)
        if utc:
            x = x.replace(tzinfo=dt.timezone.utc).astimezone(self.zone).replace(tzinfo=None)
        return f"{self.nums.date(x.date())} {x:%H:%M}"

    def month(self, ym: str) -> str:
        return self.nums.month(ym)


# -- templates ------------------------------------------------------------------------------------
@functools.cache
def env() -> jinja2.Environment:
    e = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True,
                           trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    e.filters["code"] = _code
    e.policies["json.dumps_kwargs"] = {"default": _json_default, "allow_nan": False, "separators": (",", ":")}
    return e


class Page:
    """One request's view of the workspace: its thread's Workspace, formats, the stored days."""

    def __init__(self, request: Request, user: dict | None = None) -> None:
        self.request = request
        self.user = user
        self.ws = reads.workspace(request.app.state)
        self.fmt = Fmt(self.ws.settings)
        self.days = self.ws.history.dates()

    @property
    def latest(self) -> dt.date | None:
        return self.days[-1] if self.days else None

    def render(self, template: str, status: int = 200, **ctx) -> HTMLResponse:
        flash = self.request.session.pop("flash", None) if "session" in self.request.scope else None
        charts = ctx.pop("charts", None) or {}
        nav = tuple((href, label) for href, label in NAV if href not in OPTIONAL or OPTIONAL[href](self.ws.settings))
        html = env().get_template(template).render(
            request=self.request, user=self.user, nav=nav, path=self.request.url.path, f=self.fmt,
            csrf=csrf_token(self.request), shop=self.ws.root.name, latest=self.latest, days=self.days,
            flash=flash, charts=charts, **ctx)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def flash(request: Request, text: str, kind: str = "info") -> None:
    request.session["flash"] = {"text": text, "kind": kind}


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, title: str, message: str, user: dict | None = None) -> HTMLResponse:
    return Page(request, user).render("error.html", status=status, title=title, message=message)


def check_form(request: Request, token: str | None, user: dict | None = None, scope: str | None = None):
    """The 403 page when the CSRF token is wrong or the user's scope too small; None when fine."""
    from tenure import access

    try:
        check_csrf(request, token)
    except HTTPException as exc:
        return error_page(request, 403, "Form refused", exc.detail, user)
    if scope and user and not access.allows(user["scope"], scope):
        return error_page(request, 403, "Not allowed",
                          f"Your account's scope is {user['scope']}; this needs {scope}. An admin can "
                          f"change it with `tenure users remove` and `tenure users add --scope {scope}`.", user)
    return None


def guarded(func):
    """A page that says what went wrong instead of a JSON error: the warehouse busy with a write
    (503, try again) or a request Tenure cannot serve as asked (400, with the fix)."""

    @functools.wraps(func)
    def page(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TenureError as exc:
            request, user = kwargs["request"], kwargs.get("user")
            busy = isinstance(exc, WorkspaceError) and "busy" in exc.message
            text = exc.message  # the fix is in it, after a dash
            if busy:
                return error_page(request, 503, "The warehouse is busy",
                                  text + ". A run is writing to it: reload the page in a few seconds.", user)
            return error_page(request, 400, "Not possible as asked", text, user)

    return page
