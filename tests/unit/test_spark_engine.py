"""What the Spark path does around Spark, tested without it: the Thrift sessions' settings, and an
empty model's columns from Spark's DESCRIBE."""

from __future__ import annotations

import importlib.metadata

import pytest
import yaml

from flows import spark_engine
from pipelines.settings import DBT_DIR, SettingsError


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
        ("# Partition Information", "", ""),
        ("# col_name", "data_type", "comment"),
        ("event_date", "date", None),
        ("", "", ""),
        ("# Detailed Table Information", "", ""),
        ("Location", "file:/spark/tables/marts.db/fct", ""),
    ]
    assert spark_engine._duckdb_columns("marts.fct", described) == (
        '"event_key" VARCHAR, "duration_seconds" INTEGER, "rate" DECIMAL(10,4), '
        '"event_at" TIMESTAMP, "event_date" DATE'
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
