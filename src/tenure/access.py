"""Who may use the server: API keys (Bearer tokens) and dashboard users, both with a scope.

Scopes are ordered: read < write < admin; an endpoint names the least scope it needs.

A key is `tnr_<key_id>_<secret>`: the key id finds the row, the secret is checked against its
SHA-256. A plain hash is enough here (not bcrypt/scrypt) because the secret is 256 random bits:
there is no dictionary to try. Passwords are chosen by people, so they get scrypt (stdlib),
salted, with a work factor, and are compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

import sqlalchemy as sa

from tenure.errors import TenureError
from tenure.store.tables import api_keys, users

SCOPES = ("read", "write", "admin")
KEY_PREFIX = "tnr_"
_KEY = re.compile(r"^tnr_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_SCRYPT = (2**14, 8, 1)  # n, r, p: ~50 ms a login on this machine; OWASP's minimum for scrypt
MIN_PASSWORD = 10


class AccessError(TenureError):
    """A key, user or scope that cannot be created or used as asked."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise AccessError(f"unknown scope {scope!r}", fix="use read, write or admin")
    return scope


def allows(granted: str, needed: str) -> bool:
    return SCOPES.index(granted) >= SCOPES.index(needed)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- API keys ---------------------------------------------------------------------------------
def create_key(store, *, scope: str, name: str) -> str:
    """A new key; the only time its full text exists outside the caller is this return value."""
    check_scope(scope)
    if not name.strip():
        raise AccessError("a key needs a name", fix="say what uses it, e.g. --name shop-backend")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with store.begin() as conn:
        conn.execute(api_keys.insert().values(key_id=key_id, secret_hash=_digest(secret), scope=scope,
                                              name=name.strip()[:200], created_at=_utcnow()))
    return f"{KEY_PREFIX}{key_id}_{secret}"


def verify_key(store, token: str) -> dict | None:
    """The key's row (key_id, scope, name) when `token` is a live key, else None."""
    m = _KEY.match(token or "")
    if not m:
        return None
    key_id, secret = m.groups()
    with store.connect() as conn:
        row = conn.execute(sa.select(api_keys.c.key_id, api_keys.c.scope, api_keys.c.name,
                                     api_keys.c.secret_hash, api_keys.c.last_used_at)
                           .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
        return None
    return {"key_id": row.key_id, "scope": row.scope, "name": row.name, "last_used_at": row.last_used_at}


def touch_key(store, key_id: str) -> None:
    with store.begin() as conn:
        conn.execute(api_keys.update().where(api_keys.c.key_id == key_id).values(last_used_at=_utcnow()))


def list_keys(store) -> list[dict]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(api_keys.c.key_id, api_keys.c.name, api_keys.c.scope, api_keys.c.created_at,
                                      api_keys.c.last_used_at, api_keys.c.revoked_at).order_by(api_keys.c.id))
        return [dict(r._mapping) for r in rows]


def revoke_key(store, key_id: str) -> None:
    key_id = key_id.removeprefix(KEY_PREFIX).split("_")[0]
    with store.begin() as conn:
        done = conn.execute(api_keys.update().where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                            .values(revoked_at=_utcnow())).rowcount
    if not done:
        raise AccessError(f"no live key with id {key_id!r}", fix="see `tenure keys list`")


# -- dashboard users --------------------------------------------------------------------------
def hash_password(password: str) -> str:
    n, r, p = _SCRYPT
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def add_user(store, *, username: str, password: str, scope: str = "read") -> None:
    check_scope(scope)
    username = username.strip()
    if not re.fullmatch(r"[\w.@+-]{1,200}", username):
        raise AccessError(f"{username!r} is not a usable user name",
                          fix="use letters, digits and . @ + - _ (an email address works)")
    if len(password) < MIN_PASSWORD:
        raise AccessError(f"the password is shorter than {MIN_PASSWORD} characters", fix="choose a longer one")
    with store.begin() as conn:
        if conn.execute(sa.select(users.c.id).where(users.c.username == username)).first():
            raise AccessError(f"user {username!r} already exists",
                              fix="remove it first with `tenure users remove`, or choose another name")
        conn.execute(users.insert().values(username=username, password_hash=hash_password(password), scope=scope,
                                           created_at=_utcnow()))


def login(store, username: str, password: str) -> dict | None:
    """The user (username, scope) when the password is right and the user is enabled."""
    with store.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == username.strip(),
                                                  users.c.disabled_at.is_(None))).first()
    if row is None:
        hash_password(password)  # spend the same time as a wrong password: no user enumeration
        return None
    if not check_password(password, row.password_hash):
        return None
    return {"username": row.username, "scope": row.scope}


def active_user(store, username: str) -> dict | None:
    with store.connect() as conn:
        row = conn.execute(sa.select(users.c.username, users.c.scope).where(
            users.c.username == username, users.c.disabled_at.is_(None))).first()
    return dict(row._mapping) if row else None


def list_users(store) -> list[dict]:
    with store.connect() as conn:
        rows = conn.execute(sa.select(users.c.username, users.c.scope, users.c.created_at, users.c.disabled_at)
                            .order_by(users.c.id))
        return [dict(r._mapping) for r in rows]


def remove_user(store, username: str) -> None:
    with store.begin() as conn:
        done = conn.execute(users.delete().where(users.c.username == username)).rowcount
    if not done:
        raise AccessError(f"no user {username!r}", fix="see `tenure users list`")
