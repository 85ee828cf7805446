"""dbt models on a real warehouse: incremental = full refresh, reconciliation, late reference data."""

from __future__ import annotations

import shutil
from pathlib import Path

from flows.dbt_build import run_dbt
from gx.validate import validate
from pipelines.generate import generate
from pipelines.ingest import ingest
from pipelines.settings import Settings
from tests.conftest import event, query, write_csv, write_lines

MARTS = (
    "marts.fct_listening_events",
    "marts.dim_users",
    "marts.dim_episodes",
    "marts.dim_date",
    "marts.fct_listening_sessions",
    "marts.user_engagement",
    "analysis.q1_top_completed_episodes",
    "analysis.q2_listen_through_rate_by_country",
    "analysis.q3_multi_episode_listeners",
    "analysis.q3_multi_episode_listeners_by_day",
)


def dbt_build(settings: Settings, monkeypatch, *extra: str) -> None:
    monkeypatch.setenv("PODCAST_WAREHOUSE", str(settings.warehouse))  # restored after the test
    result = run_dbt(settings, ["build", "--quiet", *extra])
    assert result.success, result.exception or [r.message for r in result.result if r.status != "pass"]


def run_all(settings: Settings, monkeypatch, *extra: str) -> None:
    ingest(settings)
    validate(settings.warehouse, settings.gx_dir, settings.now)
    dbt_build(settings, monkeypatch, *extra)


def snapshot(settings: Settings) -> dict[str, list]:
    return {table: sorted(query(settings, f"SELECT * FROM {table}"), key=repr) for table in MARTS}


def test_incremental_builds_equal_a_full_refresh(settings: Settings, tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "generated"
    generate(source, 9_000, seed=5, n_files=3, dirty_rate=0.1)
    shutil.rmtree(settings.data_dir)
    for folder in ("users", "episodes"):
        shutil.copytree(source / folder, settings.data_dir / folder)
    for part in sorted((source / "events").glob("*.jsonl")):
        write_lines(settings.data_dir / "events" / part.name, [])
        shutil.copy(part, settings.data_dir / "events" / part.name)
        run_all(settings, monkeypatch)
    incremental = snapshot(settings)
    assert query(settings, "SELECT count(DISTINCT _dlt_load_id) FROM silver.events") == [(3,)]
    dbt_build(settings, monkeypatch, "--full-refresh")
    assert snapshot(settings) == incremental
    # reconciliation: fact rows = distinct business keys of valid events
    assert query(settings, "SELECT count(*) FROM marts.fct_listening_events") == query(
        settings,
        "SELECT count(*) FROM (SELECT DISTINCT user_id, episode_id, event_type, event_ts FROM silver.events)",
    )


def test_duplicates_across_files_keep_the_latest_load(
    settings: Settings, data_dir: Path, monkeypatch
) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(kind="complete", duration=1500)])
    run_all(settings, monkeypatch)
    write_lines(data_dir / "events" / "b.jsonl", [event(kind="complete", duration=1700)])
    run_all(settings, monkeypatch)
    assert query(settings, "SELECT count(*) FROM silver.events") == [(2,)]
    assert query(settings, "SELECT duration_seconds FROM marts.fct_listening_events") == [(1700,)]


def test_late_reference_rows_link_up(settings: Settings, data_dir: Path, monkeypatch) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(user="user_late", kind="complete", duration=900)])
    run_all(settings, monkeypatch)
    assert query(
        settings, "SELECT country, is_in_reference FROM marts.dim_users WHERE user_id = 'user_late'"
    ) == [("unknown", False)]
    assert query(settings, "SELECT country FROM analysis.q2_listen_through_rate_by_country") == [("unknown",)]
    write_csv(
        data_dir / "users" / "users.csv",
        "user_id,signup_date,country\nuser_1,2023-01-01,US\nuser_late,2023-05-01,SE\n",
    )
    run_all(settings, monkeypatch)
    assert query(
        settings, "SELECT country, is_in_reference FROM marts.dim_users WHERE user_id = 'user_late'"
    ) == [("SE", True)]
    assert query(
        settings, "SELECT country, avg_listen_through_rate FROM analysis.q2_listen_through_rate_by_country"
    ) == [("SE", 0.5)]


def test_as_of_must_be_a_date(settings: Settings, data_dir: Path, monkeypatch) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    ingest(settings)
    validate(settings.warehouse, settings.gx_dir, settings.now)
    injected = '{as_of: "2024-01-01\'; DROP TABLE marts.dim_users; --"}'
    monkeypatch.setenv("PODCAST_WAREHOUSE", str(settings.warehouse))
    result = run_dbt(settings, ["build", "--quiet", "--vars", injected])
    assert not result.success
    assert query(settings, "SELECT count(*) FROM silver.events") == [(1,)]


def test_docs_describe_every_model_and_column(settings: Settings, data_dir: Path, monkeypatch) -> None:
    import json

    write_lines(data_dir / "events" / "a.jsonl", [event(), event(kind="complete", duration=1700)])
    run_all(settings, monkeypatch)
    target = settings.warehouse.parent / "dbt-target"
    result = run_dbt(settings, ["docs", "generate", "--quiet", "--target-path", str(target)])
    assert result.success
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    assert len(models) >= 15
    undocumented = [uid for uid, node in models.items() if not node["description"]]
    for uid, node in models.items():
        described = {name.lower() for name, column in node["columns"].items() if column["description"]}
        undocumented += [f"{uid}.{c}" for c in catalog["nodes"][uid]["columns"] if c.lower() not in described]
    assert undocumented == []
