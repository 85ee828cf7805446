"""A real Prefect server on 127.0.0.1 for tests that run the CLI or a worker as subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from pipelines.settings import PROJECT_DIR

PREFECT = str(Path(sys.executable).parent / "prefect")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(home: Path, timeout: float = 90):
    """Start `prefect server start` with its own PREFECT_HOME; yield the environment that uses it."""
    port = _free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
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
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Prefect server did not start within {timeout:.0f} s") from None
                time.sleep(0.5)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=30)
