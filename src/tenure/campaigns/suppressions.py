"""Suppressions: who gets no marketing (or none on a channel), why, since when; all reversible.
A suppression is never deleted: lifting it stamps lifted_at, so the history stays visible."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from tenure.errors import TenureError
from tenure.store.tables import suppressions

SCOPES = ("all", "marketing", "email", "sms")


def _now(ws):
    from tenure.campaigns.runner import utc

    return utc(ws.now(), ws.settings.workspace.timezone)


def add(ws, customer_id: str, *, scope: str, reason: str, source: str) -> None:
    if scope not in SCOPES:
        raise TenureError(f"--scope {scope!r} is not a scope", fix=f"use one of: {', '.join(SCOPES)}")
    s = suppressions
    with ws.store.begin() as conn:
        exists = conn.execute(sa.select(s.c.id).where(s.c.customer_id == customer_id, s.c.scope == scope,
                                                      s.c.lifted_at.is_(None))).first()
        if not exists:
            conn.execute(s.insert().values(customer_id=customer_id, scope=scope, reason=reason, source=source,
                                           created_at=_now(ws)))


def lift(ws, customer_id: str, *, reason: str) -> int:
    s = suppressions
    with ws.store.begin() as conn:
        return conn.execute(s.update().where(s.c.customer_id == customer_id, s.c.lifted_at.is_(None))
                            .values(lifted_at=_now(ws), lifted_reason=reason)).rowcount


def listing(ws, *, lifted: bool = False) -> pd.DataFrame:
    s = suppressions
    q = sa.select(s.c.customer_id, s.c.scope, s.c.reason, s.c.source, s.c.created_at, s.c.lifted_at,
                  s.c.lifted_reason).order_by(s.c.created_at)
    if not lifted:
        q = q.where(s.c.lifted_at.is_(None))
    with ws.store.connect() as conn:
        result = conn.execute(q)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
