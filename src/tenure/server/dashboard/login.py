"""The login form and logout."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from tenure import access
from tenure.server.auth import start_session
from tenure.server.dashboard.web import Page, check_form, see_other

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after login: a path of this site only ("/..." but not "//host" nor "/\\host",
    which browsers read as another site), else the overview."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return "/"
    if target.startswith(("/login", "/logout")):
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/"):
    if request.session.get("user") and access.active_user(request.app.state.store, request.session["user"]):
        return see_other(safe_next(next))
    return Page(request).render("login.html", next=safe_next(next), error=None, username="")


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, username: str = Form("", max_length=200), password: str = Form("", max_length=1000),
          csrf: str = Form(""), next: str = Form("/", max_length=2000)):
    refused = check_form(request, csrf)
    if refused:
        return refused
    user = access.login(request.app.state.store, username, password) if username and password else None
    if user is None:
        return Page(request).render("login.html", status=401, next=safe_next(next), username=username,
                                    error="Wrong user name or password.")
    start_session(request, user)
    return see_other(safe_next(next))


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")):
    refused = check_form(request, csrf)
    if refused:
        return refused
    request.session.clear()
    return see_other("/login")
