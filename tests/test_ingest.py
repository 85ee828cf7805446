"""dlt ingestion into bronze: incremental, idempotent, schema-evolving, and lossless."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines import files
from pipelines.generate import generate
from pipelines.ingest import ingest
from pipelines.settings import Settings, SettingsError
from tests.conftest import event, query, write_csv, write_lines


@pytest.fixture(params=["in the warehouse file", "at a URL"])
def settings(request, settings: Settings, tmp_path: Path) -> Settings:
    """Every test twice: bronze in the warehouse file, and as Parquet files at a file:// URL that
    the warehouse reads as views (pipelines/bronze.py)."""
    if request.param == "at a URL":
        return replace(settings, bronze_url=(tmp_path / "lake").as_uri())
    return settings


def _events_per_load(settings: Settings) -> dict[str, int]:
    return dict(query(settings, "SELECT _dlt_load_id, count(*) FROM bronze.events GROUP BY 1"))


def _assert_accounted(settings: Settings) -> None:
    """bronze rows == non-empty lines read, per file and per load; every load id is complete."""
    per_file = query(
        settings,
        """
        SELECT f.source_file, f._dlt_load_id, f.lines_read - f.empty_lines, count(e._line_number)
        FROM bronze.source_files f
        LEFT JOIN bronze.events e ON e._source_file = f.source_file AND e._dlt_load_id = f._dlt_load_id
        WHERE f.kind = 'events'
        GROUP BY ALL
        """,
    )
    for name, load_id, non_empty_lines, rows in per_file:
        assert non_empty_lines == rows, (name, load_id)
    orphans = query(
        settings,
        "SELECT count(*) FROM bronze.events WHERE _dlt_load_id NOT IN "
        "(SELECT load_id FROM bronze._dlt_loads WHERE status = 0)",
    )
    assert orphans == [(0,)]


def test_one_file_loads_every_line_with_its_load_id(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(user=f"user_{i}") for i in range(5)])
    report = ingest(settings)
    assert len(report.load_ids) == 1
    assert report.rows_of("events") == 5
    assert _events_per_load(settings) == {report.load_ids[0]: 5}
    assert query(
        settings, "SELECT count(*) FROM bronze._dlt_loads WHERE load_id = ?", [report.load_ids[0]]
    ) == [(1,)]
    assert query(settings, "SELECT _line_number FROM bronze.events ORDER BY 1") == [(i,) for i in range(1, 6)]
    # every field as text, exactly as received
    assert query(settings, "SELECT DISTINCT typeof(duration), duration FROM bronze.events") == [
        ("VARCHAR", "600")
    ]
    _assert_accounted(settings)


def test_same_file_twice_loads_nothing_the_second_time(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(), event(kind="pause", duration=None)])
    ingest(settings)
    loads_before = query(settings, "SELECT count(*) FROM bronze._dlt_loads")
    os.utime(data_dir / "events" / "a.jsonl")  # touched, not changed: still not reloaded
    report = ingest(settings)
    assert report.load_ids == () and report.rows_loaded == 0
    assert query(settings, "SELECT count(*) FROM bronze._dlt_loads") == loads_before
    assert query(settings, "SELECT count(*) FROM bronze.events") == [(2,)]


def test_a_run_with_nothing_new_skips_dlt_unless_in_doubt(settings: Settings, data_dir: Path) -> None:
    working_dir = settings.dlt_pipelines_dir / "podcast_ingest"
    assert not files.nothing_new(data_dir, working_dir)  # no state yet
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    ingest(settings)
    assert files.nothing_new(data_dir, working_dir)
    os.utime(data_dir / "events" / "a.jsonl", ns=(1, 1))  # touched, not changed: its hash says so
    assert files.nothing_new(data_dir, working_dir)
    write_lines(data_dir / "events" / "a.jsonl", [event(user="user_9")])  # changed, same size
    os.utime(data_dir / "events" / "a.jsonl", ns=(1, 1))
    assert not files.nothing_new(data_dir, working_dir)
    assert len(ingest(settings).load_ids) == 1
    ingest_state = (working_dir / "state.json").read_text()
    write_lines(data_dir / "users" / "more.csv", ["user_id,signup_date,country", "user_2,2023-01-01,GB"])
    assert not files.nothing_new(data_dir, working_dir)  # a new file
    assert len(ingest(settings).load_ids) == 1
    assert files.nothing_new(data_dir, working_dir)
    unfinished = working_dir / "load" / "normalized" / "1234.5"
    unfinished.mkdir(parents=True)
    assert not files.nothing_new(data_dir, working_dir)  # a load dlt has not finished
    unfinished.rmdir()
    (working_dir / "state.json").write_text(ingest_state[: len(ingest_state) // 2])
    assert not files.nothing_new(data_dir, working_dir)  # state it cannot read


def test_two_files_in_sequence_add_exactly_their_rows(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event() for _ in range(3)])
    first = ingest(settings)
    write_lines(data_dir / "events" / "b.jsonl", [event(user="user_2") for _ in range(4)])
    second = ingest(settings)
    assert second.rows_of("events") == 4 and second.rows_of("users") == 0
    assert _events_per_load(settings) == {first.load_ids[0]: 3, second.load_ids[0]: 4}
    _assert_accounted(settings)


def test_changed_file_is_loaded_again_as_a_new_version(settings: Settings, data_dir: Path) -> None:
    path = write_lines(data_dir / "events" / "a.jsonl", [event()])
    ingest(settings)
    write_lines(path, [event(), event(user="user_2")])
    report = ingest(settings)
    assert report.rows_of("events") == 2
    assert query(
        settings,
        "SELECT count(DISTINCT sha256) FROM bronze.source_files WHERE source_file = ?",
        ["events/a.jsonl"],
    ) == [(2,)]


def test_extra_field_becomes_a_new_column(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    ingest(settings)
    write_lines(data_dir / "events" / "b.jsonl", [event(appVersion="5.1", device={"os": "ios"})])
    ingest(settings)
    rows = query(settings, "SELECT _source_file, app_version, device FROM bronze.events ORDER BY 1")
    assert rows == [("events/a.jsonl", None, None), ("events/b.jsonl", "5.1", '{"os":"ios"}')]


def test_schema_drift_is_reported_with_where_it_first_appears(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    assert ingest(settings).new_columns == ()  # the tables' first load is no drift
    write_lines(data_dir / "events" / "b.jsonl", [event(), event(), event(appVersion="5.1")])
    write_csv(data_dir / "users" / "more.csv", "user_id,signup_date,country,plan\nuser_2,2023-01-01,GB,pro\n")
    assert ingest(settings).new_columns == (
        {"table": "bronze.events", "column": "app_version", "source_file": "events/b.jsonl", "line": 3},
        {"table": "bronze.users", "column": "plan", "source_file": "users/more.csv", "line": 2},
    )
    write_lines(data_dir / "events" / "c.jsonl", [event(appVersion="5.2")])
    assert ingest(settings).new_columns == ()  # told once


def test_parts_keep_the_table_columns_whatever_a_load_contains(settings: Settings, data_dir: Path) -> None:
    """Each load's Parquet parts carry the table's columns in its order: a load without the
    extra field, or with nothing but garbage, still lines up with the table."""
    write_lines(data_dir / "events" / "a.jsonl", [event(appVersion="5.1")])
    ingest(settings)
    write_lines(data_dir / "events" / "b.jsonl", [event(user="user_2")])
    write_lines(data_dir / "events" / "c.jsonl", ["garbage", "more garbage"])
    ingest(settings)
    write_lines(data_dir / "events" / "d.jsonl", [event(user="user_4", device="tv")])
    ingest(settings)
    columns = [name for (name,) in query(settings, "SELECT column_name FROM (DESCRIBE bronze.events)")]
    assert columns == [
        "event_type", "user_id", "episode_id", "timestamp", "duration", "app_version",
        "_source_file", "_line_number", "_raw_line", "_parse_error", "_dlt_load_id", "device",
    ]  # fmt: skip
    rows = query(
        settings,
        "SELECT _source_file, user_id, app_version, device, _parse_error FROM bronze.events ORDER BY 1, 2",
    )
    assert rows == [
        ("events/a.jsonl", "user_1", "5.1", None, None),
        ("events/b.jsonl", "user_2", None, None, None),
        ("events/c.jsonl", None, None, None, "invalid JSON"),
        ("events/c.jsonl", None, None, None, "invalid JSON"),
        ("events/d.jsonl", "user_4", None, "tv", None),
    ]
    _assert_accounted(settings)


def test_lines_across_block_boundaries_load_whole(
    settings: Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of 64 bytes cut through lines, a CRLF, a multi-byte character and bad UTF-8:
    every line still loads once, whole, with its number, and a key first seen in a late
    block becomes a column."""
    lines = [
        b"\xef\xbb\xbf" + event().encode() + b"\r",
        '{"event_type": "play", "user_id": "us\u00e9r_\u20ac", "episode_id": "ep_1"}'.encode(),
        b"",
        b'{"user_id": "bad \xff bytes"}',
        *[event(user=f"user_{i}").encode() for i in range(3, 9)],
        event(user="user_9", late_key="x").encode(),
    ]
    (data_dir / "events" / "a.jsonl").write_bytes(b"\n".join(lines))  # no final newline
    monkeypatch.setattr("pipelines.ndjson.BLOCK_BYTES", 64)
    report = ingest(settings)
    (ledger,) = [file for file in report.files if file["kind"] == "events"]
    assert (ledger["lines_read"], ledger["empty_lines"], ledger["error"]) == (len(lines), 1, None)
    assert report.rows_of("events") == len(lines) - 1
    rows = query(
        settings, "SELECT _line_number, user_id, _parse_error, late_key FROM bronze.events ORDER BY 1"
    )
    assert [row[0] for row in rows] == [1, 2, *range(4, 12)]
    assert rows[0][1:3] == ("user_1", None) and rows[1][1] == "us\u00e9r_\u20ac"
    assert rows[2][2] == "invalid UTF-8"
    assert [row[1] for row in rows[3:]] == [f"user_{i}" for i in range(3, 10)]
    assert rows[-1][3] == "x" and all(row[3] is None for row in rows[:-1])
    _assert_accounted(settings)


def test_extra_field_colliding_with_a_known_one_keeps_both(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event(User_ID="shadow")])
    ingest(settings)
    assert query(settings, "SELECT user_id, extra_user_id FROM bronze.events") == [("user_1", "shadow")]


def test_malformed_lines_are_kept_with_raw_text_and_error(settings: Settings, data_dir: Path) -> None:
    lines = [
        event(),
        '{"event_type": "play", "user_id": "us',  # truncated
        "<html>502 Bad Gateway</html>",
        b'{"user_id": "bad \xff\xfe bytes"}',
        "[1, 2, 3]",
        '"just a string"',
        event(user="user_9"),
    ]
    write_lines(data_dir / "events" / "a.jsonl", lines)
    report = ingest(settings)
    assert report.rows_of("events") == 7
    rows = query(
        settings, "SELECT _line_number, user_id, _parse_error, _raw_line FROM bronze.events ORDER BY 1"
    )
    assert [row[2] for row in rows] == [
        None,
        "invalid JSON",
        "invalid JSON",
        "invalid UTF-8",
        "JSON value is not an object",
        "JSON value is not an object",
        None,
    ]
    assert rows[1][3] == '{"event_type": "play", "user_id": "us'
    assert rows[3][3] == '{"user_id": "bad \\xff\\xfe bytes"}'
    assert (rows[0][1], rows[6][1]) == ("user_1", "user_9")
    assert query(settings, "SELECT parse_errors FROM bronze.source_files WHERE kind = 'events'") == [(5,)]


def test_empty_file_and_blank_lines_are_counted_not_loaded(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "empty.jsonl", [])
    write_lines(data_dir / "events" / "blanks.jsonl", [event(), "", "   ", event(user="user_2"), ""])
    report = ingest(settings)
    files = {f["source_file"]: f for f in report.files}
    assert files["events/empty.jsonl"]["lines_read"] == 0
    assert files["events/blanks.jsonl"]["lines_read"] == 5
    assert files["events/blanks.jsonl"]["empty_lines"] == 3
    assert query(settings, "SELECT _line_number FROM bronze.events ORDER BY 1") == [(1,), (4,)]
    _assert_accounted(settings)


def test_gzip_loads_like_plain_text(settings: Settings, data_dir: Path) -> None:
    lines = [event(user=f"user_{i}").encode() for i in range(100)]
    (data_dir / "events" / "a.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    report = ingest(settings)
    assert report.rows_of("events") == 100
    assert query(settings, "SELECT count(*) FROM bronze.events WHERE _parse_error IS NULL") == [(100,)]


def test_truncated_gzip_keeps_complete_lines_and_says_so(settings: Settings, data_dir: Path) -> None:
    data = gzip.compress(b"\n".join(event(user=f"user_{i}").encode() for i in range(2000)))
    (data_dir / "events" / "a.jsonl.gz").write_bytes(data[: len(data) // 2])
    report = ingest(settings)
    (ledger,) = report.files if len(report.files) == 1 else [f for f in report.files if f["kind"] == "events"]
    assert ledger["status"] == "partial" and "EOFError" in ledger["error"]
    assert 0 < ledger["rows_loaded"] < 2000
    _assert_accounted(settings)


def test_crlf_and_bom_parse_cleanly(settings: Settings, data_dir: Path) -> None:
    lines = [b"\xef\xbb\xbf" + event().encode(), event(user="user_2").encode()]
    write_lines(data_dir / "events" / "win.jsonl", lines, newline=b"\r\n")
    ingest(settings)
    assert query(settings, "SELECT user_id, _parse_error FROM bronze.events ORDER BY _line_number") == [
        ("user_1", None),
        ("user_2", None),
    ]


def test_reference_update_appends_history(settings: Settings, data_dir: Path) -> None:
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    first = ingest(settings)
    write_csv(
        data_dir / "users" / "users.csv",
        "user_id,signup_date,country\nuser_1,2023-01-01,GB\nuser_2,2023-02-01,FR\n",
    )
    second = ingest(settings)
    assert second.rows_of("users") == 2 and second.rows_of("events") == 0
    rows = query(
        settings, "SELECT _dlt_load_id, user_id, country, _line_number FROM bronze.users ORDER BY 1, 2"
    )
    assert rows == [
        (first.load_ids[0], "user_1", "US", 2),
        (second.load_ids[0], "user_1", "GB", 2),
        (second.load_ids[0], "user_2", "FR", 3),
    ]
    # A third version names user_2 twice and has a row without a key: history keeps every row as
    # received (which version of a key wins is decided by dbt, among the valid ones).
    write_csv(
        data_dir / "users" / "users.csv",
        "user_id,signup_date,country\nuser_2,2023-02-01,DE\n,2023-03-01,SE\nuser_2,2023-02-01,IT\n",
    )
    third = ingest(settings)
    assert query(settings, "SELECT count(*) FROM bronze.users") == [(6,)]
    assert query(
        settings,
        "SELECT user_id, country FROM bronze.users WHERE _dlt_load_id = ? ORDER BY _line_number",
        [third.load_ids[0]],
    ) == [("user_2", "DE"), ("", "SE"), ("user_2", "IT")]


def test_reference_csv_with_other_delimiter_and_quoted_newline(settings: Settings, data_dir: Path) -> None:
    write_csv(
        data_dir / "episodes" / "episodes.csv",
        'episode_id;podcast_id;title;release_date;duration_seconds\nep_1;pod_1;"Two\nlines";2023-01-01;60\n'
        "ep_2;pod_1;Short;2023-01-02;90;surplus\n",
    )
    ingest(settings)
    rows = query(
        settings, "SELECT episode_id, title, _line_number, _extra_values FROM bronze.episodes ORDER BY 1"
    )
    assert rows == [("ep_1", "Two\nlines", 2, None), ("ep_2", "Short", 4, '["surplus"]')]


def test_dangling_symlink_is_reported_and_retried(settings: Settings, data_dir: Path) -> None:
    (data_dir / "events" / "gone.jsonl").symlink_to(data_dir / "nowhere.jsonl")
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    report = ingest(settings)
    status = {f["source_file"]: f["status"] for f in report.files}
    assert status == {
        "events/a.jsonl": "loaded",
        "events/gone.jsonl": "unreadable",
        "users/users.csv": "loaded",
        "episodes/episodes.csv": "loaded",
    }
    (data_dir / "nowhere.jsonl").write_text(event(user="user_late") + "\n")
    assert ingest(settings).rows_of("events") == 1


def test_file_read_but_not_hashed_loads_nothing_and_is_retried(
    settings: Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new file is hashed while it is read: when only the hashing fails, its rows are held
    back with it, so the retry loads them once."""
    write_lines(data_dir / "events" / "a.jsonl", [event(), event(user="user_2")])
    real_sha256_of = files.sha256_of

    def sha256_fails_for_a_jsonl(path: Path) -> str:
        if path.name == "a.jsonl":
            raise OSError(5, "Input/output error")
        return real_sha256_of(path)

    monkeypatch.setattr(files, "sha256_of", sha256_fails_for_a_jsonl)
    report = ingest(settings)
    (row,) = [f for f in report.files if f["kind"] == "events"]
    assert (row["status"], row["rows_loaded"]) == ("unreadable", 0)
    assert row["error"] == "OSError: Input/output error" and report.rows_of("events") == 0
    monkeypatch.setattr(files, "sha256_of", real_sha256_of)
    assert ingest(settings).rows_of("events") == 2
    assert query(settings, "SELECT count(*) FROM bronze.events") == [(2,)]
    _assert_accounted(settings)


def test_new_warehouse_has_every_row_again(settings: Settings, data_dir: Path) -> None:
    """In the warehouse file, bronze is gone with it and the files load again; at a URL, bronze
    stays there and the new warehouse takes it over without loading anything again."""
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    ingest(settings)
    settings.warehouse.unlink()
    assert ingest(settings).rows_of("events") == (0 if settings.bronze_url else 1)
    assert query(settings, "SELECT count(*) FROM bronze.events") == [(1,)]
    _assert_accounted(settings)


def test_missing_data_dir_is_a_one_line_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="data directory not found"):
        ingest(Settings(data_dir=tmp_path / "nope", warehouse=settings.warehouse))


def test_generated_dirty_data_is_fully_accounted(settings: Settings, tmp_path: Path) -> None:
    shutil.rmtree(settings.data_dir)
    manifest = generate(settings.data_dir, 30_000, seed=3, n_files=3, dirty_rate=0.1)
    report = ingest(settings)
    assert (
        report.rows_of("events")
        == report.lines_read - report.rows_of("users") - report.rows_of("episodes") - 2
        == manifest["events"]
    )
    assert query(settings, "SELECT count(*) FROM bronze.events WHERE _parse_error IS NOT NULL") == [
        (manifest["dirt"]["not_json"],)
    ]
    _assert_accounted(settings)


# A run killed after dlt committed a load job's rows, before it recorded the job as done.
DIES_AFTER_COMMIT = """
import os, sys
from pathlib import Path
from dlt.common.destination.client import RunnableLoadJob
from pipelines.ingest import ingest
from pipelines.settings import Settings

release = RunnableLoadJob._release

def killed_once_committed(self, next_state):
    if next_state == "completed" and self.file_name().startswith(sys.argv[4] + "."):
        os._exit(9)
    release(self, next_state)

RunnableLoadJob._release = killed_once_committed
ingest(Settings(data_dir=Path(sys.argv[1]), warehouse=Path(sys.argv[2]), bronze_url=sys.argv[3]))
"""


@pytest.mark.parametrize("table", ["source_files", "events"])
def test_a_run_killed_after_a_job_committed_loads_its_rows_once(
    settings: Settings, data_dir: Path, table: str
) -> None:
    """dlt runs the job again when the run resumes (its rows were committed, its state was not
    recorded): every bronze row of the resumed load is there once."""
    write_lines(data_dir / "events" / "a.jsonl", [event(user=f"user_{i}") for i in range(5)])
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            DIES_AFTER_COMMIT,
            str(data_dir),
            str(settings.warehouse),
            settings.bronze_url,
            table,
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 9, killed.stderr[-2000:]
    ingest(settings)
    assert query(settings, "SELECT count(*), count(DISTINCT _line_number) FROM bronze.events") == [(5, 5)]
    ledger = query(settings, "SELECT source_file, count(*) FROM bronze.source_files GROUP BY 1 ORDER BY 1")
    assert ledger == [("episodes/episodes.csv", 1), ("events/a.jsonl", 1), ("users/users.csv", 1)]
    _assert_accounted(settings)
