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
