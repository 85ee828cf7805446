"""How far a run has come, told by each layer as it works (files read, chunks judged, dbt nodes).

Records go to the `podcast.progress` logger: on a terminal flows/console.py shows the latest as
one status line; elsewhere they are plain lines of the run log.
"""

from __future__ import annotations

import logging

LOGGER = logging.getLogger("podcast.progress")


def progress(message: str, *args: object) -> None:
    """Report progress as `stage: detail`."""
    LOGGER.info(message, *args)
