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



def frame_table(like, frame):
    """A pandas frame as a table of the same backend as the Ibis table `like`, to join with it.

    DuckDB takes the frame as it is (ibis.memtable, no copy). Spark would convert a pandas frame
    row by row (about 40 s for 540k rows on these machines): it gets a Parquet file to read."""
    import ibis

    con = like._find_backend()
    if con.name != "pyspark":
        return ibis.memtable(frame)
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="tenure-frame-"))
    atexit.register(shutil.rmtree, folder, True)  # Spark reads lazily: keep it for the process
    frame.to_parquet(folder / "frame.parquet", index=False)
    return con.read_parquet(folder / "frame.parquet")
