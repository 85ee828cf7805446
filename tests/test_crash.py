"""Crash safety: 20 SIGKILLs spread over the four stages, each followed by a rerun (tests/crash.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.crash import STAGES, crash_test
from tests.prefect_server import prefect_server

pytestmark = pytest.mark.slow
KILLS = 20


def test_kill_anywhere_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    with prefect_server(tmp_path / "prefect-home") as env:
        report = crash_test(KILLS, seed=7, env=env, scratch=tmp_path)
    assert report.failures == []
    assert report.kills == KILLS
    # the kills really landed inside the stages, not only before or after the run
    assert sum(report.by_stage[stage] for stage in STAGES) >= KILLS * 3 // 4
    assert all(report.by_stage[stage] > 0 for stage in STAGES), report.by_stage
