"""Hostile and broken inputs: each gives a quarantined row or a clear per-file status, never a
traceback, and every line read is accounted for (lines read = rows loaded + blank lines; bronze
rows = silver rows + quarantined rows)."""

from __future__ import annotations

import builtins
import gzip
import json
from pathlib import Path

import pytest

from gx.report import ContractViolation
from gx.validate import validate
from pipelines.ingest import ingest
from pipelines.settings import Settings, SettingsError
from tests.conftest import event, query, write_csv, write_lines


def deeply_nested(depth: int) -> str:
    return (
        json.dumps({"event_type": "play", "user_id": "u", "episode_id": "e"})[:-1]
        + ', "x": '
        + ("[" * depth + "]" * depth)
        + "}"
    )


# name -> (file name under events/, bytes of the file)
EVENT_FILES = {
    "100 MB single line": ("big.jsonl", b'{"event_type": "play", "junk": "' + b"x" * 100_000_000 + b'"}\n'),
    "deeply nested JSON": ("nested.jsonl", deeply_nested(100_000).encode() + b"\n"),
    "JSON array instead of NDJSON": (
        "array.json",
        json.dumps([json.loads(event()), json.loads(event(user="user_2"))], indent=2).encode(),
    ),
    "every field of the wrong type": (
        "types.jsonl",
        json.dumps(
            {"event_type": 7, "user_id": [1], "episode_id": {"a": 1}, "timestamp": True, "duration": "x"}
        ).encode()
        + b"\n",
    ),
    "NUL bytes": ("nul.jsonl", event().encode()[:20] + b"\x00\x00" + event().encode()[20:] + b"\n"),
    "invalid UTF-8": ("utf8.jsonl", b'{"event_type": "play", "user_id": "\xff\xfe"}\n'),
    "truncated gzip": ("cut.jsonl.gz", gzip.compress((event() + "\n").encode() * 1000)[:-30]),
    "empty file": ("empty.jsonl", b""),
    "name with spaces, quotes and a semicolon": (
        'it\'s a "test"; DROP TABLE x.jsonl',
        event().encode() + b"\n",
    ),
    "non-ASCII name": ("écoute-日本.jsonl", event().encode() + b"\n"),
}


def assert_accounted(settings: Settings, report) -> None:
    for file in report.files:
        if file["kind"] == "events" and file["status"] != "unreadable":
            assert file["lines_read"] == file["rows_loaded"] + file["empty_lines"], file
    for table in ("events", "users", "episodes"):
        ((bronze, silver, bad),) = query(
            settings,
            f"SELECT (SELECT count(*) FROM bronze.{table}), (SELECT count(*) FROM silver.{table}), "
            f"(SELECT count(*) FROM quarantine.{table})",
        )
        assert bronze == silver + bad, table


@pytest.mark.parametrize("case", sorted(EVENT_FILES))
def test_hostile_event_file_is_loaded_or_reported_never_raises(
    settings: Settings, data_dir: Path, case: str
) -> None:
    name, content = EVENT_FILES[case]
    write_lines(data_dir / "events" / "good.jsonl", [event()])
    (data_dir / "events" / name).write_bytes(content)
    report = ingest(settings)
    validate(settings)
    assert_accounted(settings, report)
    files = {f["source_file"]: f for f in report.files}
    hostile = files[f"events/{name}"]
    assert hostile["status"] in ("loaded", "partial")
    assert query(settings, "SELECT count(*) FROM silver.events WHERE _source_file = 'events/good.jsonl'") == [
        (1,)
    ]
    if case == "truncated gzip":
        assert hostile["status"] == "partial" and "EOFError" in hostile["error"]
    if case in ("100 MB single line", "deeply nested JSON", "every field of the wrong type", "NUL bytes"):
        assert hostile["rows_loaded"] == 1
        assert query(
            settings, f"SELECT count(*) FROM quarantine.events WHERE _source_file = 'events/{name}'"
        ) == [(1,)]


def test_directory_named_like_an_event_file_is_skipped(settings: Settings, data_dir: Path) -> None:
    (data_dir / "events" / "x.jsonl").mkdir()
    write_lines(data_dir / "events" / "x.jsonl" / "inner.jsonl", [event()])
    report = ingest(settings)
    assert {f["source_file"] for f in report.files if f["kind"] == "events"} == {"events/x.jsonl/inner.jsonl"}


def test_symlink_loop_is_reported_and_retried(settings: Settings, data_dir: Path) -> None:
    (data_dir / "events" / "loop.jsonl").symlink_to(data_dir / "events" / "loop.jsonl")
    (data_dir / "events" / "dirloop").symlink_to(data_dir / "events", target_is_directory=True)
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    report = ingest(settings)
    status = {f["source_file"]: f["status"] for f in report.files if f["kind"] == "events"}
    assert status == {"events/a.jsonl": "loaded", "events/loop.jsonl": "unreadable"}


def test_unreadable_file_is_reported_and_retried(settings: Settings, data_dir: Path, monkeypatch) -> None:
    locked = write_lines(data_dir / "events" / "locked.jsonl", [event()])
    locked.chmod(0)
    real_open = builtins.open

    def open_as_unprivileged_user(file, *args, **kwargs):  # tests run as root, which ignores modes
        if Path(file) == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_as_unprivileged_user)
    report = ingest(settings)
    (locked_row,) = [f for f in report.files if f["source_file"] == "events/locked.jsonl"]
    assert locked_row["status"] == "unreadable" and "Permission denied" in locked_row["error"]
    monkeypatch.setattr(builtins, "open", real_open)
    locked.chmod(0o644)
    assert ingest(settings).rows_of("events") == 1


# name -> users.csv text
USER_FILES = {
    "missing header": "user_1,2023-01-01,SE\nuser_2,2023-01-02,FI\n",
    "missing column": "user_id,signup_date\nuser_1,2023-01-01\n",
    "extra column": "user_id,signup_date,country,plan\nuser_1,2023-01-01,SE,gold\n",
    "duplicate keys": "user_id,signup_date,country\nuser_1,2023-01-01,SE\nuser_1,2023-02-01,FI\n",
    "quoted newline": 'user_id,signup_date,country\n"user\n1",2023-01-01,SE\n',
    "other delimiter": "user_id;signup_date;country\nuser_1;2023-01-01;SE\n",
}


@pytest.mark.parametrize("case", sorted(USER_FILES))
def test_broken_reference_csv_is_loaded_and_judged_never_raises(
    settings: Settings, data_dir: Path, case: str
) -> None:
    write_csv(data_dir / "users" / "users.csv", USER_FILES[case])
    write_lines(data_dir / "events" / "a.jsonl", [event()])
    report = ingest(settings)
    try:
        validate(settings)
        failed = None
    except ContractViolation as error:
        failed = str(error)
    assert_accounted(settings, report)
    valid = {row[0] for row in query(settings, "SELECT user_id FROM silver.users")}
    # The rows that pass, and whether the run stops on the file (a reference row failed).
    expected_valid, stops = {
        "missing header": (set(), True),  # the first record is read as the header: no user_id column
        "missing column": (set(), True),
        "extra column": ({"user_1"}, False),
        "duplicate keys": (set(), True),
        "quoted newline": ({"user\n1"}, False),
        "other delimiter": ({"user_1"}, False),
    }[case]
    assert valid == expected_valid
    assert (failed is not None) == stops
    if failed:
        assert "\n" not in failed and "users/users.csv" in failed


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PODCAST_AS_OF", "2024-01-01'; DROP TABLE marts.dim_users; --"),
        ("PODCAST_DUCKDB_MEMORY_LIMIT", "1GB'; DROP TABLE bronze.events; --"),
        ("PODCAST_REFERENCE_TIME", "now(); DROP TABLE silver.events"),
    ],
)
def test_sql_in_a_setting_is_rejected_before_any_sql(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: value})
    assert variable in str(raised.value) and "\n" not in str(raised.value)
