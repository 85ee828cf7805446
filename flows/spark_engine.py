"""The Spark session and the hand-offs around a dbt build on Spark (--engine spark; README,
"When one machine is not enough").

Ingestion and the contract write the warehouse file as on DuckDB. Before the build, the contract's
silver tables are published as Parquet folders under `<spark home>/silver` (flows/spark_silver.py),
which the dbt project registers as its source tables on Spark (dbt/macros/spark.sql). The build
runs in the run's one Spark session, started here (dbt's `session` method then uses it), or on a
Spark Thrift server (`spark_thrift_host`), which must keep its tables in the spark home's. After
the build, the models Spark built are attached to the warehouse file as views over their Parquet
files, so the exports and the run summary read them exactly as they read DuckDB's. pyspark and
PyHive are imported only on this path.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb

from flows.exports import sql_path
from gx import HIDDEN_FROM_GX
from pipelines.settings import Settings, SettingsError

# The schemas of the models the exports and the summary read.
ATTACHED_SCHEMAS = ("marts", "answers")
# The comment on a model's empty table that a Spark build attached (the others are views).
SPARK_BUILT = "built on Spark, no rows"
# Spark's types of the models' columns, as DuckDB types (an empty model's table); and decimal(p,s),
# char(n) and varchar(n).
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp_ntz": "TIMESTAMP",
    "timestamp": "TIMESTAMPTZ",
    "binary": "BLOB",
}
# How Spark's SQL must read for the models: in UTC, with zone-less timestamps as in the warehouse
# file. The flow's Thrift sessions get them when opened; dbt/profiles.yml sets them for dbt's (and
# turns ANSI mode off there, as dbt-spark does in a session).
SQL_CONFIG = {"spark.sql.session.timeZone": "UTC", "spark.sql.timestampType": "TIMESTAMP_NTZ"}
# The spark home's record of where its tables' catalog is: "session" or "thrift" (check_spark).
CATALOG_RECORD = "catalog"
# Runs one SQL statement on Spark; its rows.
SparkSql = Callable[[str], list[tuple]]


def check_installed(thrift: bool = False) -> None:
    """A one-line SettingsError unless pyspark, dbt-spark and a Java runtime are there (and PyHive,
    for a Thrift server)."""
    missing = [name for name in ("pyspark", "dbt-spark") if not _installed(name)]
    if missing:
        raise SettingsError(f"--engine spark needs {', '.join(missing)}: run make install-spark")
    if shutil.which("java") is None:
        raise SettingsError("--engine spark needs a Java runtime (java on PATH): run make install-spark")
    if thrift and not _installed("PyHive"):
        raise SettingsError("a Spark Thrift server needs PyHive: run make install-spark")


def _installed(distribution: str) -> bool:
    """Whether a package is installed, asked of its metadata (not importing it, nor the import
    system, which hides pyspark from GX)."""
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def session_config(settings: Settings) -> dict[str, str]:
    """The Spark session's settings: the master, and its warehouse and metastore under the spark
    home (not the working directory), in UTC with zone-less timestamps as in the warehouse file."""
    home = settings.spark_home.resolve()
    metastore = f"jdbc:derby:;databaseName={home / 'metastore'};create=true"
    return {
        "spark.master": settings.spark_master,
        "spark.sql.warehouse.dir": str(home / "tables"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": metastore,
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={home}",
        **SQL_CONFIG,
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }


def start_session(settings: Settings):
    """The run's Spark session; the JVM's own output goes to `<spark home>/spark.log`. With a
    Thrift server building the models, the session only runs the contract: it has no metastore of
    its own (the server's catalog is the one)."""
    for name in HIDDEN_FROM_GX:
        if name in sys.modules and sys.modules[name] is None:
            del sys.modules[name]
    from pyspark.sql import SparkSession

    settings.spark_home.mkdir(parents=True, exist_ok=True)
    with _stderr_to(settings.spark_home / "spark.log"):
        builder = SparkSession.builder.appName("podcast_pipeline")
        if not settings.spark_thrift_host:
            builder = builder.enableHiveSupport()
        for key, value in session_config(settings).items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    _failing_queries_to(settings.spark_home / "spark.log")
    return spark


def _failing_queries_to(log: Path) -> None:
    """pyspark logs each failing query on a logger of its own, printing to the terminal: to
    Spark's log instead (the run's error says what failed, in one line)."""
    from pyspark.logger import PySparkLogger

    failing = PySparkLogger.getLogger("SQLQueryContextLogger")
    for handler in list(failing.handlers):
        failing.removeHandler(handler)
        handler.close()
    failing.addHandler(logging.FileHandler(log))


@contextmanager
def _stderr_to(log: Path) -> Iterator[None]:
    """Point file descriptor 2 at `log` meanwhile: a JVM started now keeps writing there."""
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def thrift_session_config() -> dict[str, str]:
    """SQL_CONFIG as a Thrift session takes it when opened (Spark's Thrift server ignores other keys)."""
    return {f"set:hiveconf:{key}": value for key, value in SQL_CONFIG.items()}


@contextmanager
def spark_sql(settings: Settings) -> Iterator[SparkSql]:
    """SQL on the Spark that builds the models: the run's session, or the Spark Thrift server."""
    if not settings.spark_thrift_host:
        spark = start_session(settings)
        yield lambda statement: [tuple(row) for row in spark.sql(statement).collect()]
        return
    from pyhive import hive
    from thrift.transport.TTransport import TTransportException

    server = f"{settings.spark_thrift_host}:{settings.spark_thrift_port}"
    try:
        connection = hive.connect(
            host=settings.spark_thrift_host,
            port=settings.spark_thrift_port,
            username=settings.spark_thrift_user,
            configuration=thrift_session_config(),
        )
    except TTransportException as error:  # not reached, or the session refused
        raise ConnectionError(f"no session on the Spark Thrift server at {server}: {error}") from None

    def run(statement: str) -> list[tuple]:
        with closing(connection.cursor()) as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []

    with closing(connection):
        yield run


def check_spark(settings: Settings) -> None:
    """A one-line SettingsError, before Spark is used, unless the spark home belongs to this way of
    building (CATALOG_RECORD) and a Thrift server keeps its tables in the home's `tables/`, where
    the flow reads the models' files and dbt's state. A home cannot move between the run's session
    and a server: each keeps the tables' catalog in its own metastore."""
    home = settings.spark_home
    catalog = "thrift" if settings.spark_thrift_host else "session"
    record = home / CATALOG_RECORD
    recorded = record.read_text().strip() if record.exists() else None
    if recorded is None and (home / "metastore").exists():  # a home of before the record
        recorded = "session"
    if recorded not in (None, catalog):
        built, again = {
            "thrift": ("a Spark Thrift server", "set PODCAST_SPARK_THRIFT_HOST"),
            "session": ("the run's own Spark session", "unset PODCAST_SPARK_THRIFT_HOST"),
        }[recorded]
        raise SettingsError(
            f"the spark home {home} holds tables {built} built, in its catalog: {again}, "
            "or use another PODCAST_SPARK_DIR"
        )
    if settings.spark_thrift_host:
        with spark_sql(settings) as sql:
            ((_, location),) = sql("SET spark.sql.warehouse.dir")
        wanted = home.resolve() / "tables"
        if urlparse(location).scheme not in ("", "file") or _path(location).resolve() != wanted:
            server = f"{settings.spark_thrift_host}:{settings.spark_thrift_port}"
            raise SettingsError(
                f"the Spark Thrift server at {server} keeps its tables in {location}, not in {wanted}: "
                f"start it with spark.sql.warehouse.dir={wanted}"
            )
    home.mkdir(parents=True, exist_ok=True)
    record.write_text(catalog)


def attach_models(settings: Settings) -> list[str]:
    """Make each table Spark built in ATTACHED_SCHEMAS a view of the warehouse file over its
    Parquet files (an empty table when the table has no rows); the attached names."""
    attached = []
    with spark_sql(settings) as sql, duckdb.connect(str(settings.warehouse)) as con:
        for schema in ATTACHED_SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for _, table, temporary in sql(f"SHOW TABLES IN {schema}"):
                if temporary:  # a build's own views
                    continue
                name = f"{schema}.{table}"
                described = sql(f"DESCRIBE TABLE EXTENDED {name}")
                details = {row[0]: row[1] for row in described}
                if details.get("Type") == "VIEW":
                    continue
                _drop(con, schema, table)
                location = _path(details["Location"])
                # a partitioned table keeps its files in a folder per value (`event_date=.../`)
                partitioned = "# Partition Information" in details
                files = location / "*" / "*.parquet" if partitioned else location / "*.parquet"
                if any(location.glob(str(files.relative_to(location)))):
                    read = f"read_parquet('{sql_path(files)}', hive_partitioning = {partitioned})"
                    con.execute(f"CREATE VIEW {name} AS SELECT * FROM {read}")
                elif not sql(f"SELECT 1 FROM {name} LIMIT 1"):  # no rows, no file: its columns
                    con.execute(f"CREATE TABLE {name} ({_duckdb_columns(name, described)})")
                    con.execute(f"COMMENT ON TABLE {name} IS '{SPARK_BUILT}'")
                else:
                    raise RuntimeError(f"Spark's table {name} has rows but no Parquet file in {location}")
                attached.append(name)
        detach_stale(con, attached)
    return attached


def _duckdb_columns(name: str, described: list[tuple]) -> str:
    """The columns DESCRIBE gives (those before its first blank or `#` row) as DuckDB's."""
    columns = []
    for column, spark_type, *_ in described:
        if not column or column.startswith("#"):
            break
        duckdb_type = _duckdb_type(spark_type)
        if duckdb_type is None:
            raise RuntimeError(f"Spark's table {name}: column {column}: no DuckDB type for {spark_type}")
        columns.append(f'"{column}" {duckdb_type}')
    return ", ".join(columns)


def _duckdb_type(spark_type: str) -> str | None:
    decimal = re.fullmatch(r"decimal\(([0-9]+),([0-9]+)\)", spark_type)
    if decimal:
        return f"DECIMAL({decimal[1]},{decimal[2]})"
    if re.fullmatch(r"(var)?char\([0-9]+\)", spark_type):
        return "VARCHAR"
    return DUCKDB_TYPES.get(spark_type)


def detach_stale(con: duckdb.DuckDBPyConnection, attached: list[str]) -> None:
    """Drop what an earlier Spark build attached in ATTACHED_SCHEMAS and this one did not (a model
    the project no longer has): its view, or its empty table marked SPARK_BUILT, which would keep
    the warehouse reading as Spark-built (models_engine) after a switch back to DuckDB."""
    for schema, name in _attached_by_spark(con):
        if f"{schema}.{name}" not in attached:
            _drop(con, schema, name)


def _attached_by_spark(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, name) of what Spark builds attached in ATTACHED_SCHEMAS: views, and empty tables
    marked SPARK_BUILT."""
    return con.execute(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE schema_name IN $schemas AND NOT internal "
        "UNION ALL SELECT schema_name, table_name FROM duckdb_tables() "
        "WHERE schema_name IN $schemas AND comment = $spark",
        {"schemas": list(ATTACHED_SCHEMAS), "spark": SPARK_BUILT},
    ).fetchall()


def models_engine(warehouse: Path) -> str | None:
    """Which engine built the warehouse file's marts: "spark" (what a Spark build attached: views,
    or empty tables it marked SPARK_BUILT), "duckdb" (other tables), or None (none built yet). Each
    engine's incremental models follow only its own builds, so a switch makes the next build a
    full one."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if _attached_by_spark(con):
            return "spark"
        (tables,) = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name IN ?", [list(ATTACHED_SCHEMAS)]
        ).fetchone()
    return "duckdb" if tables else None


def dbt_state_tables(settings: Settings) -> dict[str, str]:
    """dbt's state tables of Spark's builds (dbt/macros/batch.sql), as DuckDB relations over their
    Parquet files, by name: those that have a file."""
    state = settings.spark_home.resolve() / "tables" / "dbt_state.db"
    return {
        name: f"read_parquet('{sql_path(state / name / '*.parquet')}')"
        for name in ("batch", "processed_loads")
        if any((state / name).glob("*.parquet"))
    }


def _path(location: str) -> Path:
    """A local path from a location Spark gives (`file:/...`)."""
    return Path(unquote(urlparse(location).path))


def _drop(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    kinds = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {schema}.{name}")
