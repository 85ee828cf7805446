"""The GX contract: each rule, the valid/quarantine split, re-validation, replay, and reference data."""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gx.build import open_context
from gx.ledger import suite_fingerprint
from gx.report import DOCS_SITE_DIR, ContractViolation
from gx.suites import ISO_8601, SUITES
from gx.validate import ContractRunner, validate
from pipelines.generate import generate
from pipelines.ingest import ingest
from pipelines.settings import Settings
from tests.conftest import event, query, write_csv, write_lines

QUARANTINED_DIRT = (
    "missing_user_id",
    "missing_episode_id",
    "bad_event_type",
    "bad_timestamp",
    "impossible_timestamp",
    "missing_duration",
    "bad_duration",
    "unexpected_duration",
    "not_json",
)


def run_contract(settings: Settings, replay: bool = False):
    ingest(settings)
    return validate(replace(settings, replay_quarantine=replay))


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
    "timestamp_iso8601": event(ts="2024-03-01T10:00:00+0100"),  # a real instant, not our ISO shape
    "timestamp_real_instant": event(ts="2023-02-29T10:00:00"),
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
        # Python's `$` would accept the newline; no typing reads an instant in it either
        (event(ts="2024-03-01T10:00:00\n"), ["timestamp_iso8601", "timestamp_real_instant"]),
        (event(user="\u00a0"), None),  # only ASCII whitespace is blank, in both engines
        (event(ts="9999-12-31T23:59:59"), "timestamp_in_range"),  # beyond pandas' ns range
        (event(ts="0001-01-01T00:00:00"), "timestamp_in_range"),
    ],
)
def test_gx_and_the_split_agree_on_edge_values(settings: Settings, data_dir: Path, line, rule) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(), line])
    report = run_contract(settings)  # raises ContractEngineMismatch if the engines disagree
    rules = rule if isinstance(rule, list) else [rule]
    assert quarantined(settings) == ([(2, rules)] if rule else [])
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
        "timestamp_real_instant",
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


def test_reference_coverage_judges_the_events_a_run_brought(settings: Settings, data_dir: Path) -> None:
    """A run's coverage warning is about its own loads: the orphans of an earlier run are not
    counted again, so a clean run warns of nothing, whatever history holds."""
    write_lines(data_dir / "events" / "a.jsonl", [event(user="nobody"), event(user="user_1")])
    assert [w for w in run_contract(settings).warnings if w.startswith("user_in_reference")] == [
        "user_in_reference: 50.00 % of rows"
    ]
    write_lines(data_dir / "events" / "b.jsonl", [event(user="user_1", ts="2024-03-02T10:00:00")] * 3)
    assert not [w for w in run_contract(settings).warnings if w.startswith("user_in_reference")]
    assert query(settings, "SELECT count(*) FROM silver.events WHERE user_id = 'nobody'") == [(1,)]


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
    before = suite_fingerprint(settings.gx_dir, "events")
    for expectation in suite.expectations:
        if expectation.meta["rule"] == "duration_in_range":
            expectation.max_value = 3600
    suite.save()
    assert suite_fingerprint(settings.gx_dir, "events") != before
    report = validate(settings)
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


def test_a_replay_stopped_before_its_load_is_recorded_is_finished_by_the_next_run(
    settings: Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(ts="2024-06-01T00:00:00"), event(user=None)])
    run_contract(replace(settings, reference_time=datetime(2024, 5, 1, tzinfo=UTC)))

    def stop(*_args) -> None:
        raise KeyboardInterrupt

    # the replay's split is committed (line 1 now passes), then the run stops before its record
    monkeypatch.setattr(ContractRunner, "_record_validated_load", stop)
    with pytest.raises(KeyboardInterrupt):
        run_contract(settings, replay=True)
    monkeypatch.undo()
    assert query(settings, "SELECT _line_number FROM silver.events") == [(1,)]

    report = run_contract(settings)  # a run without --replay-quarantine
    assert report.revalidated == ["events"]  # so the flow rebuilds the models from silver
    ledger = "SELECT valid, quarantined FROM contract.validated_loads WHERE table_name = 'events'"
    assert query(settings, ledger) == [(1, 1)]
    assert_split_is_exact(settings)


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
    monkeypatch.setattr("gx.chunks.CHUNK_ROWS", 4)
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
    docs = settings.gx_dir / DOCS_SITE_DIR
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

    build(tmp_path / "gx")
    committed = Path(__file__).resolve().parent.parent / "gx"
    for name in SUITES:
        assert suite_fingerprint(tmp_path / "gx", name) == suite_fingerprint(committed, name), name


def test_when_gx_and_the_split_disagree_nothing_is_written(
    settings: Settings, data_dir: Path, monkeypatch
) -> None:
    import gx.engine as contract
    from gx.report import ContractEngineMismatch

    write_lines(data_dir / "events" / "a.jsonl", [event(), event(user=None)])
    real = contract.compile_expectation

    def blind_to_missing_users(expectation, parameters):
        rule = real(expectation, parameters)
        return replace(rule, sql="FALSE") if rule.rule == "user_id_present" else rule

    monkeypatch.setattr(contract, "compile_expectation", blind_to_missing_users)
    with pytest.raises(ContractEngineMismatch, match="user_id_present"):
        run_contract(settings)
    written = query(
        settings, "SELECT (SELECT count(*) FROM silver.events) + (SELECT count(*) FROM quarantine.events)"
    )
    assert written == [(0,)]  # the split's transaction was rolled back (the tables, empty, stay)
    monkeypatch.setattr(contract, "compile_expectation", real)
    assert run_contract(settings).tables["events"].quarantined == 1


def test_a_first_load_larger_than_a_row_group_is_counted_in_the_ledger(
    settings: Settings, data_dir: Path
) -> None:
    """The ledger counts a load's valid rows with a filter on its load id. When silver was created
    and filled in the split's one transaction, DuckDB's statistics of a load of more than a row
    group (122,880 rows) made that filter find none of them, in a fresh warehouse's first run."""
    write_lines(data_dir / "events" / "a.jsonl", [event()] * 130_000 + [event(user=None)])
    report = run_contract(settings)
    assert report.tables["events"].valid == 130_000
    ledger = "SELECT rows, valid, quarantined FROM contract.validated_loads WHERE table_name = 'events'"
    assert query(settings, ledger) == [(130_001, 130_000, 1)]


# Texts in the ISO-8601 shape that name no instant: quarantined as such, never typed as NULL.
IMPOSSIBLE_INSTANTS = {
    "29 February in a common year": "2023-02-29T10:00:00",
    "a day past the end of its month": "2024-04-31T10:00:00",
    "day 00": "2024-03-00T10:00:00",
    "month 13": "2024-13-01T10:00:00",
    "hour 24": "2024-03-01T24:00:00",
    "minute 60": "2024-03-01T10:60:00Z",
    "second 60": "2024-03-01T10:00:60",
    "an offset of 24 hours": "2024-03-01T10:00:00+24:00",
    "an offset minute of 60": "2024-03-01T10:00:00-05:60",
}


@pytest.mark.parametrize("kind", sorted(IMPOSSIBLE_INSTANTS))
def test_impossible_instant_is_quarantined_as_such(settings: Settings, data_dir: Path, kind: str) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(), event(ts=IMPOSSIBLE_INSTANTS[kind])])
    report = run_contract(settings)
    assert quarantined(settings) == [(2, ["timestamp_real_instant"])]
    assert report.quarantine_reasons == {"timestamp_real_instant": 1}
    assert query(settings, "SELECT count(*) FROM silver.events WHERE event_ts IS NULL") == [(0,)]


def _random_iso_text(rng: random.Random) -> str:
    """Any text the ISO_8601 regex accepts: every digit position drawn from 0-9 (weighted
    towards real values, so that both sides are common), an optional fraction and zone."""

    def digits(count: int, realistic: str) -> str:
        return realistic if rng.random() < 0.9 else "".join(rng.choice("0123456789") for _ in range(count))

    date = (
        f"{digits(4, str(rng.randint(2000, 2024)))}-{digits(2, f'{rng.randint(1, 12):02d}')}"
        f"-{digits(2, f'{rng.randint(1, 31):02d}')}"
    )
    time = f"{digits(2, f'{rng.randint(0, 24):02d}')}:{digits(2, f'{rng.randint(0, 60):02d}')}:" + digits(
        2, f"{rng.randint(0, 60):02d}"
    )
    fraction = "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))
    zone = rng.choice(["", "Z", f"{rng.choice('+-')}{digits(2, '05')}:{digits(2, '30')}"])
    return f"{date}T{time}{fraction if rng.random() < 0.3 else ''}{zone}"


def _python_instant(text: str) -> datetime | None:
    """The oracle: the UTC instant Python's calendar gives the text, or None."""
    wall, rest = text[:19], text[19:]
    fraction = re.match(r"\.([0-9]+)", rest)
    zone = rest[fraction.end() :] if fraction else rest
    if wall.startswith("0000"):
        return None  # year 0000 names no day (gx/typings.py)
    try:
        moment = datetime.strptime(wall, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    offset = timedelta()
    if zone not in ("", "Z"):
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours >= 24 or minutes >= 60:
            return None
        offset = timedelta(hours=hours, minutes=minutes) * (1 if zone[0] == "+" else -1)
    micros = int((fraction.group(1) + "000000")[:6]) if fraction else 0
    return moment + timedelta(microseconds=micros) - offset


def test_every_text_the_shape_rules_accept_is_typed_or_quarantined_as_no_value(
    settings: Settings, data_dir: Path
) -> None:
    """Any record that passes the contract can be typed: generated texts of every shape the
    regexes accept never reach silver with a NULL typed column, and their values are Python's."""
    rng = random.Random(17)
    stamps = [_random_iso_text(rng) for _ in range(1500)]
    durations = [
        rng.choice(["", "-"])
        + "".join(rng.choice("0123456789") for _ in range(rng.choice([1, 3, 5, 19, 400])))
        for _ in range(300)
    ]
    assert all(re.fullmatch(ISO_8601.removeprefix("^").removesuffix(r"\z"), text) for text in stamps)
    lines = [event(ts=text) for text in stamps] + [event(duration=text) for text in durations]
    write_lines(data_dir / "events" / "a.jsonl", lines)
    run_contract(settings)
    failed = dict(query(settings, "SELECT _line_number, failed_rules FROM quarantine.events"))
    typed = dict(query(settings, "SELECT _line_number, struct_pack(event_ts, duration) FROM silver.events"))
    assert len(failed) + len(typed) == len(lines)
    for line, text in enumerate(stamps, 1):
        instant = _python_instant(text)
        assert ("timestamp_real_instant" in failed.get(line, [])) == (instant is None), text
        if line in typed:
            assert typed[line]["event_ts"] == instant, text
    for line, text in enumerate(durations, len(stamps) + 1):
        if line in typed:
            assert typed[line]["duration"] == int(text), text
        else:
            assert set(failed[line]) <= {"duration_in_range"}, (text, failed[line])
    impossible = sum("timestamp_real_instant" in rules for rules in failed.values())
    assert 100 < impossible < len(stamps) - 100  # both sides well represented


def test_reference_values_that_cannot_be_typed_are_quarantined_not_cast(
    settings: Settings, data_dir: Path
) -> None:
    """Before, 3,000,000,000 seconds passed and then failed the cast to silver's INTEGER, and a
    missing podcast_id reached dim_episodes' not-null test: both stopped every later run."""
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    write_csv(
        data_dir / "episodes" / "episodes.csv",
        "episode_id,podcast_id,title,release_date,duration_seconds\n"
        "ep_1,pod_1,Pilot,2023-01-01,1800\n"
        "ep_2,pod_1,Long,2023-01-01,3000000000\n"
        "ep_3,pod_1,Longer,2023-01-01,99999999999999999999\n"
        "ep_4,,No show,2023-01-01,60\n",
    )
    write_csv(
        data_dir / "episodes" / "more.csv",
        "episode_id,title,release_date,duration_seconds\nep_5,No column,2023-01-01,60\n",
    )
    with pytest.raises(ContractViolation) as failure:
        run_contract(settings)
    assert "\n" not in str(failure.value)
    assert query(
        settings, "SELECT _source_file, _line_number, failed_rules FROM quarantine.episodes ORDER BY 1, 2"
    ) == [
        ("episodes/episodes.csv", 3, ["duration_seconds_in_range"]),
        ("episodes/episodes.csv", 4, ["duration_seconds_in_range"]),
        ("episodes/episodes.csv", 5, ["podcast_id_not_blank"]),
        ("episodes/more.csv", 2, ["podcast_id_present"]),
    ]
    assert query(settings, "SELECT episode_id, podcast_id, duration_seconds FROM silver.episodes") == [
        ("ep_1", "pod_1", 1800)
    ]
