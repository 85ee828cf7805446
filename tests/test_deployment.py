"""prefect.yaml for real: a Prefect server on 127.0.0.1, `prefect deploy --all`, a process worker
running the backfill deployment, and its exports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.generate import generate
from pipelines.settings import PROJECT_DIR, Settings

pytestmark = pytest.mark.slow
PREFECT = str(Path(sys.executable).parent / "prefect")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def prefect_env(tmp_path: Path):
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PODCAST_PROJECT_DIR": str(PROJECT_DIR),
        "COLUMNS": "250",  # rich tables print whole state names
    }
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("Prefect server did not start within 90 s")
    yield env
    server.terminate()
    server.wait(timeout=30)


def prefect(env: dict, *args: str, timeout: int = 300) -> str:
    result = subprocess.run(
        [PREFECT, *args], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


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
        "data_dir": str(settings.data_dir),
        "warehouse": str(settings.warehouse),
        "exports_dir": str(settings.exports_dir),
        "as_of": "2024-05-31",
        "full_refresh": True,
    }
    started = prefect(
        env, "deployment", "run", "podcast_pipeline/backfill", "--params", json.dumps(parameters)
    )
    assert "backfill" in started
    prefect(env, "worker", "start", "--pool", "podcast-process", "--run-once", timeout=600)
    runs = prefect(env, "flow-run", "ls")
    assert "COMPLETED" in runs
    summary = json.loads((settings.exports_dir / "run_summary.json").read_text())
    assert summary["as_of"] == "2024-05-31" and summary["events"]["read"] == 2_000
    assert (settings.exports_dir / "q1_top_completed_episodes.csv").exists()
