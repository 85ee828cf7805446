"""A run's time limit: past it, the run's process ends as a crash would, so that a run that hangs
(a server that stops answering, a stuck mount) never holds the warehouse from the runs after it.

Ending the process is the one stop that works wherever the run is stuck: in a socket read, in a
query, or on any thread. It is safe for the same reasons a killed run is (README, "Reliability"):
the warehouse lock goes with the process, and the next run finishes the interrupted load, re-validates
what was not recorded and rebuilds from it. Before it ends, the run says so in one line (the run log,
the terminal and Prefect's log of the flow run, whose state becomes Crashed) and notifies.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flows.notify import notify
from pipelines.settings import Settings

EXIT_TIMED_OUT = 124  # as timeout(1)
REPORT_WAIT_SECONDS = 30  # for the notification and Prefect's API, which may be what hangs

log = logging.getLogger(__name__)


@contextmanager
def time_limit(settings: Settings) -> Iterator[None]:
    """The block (in a flow run), ended with the process if it runs longer than
    `settings.run_timeout_seconds` (0: no limit)."""
    if not settings.run_timeout_seconds:
        yield
        return
    limit = _Limit(settings)
    timer = threading.Timer(settings.run_timeout_seconds, limit.expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        limit.finish()


class _Limit:
    """One run's limit: it expires or the run finishes, whichever comes first; a run that finishes
    while its stop is under way waits for the stop (it ends as it said it would)."""

    def __init__(self, settings: Settings) -> None:
        from prefect import get_run_logger
        from prefect.runtime import flow_run

        self.settings = settings
        self.run_logger = get_run_logger()
        self.flow_run_id = flow_run.id
        self._lock = threading.Lock()
        self._expired = self._finished = False

    def expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._expired = True
        message = (
            f"the run took longer than its time limit of {self.settings.run_timeout_seconds:g} s and was "
            f"stopped (PODCAST_RUN_TIMEOUT_SECONDS); the next run takes up its work"
        )
        log.error(message)
        reporting = threading.Thread(target=self._report, args=(message,), daemon=True)
        reporting.start()
        reporting.join(REPORT_WAIT_SECONDS)
        os._exit(EXIT_TIMED_OUT)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            expired = self._expired
        if expired:
            threading.Event().wait()  # the stop under way ends the process

    def _report(self, message: str) -> None:
        """Notify, and tell Prefect: the message in the flow run's log, the run Crashed."""
        from prefect.client.orchestration import get_client
        from prefect.states import Crashed

        from flows.prefect_server import drain_prefect_workers

        notify(self.settings.notify_urls, "podcast pipeline stopped", message)
        try:
            self.run_logger.error(message)
            drain_prefect_workers()
            with get_client(sync_client=True) as client:
                client.set_flow_run_state(self.flow_run_id, Crashed(message=message), force=True)
        except Exception:  # Prefect's API may be what hangs or fails: the stop goes on (run log only)
            log.info("could not report the stop to Prefect", exc_info=True)
