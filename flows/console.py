"""What a person running `python flows/main.py` sees: plain lines, never a traceback.

The full log, tracebacks included, goes to the run log file (and, for flow and task runs, to the
Prefect API's run log). On the terminal: warnings of the pipeline's own modules, one line each,
and the outcome line that flows/main.py prints. `verbose` keeps Prefect's console log as well.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

OWN_LOGGERS = ("flows", "pipelines", "gx")
# Exceptions nobody caught (in a thread, at garbage collection): to the run log only.
uncaught = logging.getLogger("uncaught")


class _OneLine(logging.Formatter):
    """`warning: <first line of the message>`: no traceback, whatever the record carries."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage().strip().splitlines() or [""]
        return f"{record.levelname.lower()}: {text[0]}"


def configure(run_log: Path, verbose: bool) -> None:
    """Send every log record to `run_log` (overwritten per run); keep the terminal plain."""
    import prefect.main  # noqa: F401  (sets up Prefect's logging, which closes every handler then open)
    from prefect.logging.handlers import PrefectConsoleHandler

    run_log.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(run_log, mode="w", encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(to_file)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable
    if verbose:
        return
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
