"""Benchmark: what an hourly run costs, against what its new data costs.

    BENCH_HISTORY=1000000,10000000 python -m tests.bench.hourly     # make bench-hourly

In one sitting, side by side: a fresh run on 10k events and a no-op rerun (the fixed cost), each
twice: as `python flows/main.py` runs (with Prefect's temporary server) and as a scheduled
deployment runs (against a Prefect server that is already up); then,
for each history size H, a fresh run on H events, and twice a run adding 1 % of H in one new file
beside a fresh run on that 1 % alone in a new warehouse: once the hours after the history (what
an hourly run gets), once a late file spanning the whole history (a backfill). A run should cost
about what its new data costs (the ratio of the two). Every run's answers must equal the bare-SQL oracle's
(tests/bench/baseline.py) before anything is reported. Figures merge into bench_results.json
under "hourly".
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pipelines.generate import generate
from tests.bench.baseline import ANSWERS, run_baseline
from tests.bench.pipeline import pipeline_answers, run_pipeline
from tests.bench.results import record
from tests.prefect_server import prefect_server
from tests.workspace import Workspace

SMALL_EVENTS = 10_000
TABLE_HEADER = (
    "| run | wall (s) | start-up | ingest | validate | transform | export | exit | peak RSS (MB) |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def checked_run(workspace: Workspace, env: dict | None = None) -> dict:
    """Run the pipeline; refuse to report it unless its answers equal the oracle's on its data."""
    figures = run_pipeline(workspace, env)
    expected = run_baseline(workspace.data_dir, datetime.now(UTC))
    answers = pipeline_answers(workspace.exports)
    if answers != expected:
        differing = [name for name in ANSWERS if answers[name] != expected[name]]
        raise SystemExit(f"answers differ from the oracle's in {workspace.root}: {differing}")
    return figures


# Shares of the generator's six months: the history, and the hours after it (1 % of the time, as
# the increment is 1 % of the events).
HISTORY_WINDOW = (0.0, 0.99)
LATEST_WINDOW = (0.99, 1.0)


def one_percent_more(root: Path, history: int) -> dict:
    """Fresh run on `history` events; then +1 % in a new file twice, each beside that 1 % alone on
    a new warehouse: the hours after the history (an hourly run), then a late file whose events
    span the whole history (a backfill, the worst case for the incremental models)."""
    data = root / "data"
    generate(data, history, seed=1, n_files=max(1, history // 1_000_000), window=HISTORY_WINDOW)
    start = time.perf_counter()
    run_baseline(data, datetime.now(UTC))
    baseline_s = time.perf_counter() - start
    workspace = Workspace.create(root / "run", data)
    fresh = checked_run(workspace)
    figures = {"events": history, "baseline_s": round(baseline_s, 2), "fresh": fresh}
    figures["fresh_vs_baseline"] = round(fresh["wall_s"] / baseline_s, 1)
    for name, seed, window in (("latest", 2, LATEST_WINDOW), ("backfill", 3, HISTORY_WINDOW)):
        increment = root / name
        generate(increment, max(1, history // 100), seed=seed, n_files=1, window=window)
        shutil.copy(increment / "events" / "part-00001.jsonl", data / "events" / f"{name}.jsonl")
        added = checked_run(workspace)
        alone = checked_run(Workspace.create(root / f"{name}-alone", increment))
        figures[name] = {
            "plus_1_percent": added,
            "increment_alone": alone,
            "vs_increment_alone": round(added["wall_s"] / alone["wall_s"], 2),
        }
    return figures


def main() -> int:
    histories = [int(size) for size in os.environ.get("BENCH_HISTORY", "1000000").split(",") if size]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        generate(root / "small", SMALL_EVENTS, seed=3, n_files=1)
        small = Workspace.create(root / "small-run", root / "small")
        fresh_small = checked_run(small)
        noop = run_pipeline(small)
        with prefect_server(root / "prefect-home") as server_env:
            served = Workspace.create(root / "served-run", root / "small")
            fresh_served = checked_run(served, server_env)
            noop_served = run_pipeline(served, server_env)
        record(
            "hourly",
            {
                "events": SMALL_EVENTS,
                "fresh": fresh_small,
                "noop": noop,
                "running_server": {"fresh": fresh_served, "noop": noop_served},
            },
        )
        rows = [
            table_row(f"fresh, {SMALL_EVENTS:,} events", fresh_small),
            table_row("no-op rerun", noop),
            table_row(f"fresh, {SMALL_EVENTS:,} events, Prefect server already up", fresh_served),
            table_row("no-op rerun, Prefect server already up", noop_served),
        ]
        for history in histories:
            figures = one_percent_more(root / f"h{history}", history)
            record("hourly", figures)
            rows += [
                table_row(
                    f"fresh, {history:,} events (bare SQL {figures['baseline_s']:.1f} s, "
                    f"{figures['fresh_vs_baseline']}x)",
                    figures["fresh"],
                ),
            ]
            for name, what in (("latest", "the hours after it"), ("backfill", "spanning all of it")):
                increment = figures[name]
                rows += [
                    table_row(f"+1 % on {history:,} of history, {what}", increment["plus_1_percent"]),
                    table_row(
                        f"that 1 % alone, fresh ({increment['vs_increment_alone']}x)",
                        increment["increment_alone"],
                    ),
                ]
            shutil.rmtree(root / f"h{history}")
    print(TABLE_HEADER)
    print("\n".join(rows))
    return 0


def table_row(name: str, run: dict) -> str:
    """One run as a row of TABLE_HEADER."""
    stages = run["stages_s"]
    cells = [
        stages.get(stage, 0.0) for stage in ("startup", "ingest", "validate", "transform", "export", "exit")
    ]
    return (
        f"| {name} | {run['wall_s']:.2f} | "
        + " | ".join(f"{c:.2f}" for c in cells)
        + f" | {run['peak_rss_mb']:,} |"
    )


if __name__ == "__main__":
    sys.exit(main())
