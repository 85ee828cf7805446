"""The GX contract: each rule, the valid/quarantine split, re-validation, replay, and reference data."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gx.build import open_context, suite_fingerprint
from gx.frames import EVENTS
from gx.suites import SUITES
from gx.validate import Chunk, ContractViolation, plan_chunks, stage_ahead, validate
from pipelines.generate import generate
from pipelines.ingest import ingest
from pipelines.settings import Settings
from tests.conftest import event, query, write_csv, write_lines

QUARANTINED_DIRT = (
    "missing_user_id",
    "missing_episode_id",
    "bad_event_type",
    "bad_timestamp",
    "missing_duration",
    "bad_duration",
    "unexpected_duration",
    "not_json",
)


def run_contract(settings: Settings, replay: bool = False):
    ingest(settings)
    return validate(settings.warehouse, settings.gx_dir, settings.now, replay=replay)


def quarantined(settings: Settings) -> list[tuple]:
    return query(settings, "SELECT _line_number, failed_rules FROM quarantine.events ORDER BY 1")


def assert_split_is_exact(settings: Settings) -> None:
    """For every load id: bronze rows = valid rows + quarantined rows, and no row is on both sides."""
    for table in ("events", "users", "episodes"):
        mismatches = query(
            settings,
            f"""
            WITH bronze AS (SELECT _dlt_load_id, count(*) AS n FROM bronze.{table} GROUP BY 1),
                valid AS (SELECT _dlt_load_id, count(*) AS n FROM silver.{table} GROUP BY 1),
                bad AS (SELECT _dlt_load_id, count(*) AS n FROM quarantine.{table} GROUP BY 1)
            SELECT _dlt_load_id, bronze.n, valid.n, bad.n
            FROM bronze FULL JOIN valid USING (_dlt_load_id) FULL JOIN bad USING (_dlt_load_id)
            WHERE coalesce(bronze.n, 0) <> coalesce(valid.n, 0) + coalesce(bad.n, 0)
            """,
        )
        assert mismatches == [], (table, mismatches)
        both = query(
            settings,
            f"SELECT count(*) FROM silver.{table} "
            f"JOIN quarantine.{table} USING (_dlt_load_id, _source_file, _line_number)",
        )
        assert both == [(0,)], table


# One line per rule that breaks that rule and no other.
BREAKS_ONLY = {
    "line_is_json_object": '{"event_type": "play", "user_id"',
    "user_id_present": event(user=None),
    "user_id_not_blank": event(user="  "),
    "episode_id_present": event(episode=None),
    "episode_id_not_blank": event(episode=""),
    "event_type_present": event(kind=None, duration=None),
    "event_type_known": event(kind="rewind", duration=None),
    "timestamp_present": event(ts=None),
    "timestamp_iso8601": event(ts="malformed-date"),
    "timestamp_in_range": event(ts="1999-12-31T23:59:59"),
    "duration_present": event(kind="complete", duration=None),
    "duration_integer": event(duration="n/a"),
    "duration_in_range": event(duration=86_401),
    "duration_absent": event(kind="seek", duration=30),
}


def test_every_rule_has_a_line_that_breaks_only_it() -> None:
    rules = {e.meta["rule"] for e in SUITES["events"]()}
    assert rules == set(BREAKS_ONLY)


@pytest.mark.parametrize("rule", sorted(BREAKS_ONLY))
def test_rule_quarantines_the_row_that_breaks_it(settings: Settings, data_dir: Path, rule: str) -> None:
    write_lines(
        data_dir / "events" / "a.jsonl", [event(), BREAKS_ONLY[rule], event(kind=" PAUSE ", duration=None)]
    )
    report = run_contract(settings)
    assert quarantined(settings) == [(2, [rule])]
    assert report.tables["events"].valid == 2 and report.quarantine_reasons == {rule: 1}


def test_valid_variants_pass_and_are_typed(settings: Settings, data_dir: Path) -> None:
    write_lines(
        data_dir / "events" / "a.jsonl",
        [
            event(kind=" PLAY ", ts="2024-03-01T10:00:00+02:00", duration="600"),
            event(kind="complete", ts="2024-03-01T10:00:00.250Z", duration=1800),
        ],
    )
    run_contract(settings)
    assert quarantined(settings) == []
    assert query(
        settings, "SELECT event_type, event_ts, duration FROM silver.events ORDER BY _line_number"
    ) == [
        ("play", datetime(2024, 3, 1, 8, 0), 600),
        ("complete", datetime(2024, 3, 1, 10, 0, 0, 250000), 1800),
    ]


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        (event(duration="\u0661\u0662"), "duration_integer"),  # Arabic-Indic digits: not an integer
        (event(duration="12\n"), "duration_integer"),  # Python's `$` would accept the newline
        (event(ts="2024-03-01T10:00:00\n"), "timestamp_iso8601"),
        (event(user="\u00a0"), None),  # only ASCII whitespace is blank, in both engines
        (event(ts="9999-12-31T23:59:59"), "timestamp_in_range"),  # beyond pandas' ns range
        (event(ts="0001-01-01T00:00:00"), "timestamp_in_range"),
    ],
)
def test_gx_and_the_split_agree_on_edge_values(settings: Settings, data_dir: Path, line, rule) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(), line])
    report = run_contract(settings)  # raises ContractEngineMismatch if the engines disagree
    assert quarantined(settings) == ([(2, [rule])] if rule else [])
    assert report.tables["events"].rows == 2


def test_a_row_breaking_several_rules_lists_them_all(settings: Settings, data_dir: Path) -> None:
    line = json.dumps({"event_type": "pause", "user_id": "", "timestamp": "malformed-date", "duration": 5})
    write_lines(data_dir / "events" / "a.jsonl", [line])
    run_contract(settings)
    ((_, rules),) = quarantined(settings)
    assert sorted(rules) == [
        "duration_absent",
        "episode_id_present",
        "timestamp_iso8601",
        "user_id_not_blank",
    ]


def test_generated_dirt_is_split_exactly(settings: Settings) -> None:
    shutil.rmtree(settings.data_dir)
    manifest = generate(settings.data_dir, 30_000, seed=11, n_files=3, dirty_rate=0.08)
    report = run_contract(settings)
    expected = sum(manifest["dirt"][kind] for kind in QUARANTINED_DIRT)
    assert report.tables["events"].quarantined == expected
    assert report.tables["events"].rows == manifest["events"]
    assert_split_is_exact(settings)
    # orphans are reported at warning level, never quarantined
    assert any(w.startswith("user_in_reference") for w in report.warnings) == (
        manifest["dirt"]["orphan_user"] / manifest["events"] > 0.01
    )


def test_second_run_validates_only_new_loads(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(), event(user=None)])
    run_contract(settings)
    assert run_contract(settings).tables == {}
    write_lines(data_dir / "events" / "b.jsonl", [event(user="user_2")])
    report = run_contract(settings)
    assert report.tables["events"].rows == 1
    assert query(settings, "SELECT count(*) FROM silver.events") == [(2,)]
    assert_split_is_exact(settings)


def test_suite_change_revalidates_everything(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(duration=600), event(duration=5000)])
    run_contract(settings)
    assert quarantined(settings) == []
    context = open_context(settings.gx_dir)
    suite = context.suites.get("events")
    before = suite_fingerprint(suite)
    for expectation in suite.expectations:
        if expectation.meta["rule"] == "duration_in_range":
            expectation.max_value = 3600
    suite.save()
    assert suite_fingerprint(context.suites.get("events")) != before
    report = validate(settings.warehouse, settings.gx_dir, settings.now)
    assert report.revalidated == ["events"]
    assert quarantined(settings) == [(2, ["duration_in_range"])]
    assert query(settings, "SELECT count(*) FROM silver.events") == [(1,)]
    assert_split_is_exact(settings)


def test_replay_moves_rows_that_now_pass_without_duplicates(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(ts="2024-06-01T00:00:00"), event(user=None)])
    early = replace(settings, reference_time=datetime(2024, 5, 1, tzinfo=UTC))
    run_contract(early)
    assert [rules for _, rules in quarantined(settings)] == [["timestamp_in_range"], ["user_id_present"]]
    run_contract(settings)  # later, without replay: nothing moves
    assert len(quarantined(settings)) == 2
    run_contract(settings, replay=True)
    assert quarantined(settings) == [(2, ["user_id_present"])]
    assert query(settings, "SELECT _line_number FROM silver.events") == [(1,)]
    assert_split_is_exact(settings)


def test_chunk_plan_packs_small_files_and_cuts_large_ones_into_line_ranges() -> None:
    files = [("a", 10, 1, 11), ("b", 2, 1, 2), ("c", 2, 1, 2), ("d", 1, 1, 1)]
    chunks = plan_chunks("L", files, max_rows=4)
    line_range = "_dlt_load_id = ? AND _source_file = ? AND _line_number >= ? AND _line_number < ?"
    assert chunks == [
        (line_range, ["L", "a", 1, 4]),
        (line_range, ["L", "a", 4, 8]),
        (line_range, ["L", "a", 8, 12]),
        ("_dlt_load_id = ? AND _source_file IN (?, ?)", ["L", "b", "c"]),
        ("_dlt_load_id = ? AND _source_file IN (?)", ["L", "d"]),
    ]
    assert plan_chunks("L", files, max_rows=15) == [("_dlt_load_id = ?", ["L"])]


def test_chunks_are_staged_ahead_up_to_chunk_rows_beside_the_one_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gx.validate.CHUNK_ROWS", 40)
    chunks = [Chunk(EVENTS, "L", 0, "", [], 1, 1, rows) for rows in (10, 10, 30, 30, 30, 50)]
    staged: list = []
    ahead = []
    for index in range(len(chunks)):
        stage_ahead(chunks, index, staged, lambda _chunk, at: at)
        ahead.append(staged[index + 1 :])
    assert staged == list(range(6))
    # While chunk 0 is validated, 1 and 2 (40 rows) wait staged; 3 would make 70. Chunk 5 (50
    # rows) is more than CHUNK_ROWS alone: it is staged only once it is the one validated.
    assert ahead == [[1, 2], [2], [3], [4], [], []]


def test_a_load_validated_in_chunks_splits_like_in_one(
    settings: Settings, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_lines(
        data_dir / "events" / "a.jsonl",
        [*(event(user=f"user_{i}") for i in range(8)), event(user=""), "{", event(ts="malformed-date")],
    )
    write_lines(data_dir / "events" / "b.jsonl", [event(duration=None), event(kind="pause", duration=5)])
    write_lines(data_dir / "events" / "c.jsonl", [event(user="user_9")])
    split = (
        "SELECT 'silver', _source_file, _line_number, NULL FROM silver.events UNION ALL "
        "SELECT 'quarantine', _source_file, _line_number, failed_rules FROM quarantine.events ORDER BY ALL"
    )
    run_contract(settings)
    in_one = query(settings, split)
    chunked = replace(settings, warehouse=tmp_path / "chunked" / "w.duckdb")
    monkeypatch.setattr("gx.validate.CHUNK_ROWS", 4)
    report = run_contract(chunked)
    assert query(chunked, split) == in_one
    assert len([run for run in report.run_ids if run.startswith("events-load-")]) == 4  # a: 3 ranges; b, c
    assert_split_is_exact(chunked)


def test_bad_reference_file_fails_the_run_until_fixed(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    write_csv(
        data_dir / "users" / "users.csv",
        "user_id,signup_date,country\nuser_1,2023-01-01,US\nuser_1,2023-02-30,usa\n,2023-01-01,GB\n",
    )
    with pytest.raises(ContractViolation, match="users/users.csv: 3 rows fail") as failure:
        run_contract(settings)
    assert "\n" not in str(failure.value)
    # The data docs are still built, with the failing users validation to review.
    docs = settings.gx_dir / "uncommitted" / "data_docs" / "local_site"
    (page,) = (docs / "validations" / "users").rglob("*.html")
    text = " ".join(re.sub(r"<[^>]+>", " ", page.read_text()).split())
    assert "Unsuccessful Expectations 4" in text
    assert "`country` is a 2-letter code. 1 unexpected values found" in text
    assert query(settings, "SELECT _line_number, failed_rules FROM quarantine.users ORDER BY 1") == [
        (2, ["user_id_unique"]),
        (3, ["user_id_unique", "signup_date_valid", "country_code"]),
        (4, ["user_id_not_blank"]),  # an empty CSV cell is an empty string, not a missing one
    ]
    with pytest.raises(ContractViolation):
        run_contract(settings)  # still the latest version: still untrustworthy
    write_csv(data_dir / "users" / "users.csv", "user_id,signup_date,country\nuser_1,2023-01-01,US\n")
    report = run_contract(settings)
    assert report.tables["users"].valid == 1
    assert_split_is_exact(settings)


def test_committed_suites_match_the_code(tmp_path: Path) -> None:
    from gx.build import build

    rebuilt = build(tmp_path / "gx")
    committed = open_context(Path(__file__).resolve().parent.parent / "gx")
    for name in SUITES:
        assert suite_fingerprint(rebuilt.suites.get(name)) == suite_fingerprint(committed.suites.get(name)), (
            name
        )


def test_when_gx_and_the_split_disagree_nothing_is_written(
    settings: Settings, data_dir: Path, monkeypatch
) -> None:
    import gx.validate as contract

    write_lines(data_dir / "events" / "a.jsonl", [event(), event(user=None)])
    real = contract.compile_expectation

    def blind_to_missing_users(expectation, parameters):
        rule = real(expectation, parameters)
        return replace(rule, sql="FALSE") if rule.rule == "user_id_present" else rule

    monkeypatch.setattr(contract, "compile_expectation", blind_to_missing_users)
    with pytest.raises(contract.ContractEngineMismatch, match="user_id_present"):
        run_contract(settings)
    written = query(
        settings,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('silver', 'quarantine') "
        "AND table_name = 'events'",
    )
    assert written == [(0,)]  # the split's transaction, table creation included, was rolled back
    monkeypatch.setattr(contract, "compile_expectation", real)
    assert run_contract(settings).tables["events"].quarantined == 1
