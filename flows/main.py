"""Run the podcast pipeline once, from the command line.

    python flows/main.py [--data-dir DIR] [--warehouse FILE] [--exports-dir DIR]
                         [--as-of YYYY-MM-DD] [--full-refresh] [--replay-quarantine]

Works without a Prefect server (Prefect's ephemeral mode) and against one when PREFECT_API_URL
is set. Exit codes: 0 done, 1 the run failed (the message says why), 2 bad arguments,
75 another run holds the warehouse.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable as a script from anywhere

from flows.prefect_server import ServerError, TemporaryServer  # noqa: E402
from pipelines.settings import Settings, SettingsError, parse_date  # noqa: E402

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 1, 2, 75


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

    with TemporaryServer() as server:  # boots while the pipeline's libraries import
        from flows.pipeline import podcast_pipeline, summary_lines

        try:
            server.wait()
        except ServerError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_FAILED
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
        message = state.message or "the run failed; see the log above"
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BUSY if "another run is using" in message else EXIT_FAILED
    print("\n".join(summary_lines(state.result())))
    return 0


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
