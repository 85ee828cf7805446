"""Shared fixtures: a throw-away data directory and warehouse per test, and small helpers."""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest

from pipelines.settings import GX_DIR, Settings
from tests.prefect_server import prefect_server

GX_COMMITTED = ("great_expectations.yml", "expectations", "checkpoints", "validation_definitions", "plugins")

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="module")
def prefect_env(tmp_path_factory):
    """A real Prefect server for the module's CLI runs; the environment that uses it."""
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as env:
        yield env


def event(
    kind: str = "play",
    user: str = "user_1",
    episode: str = "ep_1",
    ts: str = "2024-03-01T10:00:00",
    duration: int | None = 600,
    **extra,
) -> str:
    """One NDJSON line; duration is left out when None."""
    record = {"event_type": kind, "user_id": user, "episode_id": episode, "timestamp": ts}
    if duration is not None:
        record["duration"] = duration
    record.update(extra)
    return json.dumps(record)


def write_lines(path: Path, lines: list[str | bytes], newline: bytes = b"\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [line if isinstance(line, bytes) else line.encode() for line in lines]
    path.write_bytes(newline.join(data) + (newline if data else b""))
    return path


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_csv(root / "users" / "users.csv", "user_id,signup_date,country\nuser_1,2023-01-01,US\n")
    write_csv(
        root / "episodes" / "episodes.csv",
        "episode_id,podcast_id,title,release_date,duration_seconds\nep_1,pod_1,Pilot,2023-01-01,1800\n",
    )
    (root / "events").mkdir()
    return root


@pytest.fixture
def gx_dir(tmp_path: Path) -> Path:
    """A private copy of the committed contract, so results and data docs stay in the test."""
    target = tmp_path / "project" / "gx"
    for name in GX_COMMITTED:
        source = GX_DIR / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / name)
    return target


@pytest.fixture
def settings(data_dir: Path, tmp_path: Path, gx_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        warehouse=tmp_path / "warehouse" / "test.duckdb",
        exports_dir=tmp_path / "exports",
        gx_dir=gx_dir,
        reference_time=datetime(2025, 1, 1, tzinfo=UTC),
    )


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """A notification target (an Apprise json:// URL) and the messages it received."""
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{server.server_port}/hook?token=s3cret-token", _Receiver.received
    server.shutdown()
