"""pipelines/settings.py on its own: each setting's parser, the order of precedence, a
deployment's JSON parameters, and notification URLs that never print."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.encoders import jsonable_encoder
from pydantic import TypeAdapter

from pipelines.settings import Settings, SettingsError

SECRET = "json://hooks.example/s3cret-token"


@pytest.mark.parametrize(
    ("variable", "text", "field", "value"),
    [
        ("PODCAST_DATA_DIR", "~/logs", "data_dir", Path("~/logs").expanduser()),
        ("PODCAST_AS_OF", "2024-06-01", "as_of", date(2024, 6, 1)),
        ("PODCAST_FULL_REFRESH", "Yes", "full_refresh", True),
        ("PODCAST_REPLAY_QUARANTINE", "off", "replay_quarantine", False),
        (
            "PODCAST_REFERENCE_TIME",
            "2025-01-01T10:00:00",
            "reference_time",
            datetime(2025, 1, 1, 10, tzinfo=UTC),
        ),
        ("PODCAST_DUCKDB_MEMORY_LIMIT", " 512MB ", "duckdb_memory_limit", "512MB"),
        ("PODCAST_LOCK_WAIT_SECONDS", "2.5", "lock_wait_seconds", 2.5),
        ("PODCAST_RUN_TIMEOUT_SECONDS", "0", "run_timeout_seconds", 0.0),
        ("PODCAST_DATA_DOCS_KEEP_RUNS", "7", "data_docs_keep_runs", 7),
        ("PODCAST_ENGINE", " Spark ", "engine", "spark"),
        ("PODCAST_SPARK_DIR", "~/spark", "spark_dir", Path("~/spark").expanduser()),
        ("PODCAST_SPARK_MASTER", "local[4]", "spark_master", "local[4]"),
        ("PODCAST_BRONZE_URL", "s3://bucket/podcast/", "bronze_url", "s3://bucket/podcast"),
        ("PODCAST_BRONZE_URL", "/data/lake", "bronze_url", "file:///data/lake"),
        ("PODCAST_BRONZE_URL", "file:///data/my%20lake", "bronze_url", "file:///data/my lake"),
    ],
)
def test_each_variable_is_parsed_by_its_own_parser(
    variable: str, text: str, field: str, value: object
) -> None:
    assert getattr(Settings.from_env({variable: text}), field) == value


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        ("PODCAST_AS_OF", "2024-6-1"),
        ("PODCAST_FULL_REFRESH", "maybe"),
        ("PODCAST_DUCKDB_MEMORY_LIMIT", "lots"),
        ("PODCAST_LOCK_WAIT_SECONDS", "-1"),
        ("PODCAST_LOCK_WAIT_SECONDS", "1GB"),  # a memory size is no duration
        ("PODCAST_DATA_DOCS_KEEP_RUNS", "0"),
        ("PODCAST_ENGINE", "postgres"),
        ("PODCAST_BRONZE_URL", "s3://bucket/it's"),  # it reaches SQL as a literal
    ],
)
def test_a_bad_value_is_one_line_naming_its_variable(variable: str, text: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: text})
    assert str(raised.value).startswith(f"{variable}: ") and "\n" not in str(raised.value)


def test_flags_win_over_variables_and_variables_over_defaults() -> None:
    environ = {"PODCAST_WAREHOUSE": "/env/w.duckdb", "PODCAST_EXPORTS_DIR": "/env/exports"}
    settings = Settings.from_env(environ, warehouse=Path("/flag/w.duckdb"), as_of=None)
    assert settings.warehouse == Path("/flag/w.duckdb")  # the flag
    assert settings.exports_dir == Path("/env/exports")  # the variable
    assert settings.as_of is None and settings.lock_wait_seconds == 0.0  # a flag of None, the defaults


def test_an_unknown_override_is_refused() -> None:
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.from_env({}, warehuose=Path("/typo"))


def test_a_deployments_json_parameters_go_over_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("PODCAST_EXPORTS_DIR", "/env/exports")
    parameters = json.loads(
        '{"as_of": "2024-05-31", "full_refresh": true, "notify_urls": ["json://a", "json://b"]}'
    )
    settings = TypeAdapter(Settings | None).validate_python(parameters)  # as Prefect validates the flow's
    assert settings.as_of == date(2024, 5, 31) and settings.full_refresh is True
    assert settings.exports_dir == Path("/env/exports")
    assert [url.get_secret_value() for url in settings.notify_urls] == ["json://a", "json://b"]
    given = Settings.from_env({})
    assert Settings.from_parameters(given) is given  # the command line's object, as it is


def test_notification_urls_never_print_nor_serialize(monkeypatch) -> None:
    monkeypatch.setenv("PODCAST_NOTIFY_URLS", f"{SECRET}, json://other")
    settings = Settings.from_env()
    assert len(settings.notify_urls) == 2
    assert settings.notify_urls[0].get_secret_value() == SECRET
    shown = [repr(settings), str(settings), json.dumps(jsonable_encoder(settings))]  # Prefect's parameters
    assert not any("s3cret" in text for text in shown)


def test_spark_keeps_its_warehouse_beside_the_warehouse_file_unless_told() -> None:
    assert Settings(warehouse=Path("/w/podcast.duckdb")).spark_home == Path("/w/.podcast.spark")
    assert Settings(spark_dir=Path("/big/spark")).spark_home == Path("/big/spark")


def test_spark_without_its_extra_is_one_line_naming_the_make_target(monkeypatch) -> None:
    import importlib.metadata

    from flows import spark_engine

    def version(distribution: str) -> str:  # pyspark missing, dbt-spark there
        if distribution == "pyspark":
            raise importlib.metadata.PackageNotFoundError(distribution)
        return "1.0"

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(SettingsError) as raised:
        spark_engine.check_installed()
    assert str(raised.value) == "--engine spark needs pyspark: run make install-spark"


def test_relative_paths_are_taken_from_the_working_directory(monkeypatch, tmp_path: Path) -> None:
    """Not from dbt's project folder, where the build runs: its target and logs stay beside the
    warehouse."""
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"PODCAST_WAREHOUSE": "wh/w.duckdb"}, exports_dir=Path("out"))
    assert settings.warehouse == tmp_path / "wh" / "w.duckdb" and settings.exports_dir == tmp_path / "out"
    assert settings.dbt_work_dir == tmp_path / "wh" / ".w.dbt"


def test_an_empty_bronze_url_keeps_bronze_in_the_warehouse_file() -> None:
    assert Settings.from_parameters({"bronze_url": " "}).bronze_url == ""


def test_a_thrift_server_makes_dbt_build_on_it_and_its_port_is_checked() -> None:
    assert Settings().dbt_target == "local"
    assert Settings(engine="spark").dbt_target == "spark"
    thrift = Settings.from_env({"PODCAST_ENGINE": "spark", "PODCAST_SPARK_THRIFT_HOST": "spark.internal"})
    assert (thrift.dbt_target, thrift.spark_thrift_port) == ("spark_thrift", 10000)
    with pytest.raises(SettingsError, match="PODCAST_SPARK_THRIFT_PORT: not a port"):
        Settings.from_env({"PODCAST_SPARK_THRIFT_PORT": "70000"})
