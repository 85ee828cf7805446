"""Run the podcast pipeline once, from the command line.

    python flows/main.py [--data-dir DIR] [--warehouse FILE] [--exports-dir DIR]
                         [--engine duckdb|spark] [--as-of YYYY-MM-DD]
                         [--full-refresh] [--replay-quarantine] [--verbose]

Works without a Prefect server (Prefect's ephemeral mode) and against one when PREFECT_API_URL
is set. Whatever happens, the terminal gets plain lines, never a traceback: the full log is in
the run log beside the warehouse (`<warehouse>.log`), and in Prefect's run log. Exit codes: 0 done,
1 the run failed (one line says why), 2 bad arguments, 75 another run holds the warehouse,
124 the run took longer than its time limit (flows/watchdog.py), 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import os
import sys
import threading
import time
from pathlib import Path

STARTED = time.monotonic()  # a steady clock: a step of the wall clock does not skew the seconds
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runnable as a script from anywhere
if __name__ == "__main__":
    gc.disable()  # until the libraries are imported: see _collect_from_here()

import duckdb  # noqa: E402

from flows.prefect_server import TemporaryServer  # noqa: E402
from pipelines.bronze import check_location  # noqa: E402
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
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        help=f"where dbt builds the models (default: $PODCAST_ENGINE or {defaults.engine}; "
        "spark needs `make install-spark`)",
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
        full_refresh=args.full_refresh or None,
        engine=args.engine,
        replay_quarantine=args.replay_quarantine or None,
    )
    if not settings.data_dir.is_dir():
        raise SettingsError(f"data directory not found: {settings.data_dir}")
    if settings.warehouse.exists() and not settings.warehouse.is_file():
        raise SettingsError(f"warehouse is not a file: {settings.warehouse}")
    try:
        check_location(settings)
    except duckdb.IOException:  # another run writes the warehouse: the run checks under its lock
        pass
    if settings.engine == "spark":
        from flows.spark_engine import check_installed

        check_installed(thrift=bool(settings.spark_thrift_host))
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = check(args)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    from flows.console import one_line

    try:
        with TemporaryServer() as server:  # it boots while the pipeline's libraries import
            return run(settings, args, server)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the last line of defence: one line here, the trace in the run log
        logging.getLogger("uncaught").exception("the run failed")
        print(f"error: {one_line(error)} (full log: {settings.run_log})", file=sys.stderr)
        return EXIT_FAILED


def run(settings: Settings, args: argparse.Namespace, server: TemporaryServer) -> int:
    """Run the flow once; print its summary, or one line saying why it failed."""
    from flows.console import configure, one_line
    from pipelines.progress import progress

    status = configure(settings.run_log, args.verbose)
    progress("starting: Prefect and the pipeline's libraries")
    from flows.lock import WarehouseBusy
    from flows.pipeline import podcast_pipeline, warm_up

    warm_up(settings)
    _collect_from_here()
    server.wait()
    flow_started = time.monotonic()
    with server.flow_settings():
        state = podcast_pipeline(settings, return_state=True)
    flow_ended = time.monotonic()
    if status:
        status.clear()
    if not state.is_completed():
        message = one_line(state.message or "the run failed")
        print(f"error: {message} (full log: {settings.run_log})", file=sys.stderr)
        error = state.result(raise_on_failure=False)
        _release_frames(error)
        if isinstance(error, SettingsError):
            return EXIT_USAGE
        return EXIT_BUSY if isinstance(error, WarehouseBusy) else EXIT_FAILED
    summary = state.result()
    server.close()  # now, so that stopping it shows in the summary's exit seconds
    _add_process_seconds(summary, flow_started, flow_ended)
    from flows.exports import write_summary
    from flows.summary import summary_lines

    write_summary(summary, settings.exports_dir)
    print("\n".join(summary_lines(summary)))
    return 0


def _collect_from_here() -> None:
    """Python's cyclic garbage collector, on again once start-up has imported the libraries, and
    only over what the run creates from here. The imports create hundreds of thousands of objects
    that live as long as the process: collecting while they are made frees nothing, and each full
    collection walks them all again. Frozen, they are left out of the collections from here on
    (README, "Measured figures"); the process ends without the interpreter's teardown (`_exit`)."""
    gc.freeze()
    gc.enable()


def _release_frames(error: object) -> None:
    """A failed run's exception holds the frames of the step that raised it, and they hold its
    DuckDB handles: cleared once the error is reported, the handles close (DuckDB checkpoints
    the file) before the process ends, which `_exit` does without collecting anything."""
    import traceback

    seen: set[int] = set()
    while isinstance(error, BaseException) and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error = error.__cause__ or error.__context__


def _add_process_seconds(summary: dict, flow_started: float, flow_ended: float) -> None:
    """Beside the stages' seconds: start-up (this file's first line to the flow's start: imports
    and the temporary server), Prefect's own orchestration within the flow, and exit (stopping the
    server)."""
    stages = summary["seconds"]
    total = round(sum(stages.values()), 3)
    summary["seconds"] = {
        "startup": round(flow_started - STARTED, 3),
        **stages,
        "orchestration": round(max(flow_ended - flow_started - total, 0.0), 3),
        "exit": round(time.monotonic() - flow_ended, 3),
    }


def _exit(code: int) -> None:
    """End the process as Python's shutdown would, minus its last step: other threads are joined
    and every exit handler runs (logging's flush, Prefect's and dlt's), then the process ends
    without the interpreter's teardown, which walks and frees every object one by one only for
    the operating system to reclaim the memory (README, "Measured figures")."""
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
