"""Prefect's temporary API server for one command-line run: started once and early, always stopped.

Without PREFECT_API_URL, Prefect starts a temporary ("ephemeral") server the first time a flow
needs its API, after importing the whole server package into this process only to launch
uvicorn in another (`prefect.server.api.server.SubprocessASGIServer`). `TemporaryServer` launches
the same uvicorn command itself, before Prefect is even imported here, so the server boots while
the pipeline's libraries import; `wait()` blocks only when the flow is about to need the API.

- Client: PREFECT_API_URL is set for this process (and its children) while the server runs, and
  PREFECT_SERVER_EPHEMERAL_ENABLED=false, so a Prefect client that somehow missed the URL fails
  instead of quietly starting a second server; PREFECT_UI_URL is emptied, as this server has no UI
  and is gone after the run (no dead "View at" links). All three are restored on exit.
- Not ours to start: if Prefect's settings (profile, prefect.toml, .env) name an API URL or turn
  ephemeral mode off, the early server is stopped at once and Prefect decides, as before.
- Start-up: a first start on a new PREFECT_HOME runs Prefect's database migrations (far longer), so
  `wait()` allows STARTUP_TIMEOUT_SECONDS and says so in one line when the database is new.
  Block types are not registered on start (SERVER_SETTINGS says why that is safe).
- Stop: on leaving the `with` block, normally or by an exception or Ctrl-C, Prefect's event and
  log workers are drained, then the server gets SIGTERM and, after STOP_GRACE_SECONDS, SIGKILL.
  On Linux the server also gets SIGKILL when this process dies without cleaning up (kill -9),
  through PR_SET_PDEATHSIG; it runs in its own session, so Ctrl-C reaches only this process.
- Flow runs against it send no heartbeats (`flow_settings()`): nothing outlives the run to read them.
- Output: the server's stdout and stderr go to `$PREFECT_HOME/temporary-server.log` (rewritten on
  each start, named in any error), never to the terminal.
"""

from __future__ import annotations

import ctypes
import http.client
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

STARTUP_TIMEOUT_SECONDS = 120  # a first start runs the database migrations; allow a loaded machine
STOP_GRACE_SECONDS = 5  # as Prefect's own: SIGTERM, then SIGKILL
DRAIN_TIMEOUT_SECONDS = 10
LOG_NAME = "temporary-server.log"
# The one line a run prints when it has to wait for the migrations of a new Prefect home.
PREPARING_DATABASE = "preparing Prefect's database (first run, about 20 s)..."

# What SubprocessASGIServer._run_uvicorn_command sets for its server.
PREFECT_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
# What this server skips, unless the environment sets these variables. Registering block types
# only fills the catalogue the UI shows; `Block.save()` registers its own type, and a later
# `prefect server start` on the same home registers them all. Turning off the memo as well skips
# importing every installed Prefect collection just to hash the registry (seconds of every start).
SERVER_SETTINGS = {
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}
# Set for this process while the server runs.
CLIENT_ENV = ("PREFECT_API_URL", "PREFECT_SERVER_EPHEMERAL_ENABLED", "PREFECT_UI_URL")
UVICORN_STARTUP_FAILURE = 3  # uvicorn's exit code when it cannot start (e.g. the port was taken)


class ServerError(RuntimeError):
    """The temporary server did not start; the message is one line for the user."""


class TemporaryServer:
    """`with TemporaryServer() as server: ...; server.wait(); run the flow`.

    Does nothing when PREFECT_API_URL is set: the run uses that server.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
        self.log_path = home / LOG_NAME
        self._default_database = home / "prefect.db"
        self._new_database = False
        self._saved_env: dict[str, str | None] | None = None
        self._ready = False

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def __enter__(self) -> TemporaryServer:
        if os.environ.get("PREFECT_API_URL"):
            return self
        database_existed = self._default_database.exists()  # before the server can create it
        self._spawn()
        try:
            self._adopt(database_existed)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Send what Prefect's workers still hold, then stop the server. Safe to call twice."""
        try:
            if self._ready:
                drain_prefect_workers()
        finally:
            self.stop()

    @contextmanager
    def flow_settings(self) -> Iterator[None]:
        """Prefect's settings for a flow run against this server: without heartbeats. A server
        reads them to mark a run crashed when they stop; this one stops with the run, and the end
        of the flow waits for the heartbeat thread's current second of sleep. Against a server that
        is not ours, nothing changes."""
        if self.process is None:
            yield
            return
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield

    def wait(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Block until the server answers /api/health; ServerError (server stopped) if it cannot."""
        if self.process is None or self._ready:
            return
        if self._new_database and not self._healthy():
            print(PREPARING_DATABASE, file=sys.stderr, flush=True)
        deadline = time.monotonic() + timeout
        retried = False
        while not self._healthy():
            code = self.process.poll()
            if code == UVICORN_STARTUP_FAILURE and not retried and not _port_is_free(self.port):
                retried = True  # another program took the port between our choice and uvicorn's bind
                self._respawn()
                continue
            if code is not None:
                self.stop()
                raise ServerError(
                    f"Prefect's temporary server stopped while starting (exit code {code}; "
                    f"its output: {self.log_path})"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"Prefect's temporary server did not start within {timeout:.0f} s "
                    f"(its output: {self.log_path})"
                )
            time.sleep(0.1)
        self._ready = True

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and point this process's client back."""
        process, self.process = self.process, None
        self._ready = False
        try:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            if process is not None and process.poll() is None:  # interrupted while stopping
                process.kill()
            self._restore_client()

    # ------------------------------------------------------------------------------------------
    def _spawn(self) -> None:
        """Launch Prefect's server command on a free port; output to the log file."""
        self.port = _free_port()
        env = {**SERVER_SETTINGS, **os.environ, **PREFECT_SERVER_ENV}
        if "prefect.settings" in sys.modules:  # settings may have been changed in this process
            from prefect.settings import get_current_settings

            env.update(get_current_settings().to_environment_variables(exclude_unset=True))
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    _prefect_app_dir(),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )

    def _respawn(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.wait()
        self._spawn()
        os.environ["PREFECT_API_URL"] = self.api_url
        _refresh_prefect_settings()

    def _adopt(self, database_existed: bool) -> None:
        """Check Prefect's settings (importing it); point this process's client at our server."""
        from prefect.settings import get_current_settings

        settings = get_current_settings()
        if settings.api.url or not settings.server.ephemeral.enabled:
            self.stop()  # a server is configured elsewhere, or ephemeral mode is off: Prefect decides
            return
        database = _sqlite_path(settings.server.database.connection_url.get_secret_value())
        if database == self._default_database:
            self._new_database = not database_existed
        elif database is not None:
            self._new_database = not database.exists()
        self._saved_env = {name: os.environ.get(name) for name in CLIENT_ENV}
        os.environ["PREFECT_API_URL"] = self.api_url
        os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
        os.environ["PREFECT_UI_URL"] = ""
        _refresh_prefect_settings()

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)  # no proxies
        try:
            connection.request("GET", "/api/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def _restore_client(self) -> None:
        saved, self._saved_env = self._saved_env, None
        if saved is None:
            return
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _refresh_prefect_settings()


def _refresh_prefect_settings() -> None:
    """Prefect reads its settings from the environment once, into a process-wide context."""
    if "prefect.context" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def drain_prefect_workers() -> None:
    """Send the events and logs still queued while the server is there to receive them."""
    if "prefect.events.worker" in sys.modules:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=DRAIN_TIMEOUT_SECONDS)
    if "prefect.logging.handlers" in sys.modules:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=DRAIN_TIMEOUT_SECONDS)


def _prefect_app_dir() -> str:
    """The directory holding the `prefect` package (uvicorn's --app-dir), without importing it."""
    spec = importlib.util.find_spec("prefect")
    assert spec is not None and spec.origin is not None, "prefect is not installed"
    return str(Path(spec.origin).parent.parent)


def _sqlite_path(url: str) -> Path | None:
    """The file of a sqlite+aiosqlite:///path URL; None for other databases or in-memory ones."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int | None) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port or 0))
        except OSError:
            return False
        return True


def _die_with_parent() -> Callable[[], None] | None:
    """Linux: a preexec_fn making the child get SIGKILL when this process dies, even by SIGKILL.

    The signal follows the thread that started the child, so start it from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child should only make the call
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the call
            os._exit(1)

    return preexec
