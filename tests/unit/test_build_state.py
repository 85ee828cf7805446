"""What the flow reads before a build to choose a full one, on either engine, without starting
Spark: which engine built the warehouse's models, and whether a --full-refresh did not finish
(dbt's state in the warehouse file, or as Spark's Parquet tables)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.dbt_build import full_refresh_unfinished
from flows.spark_engine import SPARK_BUILT, detach_stale, models_engine
from pipelines.settings import Settings

BATCH = (
    "SELECT '' AS after_load_id, '2' AS through_load_id, {full} AS full_refresh, "
    "TIMESTAMP '{at}' AS started_at"
)
PROCESSED = "SELECT '1' AS through_load_id, false AS full_refresh, TIMESTAMP '{at}' AS built_at"


def test_the_engine_that_built_the_models_is_read_from_the_warehouse_file(tmp_path: Path) -> None:
    warehouse = tmp_path / "podcast.duckdb"
    assert models_engine(warehouse) is None  # no file yet
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA marts; CREATE SCHEMA staging; CREATE VIEW staging.v AS SELECT 1 AS x")
    assert models_engine(warehouse) is None  # staging views are every build's
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE marts.fct AS SELECT 1 AS x")
    assert models_engine(warehouse) == "duckdb"
    with duckdb.connect(str(warehouse)) as con:  # a Spark build attaches its models as views
        con.execute("DROP TABLE marts.fct; CREATE VIEW marts.fct AS SELECT 1 AS x")
    assert models_engine(warehouse) == "spark"
    with duckdb.connect(str(warehouse)) as con:  # and a model without rows as an empty table, marked
        con.execute("DROP VIEW marts.fct; CREATE TABLE marts.fct AS SELECT 1 AS x LIMIT 0")
        con.execute(f"COMMENT ON TABLE marts.fct IS '{SPARK_BUILT}'")
    assert models_engine(warehouse) == "spark"


def test_what_an_earlier_spark_build_attached_and_this_one_did_not_is_dropped(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "podcast.duckdb")) as con:
        con.execute("CREATE SCHEMA marts; CREATE SCHEMA answers; CREATE SCHEMA staging")
        con.execute("CREATE VIEW marts.fct AS SELECT 1 AS x; CREATE VIEW marts.gone AS SELECT 1 AS x")
        con.execute("CREATE TABLE answers.gone_empty (x INTEGER); CREATE TABLE answers.q1 (x INTEGER)")
        con.execute(f"COMMENT ON TABLE answers.gone_empty IS '{SPARK_BUILT}'")
        con.execute(f"COMMENT ON TABLE answers.q1 IS '{SPARK_BUILT}'")
        con.execute("CREATE TABLE marts.built_by_duckdb (x INTEGER); CREATE VIEW staging.v AS SELECT 1 AS x")
        detach_stale(con, ["marts.fct", "answers.q1"])
        left = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() UNION ALL "
            "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
        ).fetchall()
    assert [name for (name,) in left] == ["answers.q1", "marts.built_by_duckdb", "marts.fct", "staging.v"]


def write_state(settings: Settings, batch: str | None, processed: str | None) -> None:
    """dbt's state tables as Spark writes them: Parquet files under its warehouse folder, or in
    the warehouse file on DuckDB."""
    if settings.engine == "spark":
        state = settings.spark_home / "tables" / "dbt_state.db"
        with duckdb.connect() as con:
            for name, select in (("batch", batch), ("processed_loads", processed)):
                (state / name).mkdir(parents=True, exist_ok=True)
                if select:
                    con.execute(f"COPY ({select}) TO '{state / name / 'part-0.parquet'}' (FORMAT parquet)")
        return
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS dbt_state")
        con.execute(f"CREATE OR REPLACE TABLE dbt_state.batch AS {batch}")
        rows = processed or f"{PROCESSED.format(at='2000-01-01')} LIMIT 0"
        con.execute(f"CREATE OR REPLACE TABLE dbt_state.processed_loads AS {rows}")


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_an_unfinished_full_refresh_is_seen_on_either_engine(tmp_path: Path, engine: str) -> None:
    settings = Settings(warehouse=tmp_path / "podcast.duckdb", engine=engine)
    duckdb.connect(str(settings.warehouse)).close()
    assert not full_refresh_unfinished(settings)  # never built
    write_state(settings, BATCH.format(full="true", at="2024-01-02 10:00"), None)
    assert full_refresh_unfinished(settings)  # a full refresh started, no build ever finished
    write_state(
        settings, BATCH.format(full="true", at="2024-01-02 10:00"), PROCESSED.format(at="2024-01-02 09:00")
    )
    assert full_refresh_unfinished(settings)  # started after the last build that finished
    write_state(
        settings, BATCH.format(full="true", at="2024-01-02 10:00"), PROCESSED.format(at="2024-01-02 11:00")
    )
    assert not full_refresh_unfinished(settings)  # and finished
    write_state(
        settings, BATCH.format(full="false", at="2024-01-02 12:00"), PROCESSED.format(at="2024-01-02 11:00")
    )
    assert not full_refresh_unfinished(settings)  # an incremental build that failed: the batch is built again
