"""One Spark session for the whole test run, and the shops the parity tests compare on.

Without Java or PySpark the Spark tests skip, saying which is missing; in CI (CI=true) they fail
instead. Under pytest-xdist, `--dist loadfile` keeps test_spark_parity.py on one worker, so Spark
starts once (`--dist loadgroup` would be the finer tool, but pytest-xdist 3.8 ignores
xdist_group marks on pytest 9.2: pytest-dev/pytest-xdist#1386). `-m "not spark"` leaves them out.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

import tenure
from tenure import Workspace
from tests.conftest import NOW

SHOP_SEED, SHOP_CUSTOMERS = 5, 3000


def pytest_configure(config):
    config.addinivalue_line("markers", "spark: starts a local Spark session (Java 17+ and pyspark)")


def _missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "PySpark is not installed (pip install 'tenure[pyspark]')"
    from tenure.errors import TenureError
    from tenure.warehouse import spark

    try:
        spark._java()  # the same check as a Spark run: JAVA_HOME, then java on the PATH
    except TenureError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def spark_session():
    """The process's SparkSession (local[2]), started once and stopped at the end."""
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the Spark parity tests: {missing}")
        pytest.skip(f"Spark parity tests skipped: {missing}")
    from tenure.warehouse import spark

    session = spark.session("local[2]")
    yield session
    spark.stop()


@pytest.fixture(scope="session")
def shop(tmp_path_factory, spark_session) -> Workspace:
    """A generated shop (3000 customers, seed 5) ingested like `make demo` does."""
    root = tmp_path_factory.mktemp("generated")
    tenure.generate(customers=SHOP_CUSTOMERS, seed=SHOP_SEED, out=root / "input", fmt="parquet")
    ws = Workspace.init(root / "shop", timezone="Europe/London", currency="GBP")
    for entity in ("customers", "orders", "order_items", "events"):
        summary = ws.ingest(entity, [root / "input" / f"{entity}.parquet"], now=NOW)
        assert summary.count("quarantined") == 0, summary.reasons
    return ws


@pytest.fixture(scope="session")
def cdnow(tmp_path_factory, spark_session, shared_data) -> Workspace:
    ws = Workspace.init(tmp_path_factory.mktemp("cdnow") / "shop")
    ws.ingest("orders", [shared_data / "cdnow" / "CDNOW_master.txt"], preset="cdnow", now=NOW)
    return ws
