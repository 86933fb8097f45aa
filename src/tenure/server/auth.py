"""Authentication: API keys for /v1 (Bearer), a session cookie and CSRF tokens for the dashboard.

The session is Starlette's signed cookie (itsdangerous, HttpOnly, SameSite=Lax, Secure when
server.secure_cookies), keyed with a key derived from the workspace secret. It holds the user
name and a CSRF token; every dashboard form carries the token and every POST checks it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tenure import access

PLACEHOLDERS = {"changeme", "change-me", "secret", "placeholder", "xxx", "password", "tenure", "test"}
MIN_SECRET = 32

bearer = HTTPBearer(auto_error=False, description="An API key made with `tenure keys create --scope read|write|admin`.")


def secret_problem(secret: str) -> str | None:
    """Why `secret` must not sign anything, or None."""
    if secret.strip().lower() in PLACEHOLDERS or len(set(secret)) < 8:
        return "is a placeholder"
    if len(secret) < MIN_SECRET:
        return f"is shorter than {MIN_SECRET} characters"
    return None


def derived_key(secret: str, purpose: str) -> str:
    """A key for one purpose only (sessions), so a leak of one use does not sign the others."""
    return hmac.new(secret.encode(), f"tenure.{purpose}".encode(), hashlib.sha256).hexdigest()


def require(scope: str):
    """A dependency that admits a live API key with at least `scope`."""
    access.check_scope(scope)

    def dependency(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> dict:
        if cred is None:
            raise HTTPException(401, "missing API key: send `Authorization: Bearer <key>`",
                                headers={"WWW-Authenticate": "Bearer"})
        store = request.app.state.store
        key = access.verify_key(store, cred.credentials)
        if key is None:
            raise HTTPException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if not access.allows(key["scope"], scope):
            raise HTTPException(403, f"this key's scope is {key['scope']}; this needs {scope}")
        seen = key["last_used_at"]
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        if seen is None or (now - seen).total_seconds() > 60:  # a write a minute, not one a request
            access.touch_key(store, key["key_id"])
        return key

    return dependency


# -- dashboard sessions ---------------------------------------------------------------------------
class LoginRequired(Exception):
    """Raised by `current_user` on a page: the app redirects to /login."""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, sent: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page and try again")


def current_user(request: Request) -> dict:
    name = request.session.get("user")
    user = access.active_user(request.app.state.store, name) if name else None
    if user is None:
        request.session.pop("user", None)
        raise LoginRequired()
    return user


def require_user(scope: str = "read"):
    def dependency(user: dict = Depends(current_user)) -> dict:
        if not access.allows(user["scope"], scope):
            raise HTTPException(403, f"your account's scope is {user['scope']}; this needs {scope}")
        return user

    return dependency


def start_session(request: Request, user: dict) -> None:
    request.session.clear()  # a new session id and CSRF token at login: no session fixation
    request.session["user"] = user["username"]
    request.session["csrf"] = secrets.token_urlsafe(32)
