"""`python flows/main.py` as a user meets it: one plain line when a run fails, never a traceback,
and a warehouse that a failing data test never wedges (the run after a contract fix heals it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import httpx
import pytest

from flows.lock import warehouse_lock
from tests.conftest import event, write_lines
from tests.workspace import Workspace

pytestmark = pytest.mark.slow
ANSWER_FILES = ("q1_top_completed_episodes.csv", "q2_listen_through_rate_by_country.csv")


@pytest.fixture
def workspace(tmp_path: Path, data_dir: Path) -> Workspace:
    write_lines(
        data_dir / "events" / "a.jsonl",
        [event(), event(kind="complete", ts="2024-03-01T10:30:00", duration=1700)],
    )
    return Workspace.create(tmp_path / "workspace", data_dir)


def run_cli(
    workspace: Workspace, env: dict, *extra: str, python_flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    python, *command = workspace.command()
    return subprocess.run(
        [python, *python_flags, *command, *extra],
        cwd=Path(__file__).resolve().parent.parent,
        env={**env, "PODCAST_GX_DIR": str(workspace.root / "gx"), "PODCAST_REFERENCE_TIME": "2025-01-01"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_one_error_line(result: subprocess.CompletedProcess, code: int = 1) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert "nanobind" not in result.stderr  # no "leaked instance" report when the process exits
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_failing_data_test_stops_the_run_with_one_line_and_the_next_run_heals(
    prefect_env: dict, workspace: Workspace
) -> None:
    assert run_cli(workspace, prefect_env).returncode == 0
    before = {name: (workspace.exports / name).read_bytes() for name in ANSWER_FILES}

    # An older contract, without the rule on real instants, lets an impossible one into silver,
    # where dbt's not-null test on the typed timestamp catches it.
    suite_file = workspace.root / "gx" / "expectations" / "events.json"
    current = suite_file.read_text()
    suite = json.loads(current)
    suite["expectations"] = [
        e for e in suite["expectations"] if e["meta"]["rule"] != "timestamp_real_instant"
    ]
    suite_file.write_text(json.dumps(suite))
    write_lines(workspace.data_dir / "events" / "b.jsonl", [event(ts="2023-02-29T10:00:00")])
    failed = run_cli(workspace, prefect_env)
    line = assert_one_error_line(failed)
    assert "not_null_stg_podcast_app__events_event_at: 1 row (events/b.jsonl line 1)" in line, line
    assert {name: (workspace.exports / name).read_bytes() for name in ANSWER_FILES} == before

    # The contract fixed: the next run re-validates, quarantines the row, and completes as before.
    suite_file.write_text(current)
    healed = run_cli(workspace, prefect_env)
    assert healed.returncode == 0, healed.stderr
    assert "re-validated events after a contract change: 3 rows, 1 moved to quarantine" in healed.stdout
    assert {name: (workspace.exports / name).read_bytes() for name in ANSWER_FILES} == before
    summary = json.loads((workspace.exports / "run_summary.json").read_text())
    assert summary["warehouse"]["events"]["quarantined"] == 1


def test_whatever_fails_the_terminal_gets_one_line_and_the_run_log_the_trace(
    prefect_env: dict, workspace: Workspace
) -> None:
    # A directory where the run's lock file goes: the flow itself fails, outside any task.
    (workspace.root / "podcast.duckdb.lock").mkdir(parents=True)
    line = assert_one_error_line(run_cli(workspace, prefect_env))
    run_log = workspace.root / "podcast.log"
    assert f"(full log: {run_log})" in line
    assert "Traceback" in run_log.read_text() and "IsADirectoryError" in run_log.read_text()

    verbose = run_cli(workspace, prefect_env, "--verbose")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_a_warehouse_another_run_holds_exits_75_without_waiting_by_default(
    prefect_env: dict, workspace: Workspace
) -> None:
    # the other run holds the lock and, as while it loads or builds, a DuckDB write connection
    with warehouse_lock(workspace.warehouse), duckdb.connect(str(workspace.warehouse)):
        line = assert_one_error_line(run_cli(workspace, prefect_env), code=75)
        assert "another run is using" in line
        waited = run_cli(workspace, {**prefect_env, "PODCAST_LOCK_WAIT_SECONDS": "1.5"})
    assert waited.returncode == 75 and "Traceback" not in waited.stderr
    assert "waited 1.5 s" in waited.stderr


def test_a_run_past_its_time_limit_ends_in_one_line_and_the_next_run_takes_up_its_work(
    prefect_env: dict, workspace: Workspace, receiver
) -> None:
    url, received = receiver
    assert run_cli(workspace, prefect_env).returncode == 0
    write_lines(workspace.data_dir / "events" / "b.jsonl", [event(ts="2024-03-02T09:00:00")])
    # The flow of a run with a new file takes seconds (ingestion, the contract, dbt): 1 s ends it midway.
    limited = {**prefect_env, "PODCAST_RUN_TIMEOUT_SECONDS": "1", "PODCAST_NOTIFY_URLS": url}
    line = assert_one_error_line(run_cli(workspace, limited), code=124)
    assert "took longer than its time limit of 1 s and was stopped" in line
    assert [message["title"] for message in received] == ["podcast pipeline stopped"]
    crashed = httpx.post(
        f"{prefect_env['PREFECT_API_URL']}/flow_runs/filter",
        json={"flow_runs": {"state": {"type": {"any_": ["CRASHED"]}}}},
    ).json()
    assert line.removeprefix("error: ") in [run["state"]["message"] for run in crashed]

    again = run_cli(workspace, prefect_env)  # the lock went with the process; its work is taken up
    assert again.returncode == 0, again.stderr
    summary = json.loads((workspace.exports / "run_summary.json").read_text())
    assert summary["warehouse"]["events"] == {
        "bronze": 3,
        "valid": 3,
        "quarantined": 0,
        "distinct": 3,
        "duplicates_removed": 0,
    }


def test_a_piped_run_ends_with_its_whole_summary(prefect_env: dict, workspace: Workspace) -> None:
    """The process ends without the interpreter's teardown (flows/main.py `_exit`): what it printed
    into the pipe's buffer still arrives, to the last line."""
    buffered = {name: value for name, value in prefect_env.items() if name != "PYTHONUNBUFFERED"}
    result = run_cli(workspace, buffered)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines() or ["(nothing arrived)"]
    assert lines[0].startswith("this run:") and lines[-1].startswith("time:"), result.stdout


def test_a_run_with_nothing_new_imports_neither_dlt_nor_gx_nor_dbt(
    prefect_env: dict, workspace: Workspace
) -> None:
    assert run_cli(workspace, prefect_env).returncode == 0
    noop = run_cli(workspace, prefect_env, python_flags=("-X", "importtime"))
    assert noop.returncode == 0, noop.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in noop.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "prefect" in imported  # the check sees the imports
    assert not imported & {"dlt", "great_expectations", "dbt", "pyarrow", "numpy", "scipy"}
    summary = json.loads((workspace.exports / "run_summary.json").read_text())
    assert summary["this_run"]["events"]["loaded"] == 0
    assert list(summary["seconds"]) == [
        "startup",
        "ingest",
        "validate",
        "transform",
        "export",
        "orchestration",
        "exit",
    ]
    assert summary["seconds"]["startup"] > 0.1  # the imports at least: measured from the start
    assert all(seconds >= 0 for seconds in summary["seconds"].values()), summary["seconds"]


def test_a_terminal_gets_a_status_line_and_a_pipe_plain_lines(
    prefect_env: dict, workspace: Workspace
) -> None:
    import os
    import pty

    leader, follower = pty.openpty()
    python, *command = workspace.command()
    process = subprocess.Popen(
        [python, *command],
        cwd=Path(__file__).resolve().parent.parent,
        env={**prefect_env, "PODCAST_GX_DIR": str(workspace.root / "gx")},
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the run closed its end
            break
        if not chunk:
            break
        shown += chunk
    assert process.wait(timeout=600) == 0
    os.close(leader)
    screen = shown.decode()
    for stage in ("ingest: read events/a.jsonl", "validate: events-load-", "transform: 1 of", "export"):
        assert f"s] {stage}" in screen, screen
    assert screen.count("\r\x1b[K") > 5 and "Traceback" not in screen
    assert "this run:" in process.stdout.read().decode()

    piped = run_cli(workspace, prefect_env)  # stderr is a pipe here: no status line
    assert piped.returncode == 0 and "\x1b[K" not in piped.stderr and "s] " not in piped.stderr
