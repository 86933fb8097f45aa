"""The PySpark backend: the canonical tables as Ibis tables on a Spark session.

Spark cannot open the DuckDB warehouse file, so the tables the analytics read (customers, orders,
events) are exported from it as Parquet into `<workspace>/spark/<table>.parquet`, through a
read-only DuckDB connection, and Spark reads those files. An export is reused until the
warehouse changes: `spark/export.json` holds the fingerprint of the warehouse it was made from
(size and modification time of the file and of its write-ahead log, number and end of the
ingest runs); any difference exports again. JSON columns travel as text (Spark has no JSON type).

One SparkSession serves the whole process (starting one takes ~13 s): master
`[warehouse] spark_master` (default `local[2]`), session time zone UTC, 8 shuffle partitions, no
UI, logs at ERROR. Timestamps in the warehouse are naive wall-clock times in the shop's zone.
DuckDB writes them to Parquet as "not adjusted to UTC", which Spark reads as TIMESTAMP_NTZ, and
the session's default timestamp type is TIMESTAMP_NTZ too, so the literals of the analytics
(the end of an as-of day) are wall clock as well: nothing is shifted by a zone, whatever the
zone of the machine, the JVM or the session.

Spark's own Parquet writer makes a folder of part files; Tenure stores each snapshot as one
Parquet file that DuckDB reads, so the Ibis backend returned here writes `to_parquet` as a single
file through Arrow (a snapshot has one row per customer and is collected on the driver).

On a production cluster the differences are:
- `[warehouse] spark_master = "spark://host:7077"` (or `yarn`, `k8s://https://...`): the session
  is created with that master; driver and executors need Java 17+ and the PySpark version of the
  driver; memory and other Spark settings go in `$SPARK_CONF_DIR/spark-defaults.conf`;
- with this module the export folder must be readable by every executor (a shared filesystem);
  the better set-up is tables that already live in the cluster's catalog (Hive metastore, Delta
  or Iceberg tables kept by the shop's pipelines, with the canonical columns and types of the
  README): there nothing is exported, and the adapter (`tenure.warehouse.backends`) hands the
  analytics `Tables(con.table("customers"), con.table("orders"), con.table("events"))` from
  `ibis.pyspark.connect(session)`. That variant is not written yet.
Tested: local mode (`local[2]`) only, snapshot for snapshot against DuckDB (tests/backends).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from tenure.analytics.features import Tables
from tenure.errors import ConfigError, MissingExtraError, TenureError

EXPORTED = ("customers", "orders", "events")
EXPORT_DIR = "spark"
MARKER = "export.json"
MIN_JAVA = 17

# Everything at ERROR: Spark's INFO/WARN lines (loopback address, native Hadoop) mean nothing
# to someone running `tenure run`. Not used when $SPARK_CONF_DIR holds a log4j2.properties, and
# passed as a *default* Java option, so spark.driver.extraJavaOptions of the user still wins.
_LOG4J2 = """\
rootLogger.level = error
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""

_lock = threading.RLock()
_session = None
_backend = None
_tables: dict[tuple[str, str], Tables] = {}


# -- export ------------------------------------------------------------------------------------
def _fingerprint(workspace) -> dict:
    """What identifies the warehouse's content: its files' size and mtime, and the ingest runs."""
    from tenure import warehouse

    path = workspace.warehouse_path
    files = {}
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            st = p.stat()
            files[p.name] = [st.st_size, st.st_mtime_ns]
    con = warehouse.connect(path, read_only=True)
    try:
        runs, last = con.execute(
            "SELECT count(*), CAST(max(finished_at) AS VARCHAR) FROM ingest_runs").fetchone()
    finally:
        con.close()
    return {"files": files, "ingest_runs": runs, "last_ingest": last}


def export(workspace, *, force: bool = False) -> tuple[Path, dict]:
    """Write customers, orders and events as Parquet under `<workspace>/spark/` unless the export
    there was made from the warehouse as it is now. Returns the folder and the fingerprint."""
    from tenure import warehouse

    folder = workspace.root / EXPORT_DIR
    marker = folder / MARKER
    want = _fingerprint(workspace)
    files = {t: folder / f"{t}.parquet" for t in EXPORTED}
    if not force and marker.exists() and all(p.exists() for p in files.values()):
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == want:
                return folder, want
        except ValueError:
            pass  # a damaged marker: export again
    folder.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    con = warehouse.connect(workspace.warehouse_path, read_only=True)
    try:
        for table, path in files.items():
            columns = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' "
                "AND table_name = ? ORDER BY column_index", [table]).fetchall()
            select = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' if kind == "JSON" else f'"{c}"'
                               for c, kind in columns)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
            try:
                target = str(tmp).replace("'", "''")
                con.execute(f"COPY (SELECT {select} FROM {table}) TO '{target}' (FORMAT parquet)")
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    finally:
        con.close()
    marker.write_text(json.dumps(want), encoding="utf-8")
    return folder, want


# -- session -----------------------------------------------------------------------------------
def _java() -> str:
    fix = "install Java 17+ (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    home = os.environ.get("JAVA_HOME")
    if home:  # Spark's launcher uses JAVA_HOME before PATH
        java = Path(home) / "bin" / "java"
        if not java.exists():
            raise TenureError(f"the pyspark backend needs Java 17+, and JAVA_HOME={home} has no bin/java", fix=fix)
        return str(java)
    java = shutil.which("java")
    if not java:
        raise TenureError("the pyspark backend needs Java 17+, and no `java` was found", fix=fix)
    return java


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def _log_config() -> str | None:
    """A log4j2 file with _LOG4J2 in the temp folder (one per user); None if it cannot be written."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    path = Path(tempfile.gettempdir()) / f"tenure-spark-log4j2-{user}.properties"
    try:
        if not path.exists() or path.read_text(encoding="utf-8") != _LOG4J2:
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(_LOG4J2, encoding="utf-8")
            os.replace(tmp, path)
    except OSError:
        return None  # Spark's default logging then: noisier, not wrong
    return path.as_uri()


def session(master: str = "local[2]"):
    """The process's one SparkSession, created on first use with `master`."""
    global _session
    with _lock:
        if _session is not None:
            running = _session.sparkContext.master
            if running != master:
                raise ConfigError(f"this process already runs Spark with master {running}, not {master}",
                                  fix="use one spark_master per process")
            return _session
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise MissingExtraError("PySpark", "pyspark") from None
        java = _java()
        major = _java_major(java)
        if major is not None and major < MIN_JAVA:
            raise TenureError(f"the pyspark backend needs Java {MIN_JAVA}+, and {java} is Java {major}",
                              fix=f"install Java {MIN_JAVA}+ (e.g. openjdk-17-jre-headless) or set JAVA_HOME")
        builder = (
            SparkSession.builder.master(master).appName("tenure")
            .config("spark.sql.session.timeZone", "UTC")
            # Naive timestamps stay naive: Parquet timestamps not adjusted to UTC are read as
            # TIMESTAMP_NTZ, and so are TIMESTAMP literals and casts.
            .config("spark.sql.parquet.inferTimestampNTZ.enabled", "true")
            .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.default.parallelism", "8")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        )
        own = os.environ.get("SPARK_CONF_DIR")
        log_config = None if own and (Path(own) / "log4j2.properties").exists() else _log_config()
        if log_config:
            builder = builder.config("spark.driver.defaultJavaOptions", f"-Dlog4j2.configurationFile={log_config}")
        try:
            _session = builder.getOrCreate()
        except Exception as exc:  # py4j reports a JVM that did not start as a bare exception
            lines = str(exc).strip().splitlines()
            cause = lines[0][:200] if lines else type(exc).__name__
            raise TenureError(f"cannot start Spark with master {master}: {cause}",
                              fix="check Java 17+ and that spark_master is reachable") from exc
        _session.sparkContext.setLogLevel("ERROR")
        return _session


def _ibis_backend(spark):
    """An Ibis PySpark connection on `spark` whose `to_parquet` writes one file."""
    global _backend
    if _backend is None or _backend._session is not spark:
        import ibis
        from ibis.backends.pyspark import Backend

        ibis.pyspark  # noqa: B018 -- loading the backend through ibis registers its options

        class SingleFileBackend(Backend):
            """Ibis' PySpark backend, except that `to_parquet` writes one Parquet file (as DuckDB
            does) instead of Spark's folder of part files: stored snapshots are single files."""

            def to_parquet(self, expr, /, path, *, params=None, limit=None, **kwargs) -> None:
                import pyarrow.parquet as pq

                pq.write_table(self.to_pyarrow(expr, params=params, limit=limit), os.fspath(path), **kwargs)

        _backend = SingleFileBackend().connect(spark)
    return _backend


def tables(workspace) -> Tables:
    """customers, orders and events of the workspace as Ibis tables on Spark."""
    with _lock:
        spark = session(workspace.settings.warehouse.spark_master)
        folder, fingerprint = export(workspace)
        key = (str(folder), json.dumps(fingerprint, sort_keys=True))
        if key not in _tables:
            con = _ibis_backend(spark)
            for old in [k for k in _tables if k[0] == key[0]]:
                del _tables[old]  # views over files that were exported again
            _tables[key] = Tables(*(con.read_parquet(folder / f"{t}.parquet") for t in EXPORTED))
        return _tables[key]


def stop() -> None:
    """Stop the process's SparkSession; the next use starts a new one."""
    global _session, _backend
    with _lock:
        if _session is not None:
            _session.stop()
        _session = _backend = None
        _tables.clear()
