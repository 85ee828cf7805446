"""Crash safety and concurrency, on the real CLI against a real Prefect server (tests/crash.py):
20 SIGKILLs spread over the four stages, each followed by a rerun; two runs started at once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.crash import STAGES, crash_test, prepare, run, snapshot
from tests.workspace import Workspace

pytestmark = pytest.mark.slow
KILLS = 20


@pytest.mark.timeout(2400)  # 20 x (a killed run + a full rerun): about 10 minutes on 2 cores
def test_kill_anywhere_then_rerun_equals_a_clean_run(prefect_env: dict, tmp_path: Path) -> None:
    report = crash_test(KILLS, seed=7, env=prefect_env, scratch=tmp_path)
    assert report.failures == []
    assert report.kills == KILLS
    # the kills really landed inside the stages, not before or after the run
    assert sum(report.by_stage[stage] for stage in STAGES) >= KILLS * 3 // 4, report.by_stage
    assert all(report.by_stage[stage] > 0 for stage in STAGES), report.by_stage


def test_two_runs_at_once_one_exits_with_a_message_and_nothing_is_corrupted(
    prefect_env: dict, tmp_path: Path
) -> None:
    _, data = prepare(tmp_path / "data")
    clean = Workspace.create(tmp_path / "clean", data)
    run(clean, prefect_env)
    shared = Workspace.create(tmp_path / "shared", data)
    runs = [
        shared.start(prefect_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outcomes = sorted((process.wait(timeout=600), process.stderr.read()) for process in runs)
    codes = [code for code, _ in outcomes]
    # One run holds the warehouse lock for its whole length (~15 s), so the other, started at the
    # same moment, finds it busy; were it to come after, it would find nothing new and succeed.
    assert codes in ([0, 75], [0, 0]), outcomes
    if codes == [0, 75]:
        message = outcomes[1][1].strip().splitlines()[-1]
        assert message.startswith("error: another run is using") and "Traceback" not in outcomes[1][1]
    run(shared, prefect_env)
    assert snapshot(shared) == snapshot(clean)
