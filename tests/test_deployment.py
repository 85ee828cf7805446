"""prefect.yaml for real: a Prefect server on 127.0.0.1, `prefect deploy --all`, a process worker
running the backfill deployment, and its exports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipelines.generate import generate
from pipelines.settings import PROJECT_DIR, Settings
from tests.prefect_server import PREFECT, prefect_server

pytestmark = pytest.mark.slow


@pytest.fixture
def prefect_env(tmp_path: Path):
    with prefect_server(tmp_path / "prefect-home") as env:
        yield env


def prefect(env: dict, *args: str, timeout: int = 300) -> str:
    """What the command printed, stdout then stderr."""
    result = subprocess.run(
        [PREFECT, *args], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout + result.stderr


def test_backfill_deployment_runs_through_a_process_worker(prefect_env: dict, settings: Settings) -> None:
    generate(settings.data_dir, 2_000, seed=8, n_files=1)
    env = {
        **prefect_env,
        "PODCAST_GX_DIR": str(settings.gx_dir),
        "PODCAST_REFERENCE_TIME": settings.reference_time.isoformat(),
    }
    prefect(env, "work-pool", "create", "podcast-process", "--type", "process")
    deployed = prefect(env, "--no-prompt", "deploy", "--all")
    for name in ("hourly-incremental", "daily-with-docs", "backfill"):
        assert name in deployed
    parameters = {
        "settings": {
            "data_dir": str(settings.data_dir),
            "warehouse": str(settings.warehouse),
            "exports_dir": str(settings.exports_dir),
            "as_of": "2024-05-31",
            "full_refresh": True,
        }
    }
    started = prefect(
        env, "deployment", "run", "podcast_pipeline/backfill", "--params", json.dumps(parameters)
    )
    assert "backfill" in started
    worker = prefect(env, "worker", "start", "--pool", "podcast-process", "--run-once", timeout=600)
    assert "Finished in state Completed()" in worker  # the flow run's own log, through the worker
    assert "nanobind" not in worker  # no leak report when the flow run's process exits
    runs = prefect(env, "flow-run", "ls")
    assert "COMPLETED" in runs
    summary = json.loads((settings.exports_dir / "run_summary.json").read_text())
    assert summary["as_of"] == "2024-05-31" and summary["this_run"]["events"]["loaded"] == 2_000
    assert (settings.exports_dir / "q1_top_completed_episodes.csv").exists()
