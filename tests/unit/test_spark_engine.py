"""What the Spark path does around Spark, tested without it: the Thrift sessions' settings, an empty
model's columns from Spark's DESCRIBE, and a spark home kept to the catalog its tables are in."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import yaml

from flows import spark_engine
from pipelines.settings import DBT_DIR, Settings, SettingsError


def test_dbt_and_the_flow_open_thrift_sessions_with_the_same_sql_settings() -> None:
    profile = yaml.safe_load((DBT_DIR / "profiles.yml").read_text())["podcast"]["outputs"]["spark_thrift"]
    assert spark_engine.thrift_session_config().items() <= profile["server_side_parameters"].items()
    assert spark_engine.thrift_session_config() == {
        "set:hiveconf:spark.sql.session.timeZone": "UTC",
        "set:hiveconf:spark.sql.timestampType": "TIMESTAMP_NTZ",
    }


def test_an_empty_models_columns_are_read_from_describe() -> None:
    described = [
        ("event_key", "string", None),
        ("duration_seconds", "int", None),
        ("rate", "decimal(10,4)", None),
        ("event_at", "timestamp_ntz", None),
        ("event_date", "date", None),
        ("country_code", "char(2)", None),
        ("# Partition Information", "", ""),
        ("# col_name", "data_type", "comment"),
        ("event_date", "date", None),
        ("", "", ""),
        ("# Detailed Table Information", "", ""),
        ("Location", "file:/spark/tables/marts.db/fct", ""),
    ]
    assert spark_engine._duckdb_columns("marts.fct", described) == (
        '"event_key" VARCHAR, "duration_seconds" INTEGER, "rate" DECIMAL(10,4), '
        '"event_at" TIMESTAMP, "event_date" DATE, "country_code" VARCHAR'
    )
    with pytest.raises(RuntimeError, match="marts.fct: column tags: no DuckDB type for array<string>"):
        spark_engine._duckdb_columns("marts.fct", [("tags", "array<string>", None)])


def test_a_thrift_server_without_pyhive_is_one_line(monkeypatch) -> None:
    def version(distribution: str) -> str:
        if distribution == "PyHive":
            raise importlib.metadata.PackageNotFoundError(distribution)
        return "1.0"

    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(spark_engine.shutil, "which", lambda name: f"/usr/bin/{name}")
    spark_engine.check_installed()
    with pytest.raises(SettingsError, match="^a Spark Thrift server needs PyHive: run make install-spark$"):
        spark_engine.check_installed(thrift=True)


def test_a_spark_home_stays_with_the_catalog_its_tables_are_in(tmp_path: Path) -> None:
    """The run's session keeps the tables' catalog in the home's metastore, a Thrift server in its
    own: a home cannot move from one to the other (refused before Spark is used, in one line)."""
    session = Settings(warehouse=tmp_path / "podcast.duckdb", engine="spark")
    spark_engine.check_spark(session)  # a new home: taken, and recorded
    assert (session.spark_home / spark_engine.CATALOG_RECORD).read_text() == "session"
    thrift = Settings(warehouse=session.warehouse, engine="spark", spark_thrift_host="spark.internal")
    with pytest.raises(SettingsError, match="built, in its catalog: unset PODCAST_SPARK_THRIFT_HOST, or use"):
        spark_engine.check_spark(thrift)

    older = Settings(warehouse=tmp_path / "older" / "podcast.duckdb", engine="spark", spark_thrift_host="x")
    (older.spark_home / "metastore").mkdir(parents=True)  # a session's home from before the record
    with pytest.raises(SettingsError, match="the run's own Spark session built"):
        spark_engine.check_spark(older)

    (tmp_path / "served").mkdir()
    (tmp_path / "served" / spark_engine.CATALOG_RECORD).write_text("thrift")
    served = Settings(warehouse=session.warehouse, engine="spark", spark_dir=tmp_path / "served")
    with pytest.raises(
        SettingsError, match="a Spark Thrift server built, in its catalog: set PODCAST_SPARK_THRIFT_HOST"
    ):
        spark_engine.check_spark(served)
