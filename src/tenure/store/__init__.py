"""The operational store: campaigns' enrollments, the outbox, deliveries, consents, suppressions,
tracking events, tasks and the run log, in SQLite (WAL) inside the workspace or PostgreSQL.

`open_store(url)` connects and migrates to the latest schema (automatically, under a lock).
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from tenure.store import engine as _engine

URL_ENV = "TENURE_STORE_URL"
SQLITE_FILE = "store.sqlite"


class Store:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def __repr__(self) -> str:
        return f"Store({_engine.redact(str(self.engine.url))!r})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def begin(self):
        """A transaction: `with store.begin() as conn: ...` commits at the end, rolls back on error."""
        return self.engine.begin()

    def connect(self):
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()


def url_for(root: Path, configured: str) -> str:
    """The store's URL: $TENURE_STORE_URL, else store.url, else the workspace's SQLite file.

    The environment wins so that a password never has to be written into tenure.toml."""
    url = os.environ.get(URL_ENV) or configured
    return url or f"sqlite:///{root / SQLITE_FILE}"


def open_store(url: str, *, migrate: bool = True) -> Store:
    from tenure.errors import StoreError

    eng = _engine.create(url)
    try:
        if migrate and _engine.current_revision(eng) != _engine.head_revision():
            _engine.migrate(eng)
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot open the operational store at {_engine.redact(url)}: "
                         f"{str(exc.orig).strip().splitlines()[0][:200]}",
                         fix="check store.url (or $TENURE_STORE_URL) and that the database is up")
    return Store(eng)
