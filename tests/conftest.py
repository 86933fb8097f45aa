"""Shared fixtures: a fixed clock, fresh workspaces, the real data sets of ../shared/data."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pytest

from tenure import Workspace

NOW = dt.datetime(2026, 1, 1, 12, 0, 0)
REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("TENURE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data. In CI (CI=true) its absence is a failure; elsewhere the test skips."""
    folder = shared_data_dir()
    if not folder.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the real data sets in {folder} (set TENURE_SHARED_DATA)")
        pytest.skip(f"real data sets not found in {folder}; set TENURE_SHARED_DATA to run this test")
    return folder


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "shop", timezone="Europe/London", currency="GBP")


def fingerprint(ws: Workspace) -> dict:
    """Everything an ingest could change: each table's rows (as an order-free hash) and files."""
    con = duckdb.connect(str(ws.warehouse_path), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        state = {t: con.execute(f"SELECT count(*), coalesce(sum(hash(x)), 0) FROM {t} x").fetchone()
                 for t in tables}
    finally:
        con.close()
    state["files"] = sorted(str(p.relative_to(ws.root)) for p in ws.root.rglob("*")
                            if p.is_file() and not p.name.endswith((".wal", ".duckdb")))
    state["config"] = (ws.root / "tenure.toml").read_bytes()
    return state


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database for one test (dropped after it), as a SQLAlchemy URL.

    Needs TENURE_TEST_POSTGRES_URL (CI sets it; these machines run PostgreSQL on 127.0.0.1:5432)."""
    import uuid

    import sqlalchemy as sa

    base = os.environ.get("TENURE_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs TENURE_TEST_POSTGRES_URL")
        pytest.skip("set TENURE_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to run")
    url = sa.make_url(base).set(drivername="postgresql+psycopg")
    name = f"tenure_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def online_retail_shop(root: Path, shared_data: Path) -> Workspace:
    """A workspace with Online Retail II's first year and Online Retail's (together 2009-12 to
    2011-12), as the analyses, CLV and campaign oracles read them."""
    ws = Workspace.init(root, timezone="Europe/London", currency="GBP")
    ws.ingest("orders", [shared_data / "online-retail-ii" / "online_retail_II_year_2009_2010.parquet"],
              preset="online-retail-ii", now=NOW)
    ws.ingest("orders", [shared_data / "online-retail" / "online_retail.csv.gz"], preset="online-retail", now=NOW)
    return ws
