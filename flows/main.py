"""Run the podcast pipeline once, from the command line.

    python flows/main.py [--data-dir DIR] [--warehouse FILE] [--exports-dir DIR]
                         [--as-of YYYY-MM-DD] [--full-refresh] [--replay-quarantine] [--verbose]

Works without a Prefect server (Prefect's ephemeral mode) and against one when PREFECT_API_URL
is set. Whatever happens, the terminal gets plain lines, never a traceback: the full log is in
the run log beside the warehouse (`<warehouse>.log`), and in Prefect's run log. Exit codes: 0 done,
1 the run failed (one line says why), 2 bad arguments, 75 another run holds the warehouse,
130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable as a script from anywhere

from pipelines.settings import Settings, SettingsError, parse_date  # noqa: E402

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_INTERRUPTED = 1, 2, 75, 130


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python flows/main.py",
        description="Ingest new listening logs, validate them, build the star schema and export the answers.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"input folder with events/, users/, episodes/ "
        f"(default: $PODCAST_DATA_DIR or {defaults.data_dir})",
    )
    parser.add_argument(
        "--warehouse", type=Path, help=f"DuckDB file (default: $PODCAST_WAREHOUSE or {defaults.warehouse})"
    )
    parser.add_argument(
        "--exports-dir",
        type=Path,
        help=f"where answers are written (default: $PODCAST_EXPORTS_DIR or {defaults.exports_dir})",
    )
    parser.add_argument("--as-of", help="reporting date YYYY-MM-DD (default: date of the latest valid event)")
    parser.add_argument("--full-refresh", action="store_true", help="rebuild every dbt model from scratch")
    parser.add_argument(
        "--replay-quarantine",
        action="store_true",
        help="re-validate quarantined rows (after a contract fix) and keep those that pass",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show Prefect's full log on the terminal, tracebacks included",
    )
    return parser.parse_args(argv)


def check(args: argparse.Namespace) -> Settings:
    """Every argument checked before anything runs; SettingsError carries a one-line reason."""
    settings = Settings.from_env(
        data_dir=args.data_dir,
        warehouse=args.warehouse,
        exports_dir=args.exports_dir,
        as_of=parse_date(args.as_of) if args.as_of else None,
    )
    if not settings.data_dir.is_dir():
        raise SettingsError(f"data directory not found: {settings.data_dir}")
    if settings.warehouse.exists() and not settings.warehouse.is_file():
        raise SettingsError(f"warehouse is not a file: {settings.warehouse}")
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = check(args)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from flows.console import configure, one_line

    configure(settings.run_log, args.verbose)
    try:
        return run(settings, args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the last line of defence: one line here, the trace in the run log
        logging.getLogger("uncaught").exception("the run failed")
        print(f"error: {one_line(error)} (full log: {settings.run_log})", file=sys.stderr)
        return EXIT_FAILED


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the flow once; print its summary, or one line saying why it failed."""
    from flows.console import one_line

    server = _start_temporary_prefect_server()
    from flows.pipeline import podcast_pipeline
    from flows.summary import summary_lines

    if server:
        server.join()
    state = podcast_pipeline(
        data_dir=str(settings.data_dir),
        warehouse=str(settings.warehouse),
        exports_dir=str(settings.exports_dir),
        as_of=settings.as_of.isoformat() if settings.as_of else None,
        full_refresh=args.full_refresh,
        replay_quarantine=args.replay_quarantine,
        return_state=True,
    )
    if not state.is_completed():
        message = one_line(state.message or "the run failed")
        print(f"error: {message} (full log: {settings.run_log})", file=sys.stderr)
        return EXIT_BUSY if "another run is using" in message else EXIT_FAILED
    print("\n".join(summary_lines(state.result())))
    return 0


def _start_temporary_prefect_server() -> threading.Thread | None:
    """Without PREFECT_API_URL, Prefect starts a temporary server on first use, which takes ~5 s:
    start it in the background now, while the pipeline's libraries import (~5 s as well)."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None
    from prefect.server.api.server import SubprocessASGIServer

    thread = threading.Thread(target=SubprocessASGIServer().start, name="prefect-server-start", daemon=True)
    thread.start()
    return thread


def exit_quietly(code: int) -> None:
    """Exit after the normal exit handlers, skipping module teardown.

    dbt-duckdb leaves DuckDB bindings referenced from worker threads, and at
    teardown nanobind prints dozens of "leaked instance" lines that mean nothing to a user. The
    exit handlers (Prefect's temporary server) still run; only teardown is skipped.
    """
    import atexit

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    # Normally drained at interpreter shutdown, which os._exit skips: without this, logs are lost
    # and the temporary server waits 5 s for the workers' open connections before it is killed.
    EventsWorker.drain_all()
    APILogWorker.drain_all()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_quietly(main())
