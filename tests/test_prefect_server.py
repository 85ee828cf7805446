"""Prefect's temporary server under `python flows/main.py` (flows/prefect_server.py): a first run
on a new PREFECT_HOME waits for the migrations, and no server outlives the run, even a SIGKILLed one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from flows.prefect_server import PREPARING_DATABASE
from pipelines.generate import generate
from pipelines.settings import PROJECT_DIR
from tests.workspace import Workspace

pytestmark = pytest.mark.slow


def _workspace(tmp_path: Path) -> Workspace:
    generate(tmp_path / "data", 500, seed=1, n_files=1)
    return Workspace.create(tmp_path / "workspace", tmp_path / "data")


def _env(home: Path) -> dict:
    """No PREFECT_API_URL, and a PREFECT_HOME of its own: the CLI starts a temporary server."""
    env = {name: value for name, value in os.environ.items() if name != "PREFECT_API_URL"}
    return {**env, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def _processes_using(home: Path) -> list[psutil.Process]:
    """Every process with this PREFECT_HOME in its command line or environment (zombies aside)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if str(home) in " ".join(process.cmdline()) or process.environ().get("PREFECT_HOME") == str(home):
                found.append(process)
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
    return found


def _survivors(home: Path, grace_seconds: float = 5) -> list[psutil.Process]:
    """The processes still using this PREFECT_HOME after a short grace: one that is already
    ending when the run returns (a helper reading its closed pipe) is given time to go; a server
    left behind is still there."""
    deadline = time.monotonic() + grace_seconds
    while (left := _processes_using(home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _kill(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass


# wait() right after the start on a new home, in a process of its own (no Prefect settings loaded
# by other tests): the migrations cannot be done yet.
WAIT_AT_ONCE = """
from prefect.settings import get_current_settings
from flows.prefect_server import TemporaryServer
with TemporaryServer() as server:
    server.wait()
    server.wait()
    print("healthy" if server._healthy() else "not healthy")
    with server.flow_settings():
        print("heartbeats every", get_current_settings().flows.heartbeat_frequency)
    print("heartbeats every", get_current_settings().flows.heartbeat_frequency)
"""


@pytest.mark.timeout(300)
def test_waiting_for_a_new_database_says_so_once(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WAIT_AT_ONCE],
        cwd=PROJECT_DIR,
        env=_env(tmp_path / "prefect-home"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    # no heartbeats for a server that ends with the run; Prefect's default (seconds) outside the run
    assert result.stdout.splitlines() == ["healthy", "heartbeats every None", "heartbeats every 180"]
    assert result.stderr.splitlines() == [PREPARING_DATABASE]


@pytest.mark.timeout(600)
def test_first_run_on_a_new_prefect_home_succeeds_and_leaves_no_server(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    home = tmp_path / "prefect-home"  # not created: as new as it gets
    # Files, not pipes: a server left behind would hold pipes open and hang the test instead.
    with (tmp_path / "stdout").open("w") as out, (tmp_path / "stderr").open("w") as err:
        run = workspace.start(_env(home), stdout=out, stderr=err)
    try:
        run.wait(timeout=540)
        left = _survivors(home)
    finally:
        run.kill()
        _kill(_processes_using(home))
    stdout, stderr = (tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text()
    assert run.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stdout and "Traceback" not in stderr
    assert "nanobind" not in stderr  # a plain exit: no "leaked instance" lines at interpreter shutdown
    # The one line a first run may print, when the migrations outlast the imports (machine-dependent).
    assert set(stderr.splitlines()) <= {PREPARING_DATABASE}
    assert "500 events loaded from 3 files" in stdout
    assert (home / "temporary-server.log").is_file()  # the server's own output went there
    assert left == []


@pytest.mark.timeout(300)
def test_server_does_not_outlive_a_sigkilled_run(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path)
    home = tmp_path / "prefect-home"
    run = workspace.start(_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        servers: list[psutil.Process] = []
        while not servers:
            assert time.monotonic() < deadline, "no server process appeared"
            assert run.poll() is None, f"flows/main.py exited early ({run.returncode})"
            servers = [child for child in psutil.Process(run.pid).children() if "uvicorn" in child.cmdline()]
            time.sleep(0.05)
        time.sleep(2)  # let it get going: importing, or migrating the new database
        run.kill()
        run.wait()
        gone, alive = psutil.wait_procs(servers, timeout=5)
        assert alive == [] or all(process.status() == psutil.STATUS_ZOMBIE for process in alive)
        assert _survivors(home) == []
    finally:
        run.kill()
        _kill(_processes_using(home))


def test_a_server_that_is_not_ours_keeps_prefects_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import get_current_settings

    from flows.prefect_server import TemporaryServer

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing is started for it
    with TemporaryServer() as server, server.flow_settings():
        assert server.process is None
        assert get_current_settings().flows.heartbeat_frequency == 180  # Prefect's default
