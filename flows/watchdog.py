"""A run's time limit: past it, the run's process ends as a crash would, so that a run that hangs
(a server that stops answering, a stuck mount) never holds the warehouse from the runs after it.

Ending the process is the one stop that works wherever the run is stuck: in a socket read, in a
query, or on any thread. It is safe for the same reasons a killed run is (README, "Reliability"):
the warehouse lock goes with the process, and the next run finishes the interrupted load, re-validates
what was not recorded and rebuilds from it. Before it ends, the run says so in one line (the run log
and the terminal) and notifies.
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
NOTIFY_WAIT_SECONDS = 30

log = logging.getLogger(__name__)


@contextmanager
def time_limit(settings: Settings) -> Iterator[None]:
    """The block, ended with the process if it runs longer than `settings.run_timeout_seconds`
    (0: no limit)."""
    if not settings.run_timeout_seconds:
        yield
        return
    timer = threading.Timer(settings.run_timeout_seconds, _stop, args=(settings,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _stop(settings: Settings) -> None:
    message = (
        f"the run took longer than its time limit of {settings.run_timeout_seconds:g} s and was stopped "
        f"(PODCAST_RUN_TIMEOUT_SECONDS); the next run takes up its work"
    )
    log.error(message)
    sending = threading.Thread(
        target=notify, args=(settings.notify_urls, "podcast pipeline stopped", message), daemon=True
    )
    sending.start()
    sending.join(NOTIFY_WAIT_SECONDS)  # a notification target that hangs does not hold the stop
    os._exit(EXIT_TIMED_OUT)
