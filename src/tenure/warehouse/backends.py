"""The one adapter that knows backends by name: it gives the analytics their Ibis tables.

DuckDB (default) reads the warehouse file read-only. PySpark reads Parquet exports of the
canonical tables (Spark cannot open a DuckDB file); see tenure.warehouse.spark. Everything
downstream is the same Ibis code for both.
"""

from __future__ import annotations

from tenure.analytics.features import Tables

CANONICAL = ("customers", "orders", "events")


def analytics_tables(workspace, backend: str | None = None) -> Tables:
    backend = backend or workspace.settings.warehouse.backend
    if backend == "duckdb":
        from tenure.warehouse import ibis_connection

        con = ibis_connection(workspace.warehouse_path)
        return Tables(*(con.table(t) for t in CANONICAL))
    if backend == "pyspark":
        from tenure.warehouse import spark

        return spark.tables(workspace)
    from tenure.errors import ConfigError

    raise ConfigError(f"unknown backend {backend!r}", fix="use duckdb or pyspark")

