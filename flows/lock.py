"""One run per warehouse at a time: an OS file lock beside the DuckDB file.

The lock is released by the kernel when the process ends, even on SIGKILL, so a crashed run
never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another run holds the warehouse; the message says which."""


@contextmanager
def warehouse_lock(warehouse: Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold `<warehouse>.lock` for the block; wait up to `wait_seconds`, then raise WarehouseBusy."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    path = warehouse.with_name(warehouse.name + ".lock")
    handle = open(path, "a+")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown process"
                    waited = f", waited {wait_seconds:g} s" if wait_seconds else ""
                    raise WarehouseBusy(
                        f"another run is using {warehouse} ({holder}{waited}); try again later"
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        handle.flush()
        yield
    finally:
        handle.close()
