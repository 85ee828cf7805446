"""dbt models on a real warehouse: incremental = full refresh, reconciliation, late reference data."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb

from flows import dbt_parse
from flows.dbt_build import BUILD, NIGHTLY_TESTS, full_refresh_unfinished, run_dbt
from flows.dbt_parse import PARTIAL_PARSE_FILE
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
    "marts.agg_user_engagement",
    "intermediate.int_episode_daily_completions",
    "intermediate.int_user_daily_listening",
    "answers.q1_top_completed_episodes",
    "answers.q2_listen_through_rate_by_country",
    "answers.q3_multi_episode_listeners",
    "answers.q3_multi_episode_listeners_by_day",
)


def dbt(settings: Settings, monkeypatch, *args: str):
    return run_dbt(settings, [*args, "--quiet"])


def dbt_build(settings: Settings, monkeypatch, *extra: str) -> None:
    """The flow's build: models and the new loads' data tests (no unit tests, no nightly tests)."""
    result = dbt(settings, monkeypatch, *BUILD, *extra)
    assert result.success, result.exception or [r.message for r in result.result if r.status != "pass"]


def run_all(settings: Settings, monkeypatch, *extra: str) -> None:
    ingest(settings)
    validate(settings)
    dbt_build(settings, monkeypatch, *extra)


def snapshot(settings: Settings) -> dict[str, list]:
    return {table: sorted(query(settings, f"SELECT * FROM {table}"), key=repr) for table in MARTS}


def processed_loads(settings: Settings) -> list[tuple]:
    """The batches recorded as processed (macros/batch.sql), oldest first."""
    return query(
        settings, "SELECT through_load_id, full_refresh FROM dbt_state.processed_loads ORDER BY built_at"
    )


def assert_equals_a_full_refresh(
    settings: Settings, monkeypatch, tmp_path: Path, step: str, nightly_tests: bool = False
) -> None:
    """Every model equals a --full-refresh build of a copy of the warehouse; with `nightly_tests`,
    the nightly tests (every row, incremental models against a rebuild) pass on the incremental one."""
    if nightly_tests:
        nightly = dbt(settings, monkeypatch, *NIGHTLY_TESTS)
        assert nightly.success, (step, [r.node.name for r in nightly.result if r.status != "pass"])
    rebuilt = replace(settings, warehouse=tmp_path / "rebuilt" / "rebuilt.duckdb")
    rebuilt.warehouse.parent.mkdir(exist_ok=True)
    shutil.copy(settings.warehouse, rebuilt.warehouse)
    dbt_build(rebuilt, monkeypatch, "--full-refresh")
    incremental, full = snapshot(settings), snapshot(rebuilt)
    for table in MARTS:
        assert incremental[table] == full[table], (step, table)


def edit_csv(path: Path, change) -> None:
    """Rewrite a reference CSV, passing each row (a dict) through `change`; a list appends rows."""
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    rows = change(rows) if callable(change) else rows + change
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue())


def test_incremental_builds_equal_a_full_refresh(settings: Settings, tmp_path: Path, monkeypatch) -> None:
    """Hourly builds against a full refresh after every kind of change a batch can bring."""
    source = tmp_path / "generated"
    generate(source, 6_000, seed=5, n_files=2, dirty_rate=0.1)
    shutil.rmtree(settings.data_dir)
    for folder in ("users", "episodes"):
        shutil.copytree(source / folder, settings.data_dir / folder)
    events = settings.data_dir / "events"
    events.mkdir()
    users_csv = settings.data_dir / "users" / "users.csv"
    episodes_csv = settings.data_dir / "episodes" / "episodes.csv"
    first, second = sorted((source / "events").glob("*.jsonl"))

    def build_and_compare(step: str, nightly_tests: bool = False) -> None:
        processed = processed_loads(settings) if settings.warehouse.exists() else []
        run_all(settings, monkeypatch)
        # the build read only the loads after the last processed one (all of them the first time)
        after = query(settings, "SELECT after_load_id FROM dbt_state.batch")
        assert after == [(processed[-1][0] if processed else "",)], step
        assert_equals_a_full_refresh(settings, monkeypatch, tmp_path, step, nightly_tests)

    def sessions_of(user: str) -> list[tuple]:
        return query(
            settings,
            "SELECT strftime(session_start_at, '%H:%M'), strftime(session_end_at, '%H:%M'), events "
            "FROM marts.fct_listening_sessions WHERE user_id = ? ORDER BY 1",
            [user],
        )

    # Three sessions of `sessioner` (10:00-10:20, 11:00-11:10, 12:00); a listener and an episode
    # missing from the reference; `mover` (in users.csv) completing ep_1 and ep_2.
    edit_csv(users_csv, [{"user_id": "mover", "signup_date": "2023-02-01", "country": "SE"}])
    shutil.copy(first, events)
    write_lines(
        events / "a.jsonl",
        [
            event("play", "sessioner", "ep_1", "2024-06-03T10:00:00", 600),
            event("pause", "sessioner", "ep_1", "2024-06-03T10:20:00", None),
            event("play", "sessioner", "ep_2", "2024-06-03T11:00:00", 300),
            event("complete", "sessioner", "ep_2", "2024-06-03T11:10:00", 900),
            event("play", "sessioner", "ep_3", "2024-06-03T12:00:00", 60),
            event("complete", "late_listener", "ep_late", "2024-06-04T08:00:00", 1200),
            event("complete", "mover", "ep_1", "2024-06-05T08:00:00", 1000),
            event("complete", "mover", "ep_2", "2024-06-05T09:00:00", 1500),
        ],
    )
    build_and_compare("the first files")
    assert sessions_of("sessioner") == [("10:00", "10:20", 2), ("11:00", "11:10", 2), ("12:00", "12:00", 1)]

    shutil.copy(second, events)
    build_and_compare("the next file")

    shutil.copy(first, events / "again.jsonl")
    build_and_compare("a file sent again under another name")

    edit_csv(users_csv, [{"user_id": "late_listener", "signup_date": "2024-01-01", "country": "DE"}])
    late_episode = {
        "episode_id": "ep_late",
        "podcast_id": "pod_1",
        "title": "Late",
        "release_date": "2024-05-01",
    }
    edit_csv(episodes_csv, [late_episode | {"duration_seconds": "2400"}])
    build_and_compare("late reference rows")
    assert query(
        settings,
        "SELECT u.country, u.is_in_reference, e.is_in_reference "
        "FROM marts.dim_users AS u, marts.dim_episodes AS e "
        "WHERE u.user_id = 'late_listener' AND e.episode_id = 'ep_late'",
    ) == [("DE", True, True)]

    edit_csv(users_csv, lambda rows: [r | {"country": "JP"} if r["user_id"] == "mover" else r for r in rows])
    build_and_compare("a listener moving country")
    assert query(settings, "SELECT country FROM marts.dim_users WHERE user_id = 'mover'") == [("JP",)]

    edit_csv(
        episodes_csv,
        lambda rows: [r | {"duration_seconds": "1234"} if r["episode_id"] == "ep_1" else r for r in rows],
    )
    build_and_compare("an episode's length changing")

    write_lines(events / "b.jsonl", [event("complete", "mover", "ep_1", "2024-06-05T08:00:00", 1100)])
    build_and_compare("a duplicate of an old event")
    assert query(
        settings,
        "SELECT duration_seconds FROM marts.fct_listening_events "
        "WHERE user_id = 'mover' AND episode_id = 'ep_1' AND event_type = 'complete'",
    ) == [(1100,)]

    write_lines(
        events / "c.jsonl",
        [
            event("play", "sessioner", "ep_4", "2024-06-03T10:40:00", 120),  # bridges the first two
            event("play", "sessioner", "ep_4", "2024-06-03T12:30:00", 60),  # extends the third
        ],
    )
    build_and_compare("events bridging two sessions and extending one", nightly_tests=True)
    assert sessions_of("sessioner") == [("10:00", "11:10", 5), ("12:00", "12:30", 2)]

    assert [full_refresh for _, full_refresh in processed_loads(settings)] == [False] * 8
    # reconciliation: fact rows = distinct business keys of valid events
    assert query(settings, "SELECT count(*) FROM marts.fct_listening_events") == query(
        settings,
        "SELECT count(*) FROM (SELECT DISTINCT user_id, episode_id, event_type, event_ts FROM silver.events)",
    )


def test_a_batch_processed_again_gives_the_same_models(
    settings: Settings, data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """A build that stops after some models ran, one that fails on one model, and a batch built
    twice: the next build processes the batch again and every model equals a full refresh."""
    source = tmp_path / "generated"
    generate(source, 3_000, seed=11, n_files=3, dirty_rate=0.05)
    for part in sorted((source / "events").glob("*.jsonl"))[:1]:
        shutil.copy(part, data_dir / "events")
    shutil.copy(source / "users" / "users.csv", data_dir / "users" / "users.csv")
    shutil.copy(source / "episodes" / "episodes.csv", data_dir / "episodes" / "episodes.csv")
    run_all(settings, monkeypatch)
    later = sorted((source / "events").glob("*.jsonl"))[1:]

    # Stopped after some models: the fact, sessions and one dimension took the batch, the rest did not.
    shutil.copy(later[0], data_dir / "events")
    ingest(settings)
    validate(settings)
    before = processed_loads(settings)
    some_models = ("fct_listening_events", "fct_listening_sessions", "dim_users")
    partial = dbt(settings, monkeypatch, "run", "--select", *some_models)
    assert partial.success
    assert processed_loads(settings) == before  # not every incremental model ran: nothing recorded
    dbt_build(settings, monkeypatch)
    assert len(processed_loads(settings)) == len(before) + 1
    assert_equals_a_full_refresh(settings, monkeypatch, tmp_path, "after a partial build")

    # Failed on one model (its table drifted from the model): the others took the batch.
    shutil.copy(later[1], data_dir / "events")
    ingest(settings)
    validate(settings)
    before = processed_loads(settings)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("ALTER TABLE marts.agg_user_engagement ADD COLUMN drift INTEGER")
    failed = dbt(settings, monkeypatch, *BUILD)
    assert not failed.success
    assert {r.node.name for r in failed.result if r.status == "error"} == {"agg_user_engagement"}
    assert processed_loads(settings) == before
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("ALTER TABLE marts.agg_user_engagement DROP COLUMN drift")
    dbt_build(settings, monkeypatch)
    assert_equals_a_full_refresh(settings, monkeypatch, tmp_path, "after a failed build")

    # The last batch built twice (as if its build had not been recorded).
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(
            "DELETE FROM dbt_state.processed_loads "
            "WHERE built_at = (SELECT max(built_at) FROM dbt_state.processed_loads)"
        )
    dbt_build(settings, monkeypatch)
    assert_equals_a_full_refresh(
        settings, monkeypatch, tmp_path, "after a batch built twice", nightly_tests=True
    )


def test_an_unfinished_full_refresh_is_finished_before_building_on_it(
    settings: Settings, data_dir: Path, monkeypatch
) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(), event(kind="complete", duration=1700)])
    run_all(settings, monkeypatch)
    assert not full_refresh_unfinished(settings)
    assert dbt(settings, monkeypatch, "run", "--full-refresh", "--select", "fct_listening_events").success
    assert full_refresh_unfinished(settings)  # what the flow reads: it builds with --full-refresh
    refused = dbt(settings, monkeypatch, *BUILD)
    assert not refused.success
    assert "did not finish: build with --full-refresh" in " ".join(r.message or "" for r in refused.result)
    dbt_build(settings, monkeypatch, "--full-refresh")
    assert not full_refresh_unfinished(settings)
    dbt_build(settings, monkeypatch)


def test_the_fact_and_the_listener_days_are_laid_out_by_day(
    settings: Settings, monkeypatch, tmp_path: Path
) -> None:
    """Stored in day order (macros/engine_sql.sql `laid_out_by`), so DuckDB's row groups hold a few
    days each and the hourly models skip the rest; a second batch lands after the first."""
    source = tmp_path / "generated"
    generate(source, 3_000, seed=9, n_files=2)
    shutil.rmtree(settings.data_dir)
    shutil.copytree(source, settings.data_dir, ignore=shutil.ignore_patterns("part-00002.jsonl"))
    run_all(settings, monkeypatch)
    shutil.copy(source / "events" / "part-00002.jsonl", settings.data_dir / "events")
    run_all(settings, monkeypatch)
    for table in ("marts.fct_listening_events", "intermediate.int_user_daily_listening"):
        days, out_of_order = query(
            settings,
            "SELECT count(DISTINCT event_date), count(*) FILTER (WHERE event_date < previous) FROM ("
            f"SELECT event_date, lag(event_date) OVER (ORDER BY rowid) AS previous FROM {table})",
        )[0]
        assert days > 100 and out_of_order == 0, table


def test_warehouses_share_one_parse_of_the_project(
    settings: Settings, data_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """dbt parses the project once (flows/dbt_parse.py): a warehouse in another folder builds from
    the kept parse, without parsing, to the same answers; a damaged kept parse is parsed again and
    replaced."""
    monkeypatch.setattr(dbt_parse, "DBT_PARSES_DIR", tmp_path / "parses")
    write_lines(
        data_dir / "events" / "a.jsonl",
        [
            event(),
            event("complete", ts="2024-03-01T10:30:00", duration=1500),
            event(ts="2024-03-02T08:00:00"),
        ],
    )

    def built(folder: str) -> tuple[Settings, bool]:
        """A new warehouse in `folder` built from the data; whether dbt parsed the project."""
        other = replace(settings, warehouse=tmp_path / folder / settings.warehouse.name)
        run_all(other, monkeypatch)
        return other, (other.dbt_work_dir / "target" / PARTIAL_PARSE_FILE).exists()

    def answers(built: Settings) -> dict[str, list]:
        return {table: snapshot(built)[table] for table in MARTS if table.startswith("answers.")}

    first, parsed = built("first")
    assert parsed
    (kept,) = (tmp_path / "parses").glob("*.msgpack")
    assert answers(first)["answers.q1_top_completed_episodes"]

    second, parsed = built("second")
    assert not parsed
    assert answers(second) == answers(first)

    kept.write_bytes(b"damaged")
    third, parsed = built("third")
    assert parsed
    assert kept.read_bytes() != b"damaged"
    assert answers(third) == answers(first)


def test_unit_tests_pass(settings: Settings, data_dir: Path, monkeypatch) -> None:
    """The dbt unit tests, which the flow's builds leave out (make test runs them here)."""
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    run_all(settings, monkeypatch)  # unit tests read the column types of the models they feed
    result = dbt(settings, monkeypatch, "test", "--select", "test_type:unit")
    assert result.success, [(r.node.name, r.message) for r in result.result if r.status != "pass"]
    assert len(result.result) >= 15


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
    assert query(settings, "SELECT country FROM answers.q2_listen_through_rate_by_country") == [("unknown",)]
    write_csv(
        data_dir / "users" / "users.csv",
        "user_id,signup_date,country\nuser_1,2023-01-01,US\nuser_late,2023-05-01,SE\n",
    )
    run_all(settings, monkeypatch)
    assert query(
        settings, "SELECT country, is_in_reference FROM marts.dim_users WHERE user_id = 'user_late'"
    ) == [("SE", True)]
    assert query(
        settings, "SELECT country, avg_listen_through_rate FROM answers.q2_listen_through_rate_by_country"
    ) == [("SE", 0.5)]


def test_as_of_must_be_a_date(settings: Settings, data_dir: Path, monkeypatch) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    ingest(settings)
    validate(settings)
    injected = {"as_of": "2024-01-01'; DROP TABLE marts.dim_users; --"}
    result = run_dbt(settings, ["build", "--quiet"], extra_vars=injected)
    assert not result.success
    assert query(settings, "SELECT count(*) FROM silver.events") == [(1,)]


def test_docs_describe_every_model_and_column(settings: Settings, data_dir: Path, monkeypatch) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(), event(kind="complete", duration=1700)])
    run_all(settings, monkeypatch)
    result = run_dbt(settings, ["docs", "generate", "--quiet"])
    assert result.success
    target = settings.dbt_work_dir / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    assert len(models) >= 15
    undocumented = [uid for uid, node in models.items() if not node["description"]]
    for uid, node in models.items():
        described = {name.lower() for name, column in node["columns"].items() if column["description"]}
        if uid in catalog["nodes"]:
            columns = list(catalog["nodes"][uid]["columns"])
        else:  # ephemeral: no relation in the catalog, so the columns its compiled query returns
            assert node["config"]["materialized"] == "ephemeral", uid
            columns = [row[0] for row in query(settings, f"DESCRIBE {node['compiled_code']}")]
        undocumented += [f"{uid}.{c}" for c in columns if c.lower() not in described]
    assert undocumented == []
