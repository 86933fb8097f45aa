"""The same analytics on every backend: DuckDB and PySpark (local mode) give the same snapshots."""
