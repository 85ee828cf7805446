"""The Prefect flow and its command line: exports, summary, caching, retries, notifications, lock."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.testing.utilities import prefect_test_harness

import flows.pipeline as pipeline
from flows.lock import WarehouseBusy, warehouse_lock
from flows.pipeline import podcast_pipeline
from flows.summary import summary_lines
from pipelines.generate import generate
from pipelines.settings import PROJECT_DIR, Settings
from tests.conftest import event, query, write_csv, write_lines
from tests.test_contract import IMPOSSIBLE_INSTANTS

pytestmark = pytest.mark.slow
EXPORTS = {
    "q1_top_completed_episodes": ["rank", "episode_id", "title", "podcast_id", "completions"],
    "q2_listen_through_rate_by_country": ["country", "avg_listen_through_rate", "completions"],
    "q3_multi_episode_listeners": ["users_with_3plus_episodes_in_a_day"],
    "q3_multi_episode_listeners_by_day": ["day", "users"],
}


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def flow_settings(settings: Settings, monkeypatch) -> Settings:
    monkeypatch.setenv("PODCAST_GX_DIR", str(settings.gx_dir))
    monkeypatch.setenv("PODCAST_REFERENCE_TIME", settings.reference_time.isoformat())
    return settings


def assert_scopes_consistent(summary: dict) -> None:
    """Each scope adds up on its own (see flows/summary.py)."""
    run, held = summary["this_run"]["events"], summary["warehouse"]["events"]
    assert run["loaded"] == run["valid"] + run["quarantined"], run
    assert run["valid"] == run["new"] + run["duplicates"], run
    assert held["bronze"] == held["valid"] + held["quarantined"], held
    assert held["valid"] == held["distinct"] + held["duplicates_removed"], held


def answers(settings: Settings) -> dict[str, bytes]:
    return {name: (settings.exports_dir / f"{name}.csv").read_bytes() for name in EXPORTS}


def run_flow(settings: Settings, nightly_tests: bool = False, **overrides):
    """The flow on the environment's settings (as a deployment's run has them) with the test's
    folders and any overrides: the one settings object, built once."""
    run_settings = Settings.from_env(
        data_dir=settings.data_dir,
        warehouse=settings.warehouse,
        exports_dir=settings.exports_dir,
        **overrides,
    )
    return podcast_pipeline(run_settings, nightly_tests=nightly_tests, return_state=True)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT_DIR / "flows" / "main.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data-dir", "/nonexistent/dir"], "data directory not found"),
        (["--as-of", "2024-13-45"], "not a date"),
        (["--as-of", "2024-01-01'; DROP TABLE marts.dim_users; --"], "not a date"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_help_explains_every_option() -> None:
    text = cli("--help").stdout
    for option in (
        "--data-dir",
        "--warehouse",
        "--exports-dir",
        "--as-of",
        "--full-refresh",
        "--replay-quarantine",
    ):
        assert option in text


def test_end_to_end_exports_and_cached_rerun(flow_settings: Settings) -> None:
    settings = flow_settings
    manifest = generate(settings.data_dir, 6_000, seed=9, n_files=2, dirty_rate=0.03)
    state = run_flow(settings)
    assert state.is_completed(), state.message
    summary = state.result()

    exports = settings.exports_dir
    for name, columns in EXPORTS.items():
        with open(exports / f"{name}.csv", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == columns
        assert len(rows) - 1 == query(settings, f"SELECT count(*) FROM answers.{name}")[0][0]
        assert (exports / f"{name}.parquet").stat().st_size > 0
    assert (exports / "q1_top_completed_episodes.svg").read_text().startswith("<svg ")
    assert (exports / "q2_listen_through_rate_by_country.svg").read_text().startswith("<svg ")

    on_disk = json.loads((exports / "run_summary.json").read_text())
    events = on_disk["this_run"]["events"]
    assert events["loaded"] == manifest["events"] == on_disk["warehouse"]["events"]["bronze"]
    assert events["valid"] + events["quarantined"] == manifest["events"]
    assert events["duplicates"] >= manifest["dirt"]["duplicate"] > 0
    assert_scopes_consistent(on_disk)
    assert sum(on_disk["this_run"]["quarantine_reasons"].values()) >= events["quarantined"] > 0
    assert on_disk["as_of"] == summary["as_of"] and len(on_disk["load_ids"]) == 1
    assert set(on_disk["seconds"]) == {"ingest", "validate", "transform", "export"}
    assert all(seconds > 0 for seconds in on_disk["seconds"].values())
    steps = on_disk["contract_step_seconds"]
    assert set(steps) == {"stage", "gx_validate", "split_wait", "commit", "data_docs"}
    assert sum(steps.values()) <= on_disk["seconds"]["validate"]
    assert not list(exports.glob(".*.tmp"))

    before = {p.name: p.read_bytes() for p in exports.glob("*.csv")}
    built = query(settings, "SELECT built_at FROM pipeline_state.last_build")
    rerun = run_flow(settings)
    assert rerun.is_completed()
    assert {p.name: p.read_bytes() for p in exports.glob("*.csv")} == before
    # nothing new: the first run's build, from the cache, although that one was a full build
    assert query(settings, "SELECT built_at FROM pipeline_state.last_build") == built
    assert json.loads((exports / "run_summary.json").read_text())["this_run"]["events"]["loaded"] == 0

    with get_client(sync_client=True) as client:
        keys = {artifact.key for artifact in client.read_artifacts()}
    assert {"run-summary", "quarantine-reasons", "answers", "data-docs"} <= keys

    # New data invalidates the cached build: never a stale answer. The daily run also runs the
    # data tests over every row.
    facts_before = query(settings, "SELECT count(*) FROM marts.fct_listening_events")[0][0]
    generate(settings.data_dir / "more", 1_000, seed=10, n_files=1)
    (settings.data_dir / "more" / "events" / "part-00001.jsonl").rename(
        settings.data_dir / "events" / "late.jsonl"
    )
    assert run_flow(settings, nightly_tests=True).is_completed()
    assert query(settings, "SELECT count(*) FROM marts.fct_listening_events")[0][0] > facts_before
    assert json.loads((exports / "run_summary.json").read_text())["this_run"]["events"]["loaded"] == 1_000
    with get_client(sync_client=True) as client:
        nightly = [a for a in client.read_artifacts() if a.key == "dbt-nightly-tests"]
    rows = json.loads(nightly[0].data) if nightly and isinstance(nightly[0].data, str) else []
    tests = [row for row in rows if row["node"].startswith("test.")]
    assert len(tests) >= 10 and all(row["status"] == "pass" for row in tests)


def test_a_model_whose_columns_changed_is_rebuilt_not_wedged(flow_settings: Settings) -> None:
    """A warehouse built by an older version of the project (here: sessions' listened_seconds as
    HUGEINT, as before it was cast to BIGINT) takes the new columns on its next build."""
    settings = flow_settings
    generate(settings.data_dir, 2_000, seed=4, n_files=1)
    assert run_flow(settings).is_completed()
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("ALTER TABLE marts.fct_listening_sessions ALTER listened_seconds TYPE HUGEINT")
    generate(settings.data_dir / "more", 500, seed=5, n_files=1)
    (settings.data_dir / "more" / "events" / "part-00001.jsonl").rename(
        settings.data_dir / "events" / "b.jsonl"
    )

    state = run_flow(settings)
    assert state.is_completed(), state.message
    column_type = query(
        settings,
        "SELECT data_type FROM information_schema.columns WHERE table_schema = 'marts' "
        "AND table_name = 'fct_listening_sessions' AND column_name = 'listened_seconds'",
    )
    assert column_type == [("BIGINT",)]
    fresh = Settings(
        data_dir=settings.data_dir,
        warehouse=settings.warehouse.with_name("fresh.duckdb"),
        exports_dir=settings.exports_dir.with_name("fresh-exports"),
    )
    assert run_flow(fresh).is_completed()
    assert answers(settings) == answers(fresh)


def test_a_cached_build_is_used_only_while_the_warehouse_holds_it(flow_settings: Settings) -> None:
    """Build A, then B (another as_of), then A's parameters again with nothing new: A's cached
    build must not be trusted, as B replaced its models since."""
    settings = flow_settings
    generate(settings.data_dir, 2_000, seed=6, n_files=1)
    assert run_flow(settings).is_completed()
    first = answers(settings)
    assert run_flow(settings, as_of=date(2000, 1, 1)).is_completed()
    assert answers(settings) != first
    assert run_flow(settings).is_completed()
    assert answers(settings) == first


def test_transient_ingest_failure_is_retried(flow_settings: Settings, monkeypatch) -> None:
    generate(flow_settings.data_dir, 500, seed=2, n_files=1)
    calls = []

    def flaky(settings):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("transient: disk briefly unavailable")
        return real_ingest(settings)

    real_ingest = pipeline.ingest
    monkeypatch.setattr(pipeline, "ingest", flaky)
    monkeypatch.setattr(
        pipeline, "ingest_new_files", pipeline.ingest_new_files.with_options(retry_delay_seconds=0)
    )
    state = run_flow(flow_settings)
    assert state.is_completed() and len(calls) == 2
    assert state.result()["this_run"]["events"]["loaded"] == 500


def test_bronze_at_a_url_gives_the_same_runs_as_bronze_in_the_file(
    flow_settings: Settings, tmp_path, monkeypatch
) -> None:
    """Bronze as Parquet files at a file:// URL (dlt's filesystem destination, read through views)
    against bronze in the warehouse file: the same answers, row accounting and quarantine reasons
    as files arrive one by one and one is re-sent. Run with the other place, the warehouse stops
    at once with one line: no retries, exit 2 on the command line."""
    source = tmp_path / "generated"
    generate(source, 3_000, seed=12, n_files=2, dirty_rate=0.05)
    arriving = flow_settings.data_dir
    shutil.rmtree(arriving)
    for folder in ("users", "episodes"):
        shutil.copytree(source / folder, arriving / folder)
    (arriving / "events").mkdir()
    lake = (tmp_path / "lake").as_uri()
    in_file = {"warehouse": tmp_path / "in-file" / "w.duckdb", "exports_dir": tmp_path / "in-file" / "out"}
    at_url = {"warehouse": tmp_path / "at-url" / "w.duckdb", "exports_dir": tmp_path / "at-url" / "out"}

    def outcome(folders: dict, **overrides) -> dict:
        state = run_flow(replace(flow_settings, **folders), **overrides)
        assert state.is_completed(), state.message
        summary = json.loads((folders["exports_dir"] / "run_summary.json").read_text())
        csvs = {path.name: path.read_bytes() for path in sorted(folders["exports_dir"].glob("*.csv"))}
        return {"answers": csvs, **{key: summary[key] for key in ("as_of", "this_run", "warehouse")}}

    parts = sorted((source / "events").glob("part-*.jsonl"))
    for step, part in enumerate([*parts, parts[0]]):
        shutil.copy(part, arriving / "events" / (part.name if step < len(parts) else "resent.jsonl"))
        expected = outcome(in_file)
        assert outcome(at_url, bronze_url=lake) == expected, f"after arrival {step + 1}"
    assert (
        expected["this_run"]["events"]["duplicates"] > 0
        and expected["warehouse"]["events"]["quarantined"] > 0
    )
    kinds = query(
        replace(flow_settings, **at_url),
        "SELECT DISTINCT table_type FROM information_schema.tables WHERE table_schema = 'bronze'",
    )
    assert kinds == [("VIEW",)]

    calls = []
    real_ingest = pipeline.ingest
    monkeypatch.setattr(pipeline, "ingest", lambda settings: calls.append(1) or real_ingest(settings))
    monkeypatch.setattr(
        pipeline, "ingest_new_files", pipeline.ingest_new_files.with_options(retry_delay_seconds=0)
    )
    state = run_flow(replace(flow_settings, **at_url))
    assert state.is_failed() and "keeps bronze at " + lake in state.message and len(calls) == 1
    state = run_flow(replace(flow_settings, **in_file), bronze_url=lake)
    assert state.is_failed() and "keeps bronze in its own file" in state.message
    result = cli("--data-dir", str(arriving), "--warehouse", str(at_url["warehouse"]))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"PODCAST_BRONZE_URL={lake}" in result.stderr


def test_notifications_on_failure_and_on_quality_breach(
    flow_settings: Settings, receiver, monkeypatch
) -> None:
    url, received = receiver
    monkeypatch.setenv("PODCAST_NOTIFY_URLS", url)
    settings = flow_settings
    generate(settings.data_dir / "gen", 800, seed=4, n_files=1, dirty_rate=0.2)
    (settings.data_dir / "gen" / "events" / "part-00001.jsonl").rename(
        settings.data_dir / "events" / "a.jsonl"
    )

    done = run_flow(settings)  # about 13 % of the rows quarantined: over the 5 % threshold
    assert done.is_completed(), done.message
    assert received[-1]["title"] == "podcast pipeline: data-quality warning"
    assert "warning: quarantined_share" in received[-1]["message"]

    write_csv(
        settings.data_dir / "users" / "users.csv", "user_id,signup_date,country\nuser_1,not-a-date,US\n"
    )
    failed = run_flow(settings)
    assert failed.is_failed() and "reference data failed its contract" in failed.message
    assert received[-1]["title"] == "podcast pipeline failed"
    assert "users/users.csv: 1 rows fail signup_date_valid" in received[-1]["message"]
    for path in settings.exports_dir.iterdir():
        if path.suffix in {".json", ".csv"}:
            assert "s3cret-token" not in path.read_text()
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()
    runs = [state.state_details.flow_run_id for state in (done, failed)]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=runs))
        )
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=runs)))
    texts = [str(artifact.data) for artifact in artifacts] + [log.message for log in logs]
    assert any("reference data failed its contract" in text for text in texts)  # logs were read
    assert not any("s3cret-token" in text for text in texts)


def test_second_run_on_a_busy_warehouse_exits_with_a_message(flow_settings: Settings) -> None:
    generate(flow_settings.data_dir, 200, seed=3, n_files=1)
    with warehouse_lock(flow_settings.warehouse):
        state = run_flow(flow_settings)
    assert state.is_failed() and "another run is using" in state.message
    assert isinstance(state.result(raise_on_failure=False), WarehouseBusy)  # what exit code 75 reads
    assert not flow_settings.warehouse.exists() or query(
        flow_settings, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'bronze'"
    ) == [(0,)]


def test_impossible_instants_are_quarantined_and_the_answers_stay(flow_settings: Settings, tmp_path) -> None:
    settings = flow_settings
    valid = [
        event(kind=kind, user=f"user_{u}", episode=f"ep_{e}", ts=f"2024-03-0{d}T1{e}:00:00", duration=None)
        if kind in ("pause", "seek")
        else event(kind=kind, user=f"user_{u}", episode=f"ep_{e}", ts=f"2024-03-0{d}T1{e}:00:00")
        for u in (1, 2)
        for d in (1, 2)
        for e in (1, 2, 3)
        for kind in ("play", "complete", "pause")
    ]
    write_lines(settings.data_dir / "events" / "a.jsonl", valid[::2])
    assert run_flow(settings).is_completed()
    before = answers(settings)

    impossible = [event(ts=text) for text in IMPOSSIBLE_INSTANTS.values()]
    write_lines(settings.data_dir / "events" / "b.jsonl", impossible)
    state = run_flow(settings)
    assert state.is_completed(), state.message
    assert answers(settings) == before
    assert state.result()["this_run"]["quarantine_reasons"] == {"timestamp_real_instant": len(impossible)}

    # mixed with valid rows in one file: the answers are those of the valid rows alone
    mixed = [line for pair in zip(valid[1::2], impossible * 3, strict=False) for line in pair]
    write_lines(settings.data_dir / "events" / "c.jsonl", mixed)
    state = run_flow(settings)
    assert state.is_completed(), state.message
    assert state.result()["this_run"]["events"]["quarantined"] == len(impossible) * 2
    clean = replace(
        settings, warehouse=tmp_path / "clean" / "w.duckdb", exports_dir=tmp_path / "clean-exports"
    )
    (settings.data_dir / "events" / "b.jsonl").unlink()
    write_lines(settings.data_dir / "events" / "c.jsonl", valid[1::2][: len(impossible) * 2])
    assert run_flow(clean).is_completed()
    assert answers(clean) == answers(settings)


def test_summary_counts_this_run_and_the_warehouse_apart(flow_settings: Settings) -> None:
    settings = flow_settings
    lines = [event(), event(kind="complete", ts="2024-03-01T10:30:00", duration=1700), event(), "{"]
    write_lines(settings.data_dir / "events" / "a.jsonl", lines)
    first = run_flow(settings).result()
    assert first["this_run"]["events"] == {
        "loaded": 4,
        "valid": 3,
        "quarantined": 1,
        "new": 2,
        "duplicates": 1,
    }
    assert first["warehouse"]["events"] == {
        "bronze": 4,
        "valid": 3,
        "quarantined": 1,
        "distinct": 2,
        "duplicates_removed": 1,
    }

    # The app re-sends the same lines under another name: all of them are duplicates now.
    write_lines(settings.data_dir / "events" / "resent" / "a.jsonl", lines)
    second = run_flow(settings).result()
    assert second["this_run"]["events"] == {
        "loaded": 4,
        "valid": 3,
        "quarantined": 1,
        "new": 0,
        "duplicates": 3,
    }
    assert second["warehouse"]["events"] == {
        "bronze": 8,
        "valid": 6,
        "quarantined": 2,
        "distinct": 2,
        "duplicates_removed": 4,
    }
    assert second["this_run"]["quarantine_reasons"] == {"line_is_json_object": 1}

    # The same file again, unchanged: skipped, nothing in this run; the warehouse as it was.
    (settings.data_dir / "events" / "a.jsonl").touch()
    third = run_flow(settings).result()
    assert third["this_run"]["events"] == dict.fromkeys(
        ("loaded", "valid", "quarantined", "new", "duplicates"), 0
    )
    assert third["warehouse"] == second["warehouse"]
    for summary in (first, second, third):
        assert_scopes_consistent(summary)


def test_schema_drift_is_told_in_the_summary_and_a_notification(
    flow_settings: Settings, receiver, monkeypatch
) -> None:
    url, received = receiver
    monkeypatch.setenv("PODCAST_NOTIFY_URLS", url)
    write_lines(flow_settings.data_dir / "events" / "a.jsonl", [event()])
    assert run_flow(flow_settings).is_completed()
    write_lines(flow_settings.data_dir / "events" / "b.jsonl", [event(user="user_2", appVersion="5.1")])
    summary = run_flow(flow_settings).result()
    line = "schema: new column bronze.events.app_version (first in events/b.jsonl line 1)"
    assert line in summary_lines(summary)
    assert received[-1]["title"] == "podcast pipeline: schema change" and line in received[-1]["message"]
