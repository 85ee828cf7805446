"""Run dbt in-process against the warehouse, then release the DuckDB file.

dbt-duckdb keeps one DuckDB handle open for a whole command (`keep_open: true` in
dbt/profiles.yml: opening one per node is slower); the flow's other steps and any reader need the
file afterwards, so every invocation closes it here. (Not named dbt.py: run as a
script, flows/ is first on sys.path and would shadow the dbt package.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb

from flows.dbt_parse import keep_parse, load_kept_parse, parse_key
from pipelines.settings import DBT_DIR, Settings

# The lineage columns staging models carry: where a failing row came from.
LINEAGE = ("source_file", "line_number")
ROWS_NAMED = 5

# Every run builds the models and tests the batch of new loads; the unit tests run in `make test`
# (tests/test_dbt.py), the data tests over every row (tag nightly) in the nightly run.
BUILD = ["build", "--exclude-resource-type", "unit_test", "--exclude", "tag:nightly"]
NIGHTLY_TESTS = ["test", "--select", "tag:nightly"]


class DataTestFailed(RuntimeError):
    """A dbt data test failed although the rows passed the contract; the message is one line."""


class ColumnsChanged(RuntimeError):
    """An incremental model's columns differ from its table's (a new version of the dbt project):
    only a --full-refresh build can apply them."""


# dbt's message when on_schema_change='fail' finds a model's new columns differ from its table's
OUT_OF_SYNC = "The source and target schemas on this incremental model are out of sync"


def dbt_vars(settings: Settings) -> dict[str, str]:
    """What the dbt project reads of the settings, as dbt vars: the warehouse and memory limit
    (dbt/profiles.yml), on Spark where silver is published (dbt/macros/spark.sql), and the
    reporting date (the answers)."""
    known = {"warehouse": str(settings.warehouse), "duckdb_memory_limit": settings.duckdb_memory_limit}
    if settings.engine == "spark":
        known |= {"spark_home": str(settings.spark_home.resolve())}
    if settings.dbt_target == "spark_thrift":
        known |= {
            "spark_thrift_host": settings.spark_thrift_host,
            "spark_thrift_port": str(settings.spark_thrift_port),
            "spark_thrift_user": settings.spark_thrift_user,
        }
    return known | ({"as_of": settings.as_of.isoformat()} if settings.as_of else {})


def run_dbt(
    settings: Settings,
    args: list[str],
    callbacks: list[Callable] | None = None,
    extra_vars: dict[str, str] | None = None,
):
    """`dbt <args>` on the project in dbt/ against the settings' warehouse (on Spark, in the run's
    Spark session, started here when it is not yet, or on the Spark Thrift server); the
    dbtRunnerResult."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import reset_adapters
    from dbt.cli.main import dbtRunner

    if settings.dbt_target == "spark":
        from flows.spark_engine import start_session

        start_session(settings)

    all_vars = dbt_vars(settings) | (extra_vars or {})
    key = parse_key(settings.dbt_target, settings.warehouse.stem, all_vars)
    kept = load_kept_parse(key)
    try:
        result = dbtRunner(manifest=kept, callbacks=callbacks or []).invoke(
            [
                *args,
                *("--target", settings.dbt_target),
                *("--vars", json.dumps(all_vars)),
                *("--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)),
                *("--target-path", str(settings.dbt_work_dir / "target")),
                *("--log-path", str(settings.dbt_work_dir / "logs")),
            ]
        )
        if kept is None and result.exception is None:  # dbt parsed: keep it for every warehouse
            keep_parse(key, settings.dbt_work_dir / "target")
        return result
    finally:
        DuckDBConnectionManager.close_all_connections()
        reset_adapters()


def full_refresh_unfinished(settings: Settings) -> bool:
    """Whether the last `--full-refresh` build started but did not finish (dbt/macros/batch.sql):
    until one finishes, the incremental models may be out of step, so the next build refreshes.
    dbt keeps that state in the warehouse file, or on Spark in Spark's tables (read here as
    Parquet files, without starting Spark)."""
    if settings.engine == "spark":
        from flows.spark_engine import dbt_state_tables

        database, tables = ":memory:", dbt_state_tables(settings)
    else:
        database, tables = str(settings.warehouse), _dbt_state_tables(settings.warehouse)
    if "batch" not in tables:
        return False
    processed = tables.get("processed_loads", "(SELECT NULL::TIMESTAMP AS built_at)")
    with duckdb.connect(database, read_only=database != ":memory:") as con:
        con.execute("SET TimeZone = 'UTC'")  # Spark writes some of these instants with a zone
        return con.execute(
            f"SELECT count(*) > 0 FROM {tables['batch']} WHERE full_refresh AND started_at > "
            f"coalesce((SELECT max(built_at) FROM {processed}), '-infinity')"
        ).fetchone()[0]


def _dbt_state_tables(warehouse: Path) -> dict[str, str]:
    """dbt's state tables in the warehouse file, by name."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'dbt_state' "
            "AND table_name IN ('batch', 'processed_loads')"
        ).fetchall()
    return {name: f"dbt_state.{name}" for (name,) in names}


def failure(settings: Settings, args: list[str], result) -> Exception:
    """Why a dbt build failed, as one line: for failing data tests, each test with its failing
    rows' files and lines (dbt re-runs just those tests, storing their failing rows in the
    `dbt_test__audit` schema, where they stay for review)."""
    failed = [r for r in (result.result or []) if str(r.status) in ("fail", "error")]
    changed = [r.node.name for r in failed if OUT_OF_SYNC in (r.message or "")]
    if changed:
        return ColumnsChanged(f"the columns of {', '.join(changed)} changed since they were built")
    tests = [r.node.name for r in failed if r.node.resource_type == "test" and str(r.status) == "fail"]
    if tests and len(tests) == len(failed) and settings.engine == "spark":  # its rows stay in Spark
        return DataTestFailed("dbt data test failed despite the contract: " + "; ".join(tests))
    if not failed or len(tests) < len(failed):
        reasons = "; ".join(f"{r.node.name}: {' '.join((r.message or '').split())}" for r in failed)
        return RuntimeError(f"dbt build failed: {reasons or ' '.join(str(result.exception).split())}")
    rerun_args = ["test", "--quiet", "--store-failures", "--select", *tests]
    stored = run_dbt(settings, rerun_args).result or []
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        described = [_describe(con, r) for r in stored if str(r.status) == "fail"]
    return DataTestFailed(
        "dbt data test failed despite the contract: "
        + "; ".join(described or tests)
        + " (failing rows kept in schema dbt_test__audit)"
    )


def _describe(con: duckdb.DuckDBPyConnection, result) -> str:
    """`<test>: N rows (file line L, ...)`, or without lines when the rows carry no lineage."""
    rows = f"{result.failures:,} row{'s' if result.failures != 1 else ''}"
    relation = result.node.relation_name
    columns = [c[0] for c in con.execute(f"SELECT * FROM {relation} LIMIT 0").description] if relation else []
    if not set(LINEAGE) <= set(columns):
        return f"{result.node.name}: {rows}"
    named = con.execute(
        f"SELECT source_file, line_number FROM {relation} ORDER BY 1, 2 LIMIT {ROWS_NAMED}"
    ).fetchall()
    where = ", ".join(f"{file} line {line}" for file, line in named)
    more = f" and {result.failures - len(named):,} more" if result.failures > len(named) else ""
    return f"{result.node.name}: {rows} ({where}{more})"
