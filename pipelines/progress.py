"""How far a run has come, told by each layer as it works (files read, chunks judged, dbt nodes),
and how long each part took.

Records go to the `podcast.progress` logger: on a terminal flows/console.py shows the latest as
one status line; elsewhere they are plain lines of the run log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

LOGGER = logging.getLogger("podcast.progress")


def progress(message: str, *args: object) -> None:
    """Report progress as `stage: detail`."""
    LOGGER.info(message, *args)


@contextmanager
def timed(record: Callable[[float], None]) -> Iterator[None]:
    """Hand `record` the block's wall-clock seconds when it ends, however it ends."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record(time.perf_counter() - start)
