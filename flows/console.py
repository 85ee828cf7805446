"""What a person running `python flows/main.py` sees: plain lines, never a traceback.

The full log, tracebacks included, goes to the run log file (and, for flow and task runs, to the
Prefect API's run log). On the terminal: one status line that shows how far the run has come
(stage, files or chunks or dbt nodes done, elapsed seconds), redrawn in place, only when stderr
is a terminal; warnings of the pipeline's own modules, one line each; and the summary or the
error line that flows/main.py prints. `verbose` keeps Prefect's console log as well.

The layers report progress through pipelines/progress.py; where no terminal shows it (a
deployment's worker, cron) it is only a line of the log.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from pathlib import Path

from pipelines import progress as progress_log

OWN_LOGGERS = ("flows", "pipelines", "gx")
PROGRESS = progress_log.LOGGER
# Exceptions nobody caught (in a thread, at garbage collection): to the run log only.
uncaught = logging.getLogger("uncaught")


class StatusLine(logging.Handler):
    """The latest progress record as one line redrawn in place on a terminal, with the elapsed time."""

    def __init__(self, stream) -> None:
        super().__init__(logging.INFO)
        self.stream = stream
        self.started = time.monotonic()
        self.shown = False

    def emit(self, record: logging.LogRecord) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        text = f"[{time.monotonic() - self.started:6.1f} s] {record.getMessage()}"
        self.stream.write("\r\033[K" + text[:width])
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


class _OneLine(logging.Formatter):
    """`warning: <first line of the message>`: no traceback, whatever the record carries."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage().strip().splitlines() or [""]
        return f"{record.levelname.lower()}: {text[0]}"


def configure(run_log: Path, verbose: bool) -> StatusLine | None:
    """Send every log record to `run_log` (overwritten per run); keep the terminal plain.

    Returns the status line when stderr is a terminal (clear it before printing), else None."""
    import prefect.main  # noqa: F401  (sets up Prefect's logging, which closes every handler then open)
    from prefect.logging.handlers import PrefectConsoleHandler

    run_log.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(run_log, mode="w", encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(to_file)
    for name in (*OWN_LOGGERS, PROGRESS.name):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable
    if verbose:
        return None
    for logger in [root, *(logging.getLogger(name) for name in logging.root.manager.loggerDict)]:
        for handler in list(getattr(logger, "handlers", ())):
            if (
                isinstance(handler, PrefectConsoleHandler)
                or handler.__class__.__name__ == "_SafeStreamHandler"
            ):
                logger.removeHandler(handler)
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setLevel(logging.WARNING)
    to_terminal.addFilter(lambda record: record.name.split(".")[0] in OWN_LOGGERS)
    to_terminal.setFormatter(_OneLine())
    root.addHandler(to_terminal)
    if not sys.stderr.isatty():
        return None
    status = StatusLine(sys.stderr)
    PROGRESS.addHandler(status)
    to_terminal.addFilter(lambda record: status.clear() or True)  # a warning gets a line of its own
    return status


def one_line(error: BaseException | str) -> str:
    """An error as one line: its type for an exception without a message, its first line otherwise."""
    text = str(error).strip()
    if isinstance(error, BaseException) and not text:
        return type(error).__name__
    return " ".join(text.splitlines()[0].split()) if text else "unknown error"


def _log_thread_exception(hook: threading.ExceptHookArgs) -> None:
    uncaught.error(
        "exception in thread %s",
        hook.thread.name if hook.thread else "?",
        exc_info=(hook.exc_type, hook.exc_value, hook.exc_traceback),
    )


def _log_unraisable(hook) -> None:
    uncaught.error(
        "exception ignored in %r", hook.object, exc_info=(hook.exc_type, hook.exc_value, hook.exc_traceback)
    )
