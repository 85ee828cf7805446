"""Benchmark: the whole pipeline (`python flows/main.py`) against one bare DuckDB SQL script.

    BENCH_EVENTS=1000000 python -m tests.bench.pipeline     # make bench-pipeline; 10M for the large run

On one generated data set, in one run: the bare-SQL baseline (tests/bench/baseline.py, whose
answers must equal the pipeline's), the pipeline on a fresh warehouse with its stage times and the
peak RSS of its whole process tree, a rerun after adding a file with 1 % more events, a rerun with
nothing new, the fixed overhead (a fresh run on 1k events), and the fresh run again with bronze as
Parquet files at a URL (PODCAST_BRONZE_URL). Figures merge into
bench_results.json under "pipeline"; with both a 1M and a 10M entry the marginal throughputs are
compared too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import psutil

from pipelines.generate import generate
from tests.bench.baseline import ANSWERS, run_baseline
from tests.bench.results import RESULTS, record
from tests.workspace import Workspace

FIXED_OVERHEAD_EVENTS = 1_000


def run_pipeline(workspace: Workspace, env: dict | None = None) -> dict:
    """Run flows/main.py once (against the Prefect API in `env`, by default a temporary server);
    wall seconds, peak RSS of the process tree, stage seconds."""
    with tempfile.TemporaryFile() as output:  # a file, not a pipe: a full pipe would stall the run
        start = time.perf_counter()
        process = workspace.start(env or dict(os.environ), stdout=output, stderr=subprocess.STDOUT)
        tree = psutil.Process(process.pid)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss(tree))
            time.sleep(0.1)
        wall = time.perf_counter() - start
        if process.returncode != 0:
            output.seek(0)
            log = output.read().decode(errors="replace")
            raise RuntimeError(f"pipeline exited {process.returncode}:\n{log[-3000:]}")
    summary = json.loads((workspace.exports / "run_summary.json").read_text())
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak / 2**20),
        "stages_s": summary["seconds"],
    }


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def pipeline_answers(exports: Path) -> dict[str, list[tuple]]:
    with duckdb.connect() as con:
        return {
            name: con.execute(
                "SELECT * FROM read_parquet(?) ORDER BY 1", [str(exports / f"{name}.parquet")]
            ).fetchall()
            for name in ANSWERS
        }


def main() -> int:
    events = int(os.environ.get("BENCH_EVENTS", "1000000"))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        data_dir = root / "data"
        generate(data_dir, events, seed=1, n_files=max(1, events // 1_000_000))

        start = time.perf_counter()
        baseline = run_baseline(data_dir, datetime.now(UTC))
        baseline_s = time.perf_counter() - start

        workspace = Workspace.create(root / "run", data_dir)
        full = run_pipeline(workspace)
        answers = pipeline_answers(workspace.exports)
        if answers != baseline:
            differing = [name for name in ANSWERS if answers[name] != baseline[name]]
            raise SystemExit(f"baseline and pipeline answers differ: {differing}")

        # the same fresh run with bronze as Parquet files at a URL (PODCAST_BRONZE_URL)
        lake_env = {**os.environ, "PODCAST_BRONZE_URL": (root / "lake").as_uri()}
        lake_workspace = Workspace.create(root / "lake-run", data_dir)
        at_url = run_pipeline(lake_workspace, lake_env)
        if pipeline_answers(lake_workspace.exports) != baseline:
            raise SystemExit("baseline and pipeline answers differ with bronze at a URL")

        extra = generate(root / "extra", max(1, events // 100), seed=2, n_files=1)["events"]
        shutil.move(root / "extra" / "events" / "part-00001.jsonl", data_dir / "events" / "increment.jsonl")
        incremental = run_pipeline(workspace)
        noop = run_pipeline(workspace)

        small = root / "small"
        generate(small, FIXED_OVERHEAD_EVENTS, seed=3, n_files=1)
        fixed = run_pipeline(Workspace.create(root / "fixed", small))

    figures = {
        "events": events,
        "baseline_s": round(baseline_s, 2),
        "pipeline": full,
        "ratio": round(full["wall_s"] / baseline_s, 1),
        "events_per_s": round(events / full["wall_s"]),
        "baseline_events_per_s": round(events / baseline_s),
        "incremental": {
            "events": extra,
            **incremental,
            "share_of_full": round(incremental["wall_s"] / full["wall_s"], 3),
        },
        "noop": noop,
        "bronze_at_url": at_url,
        "fixed_overhead": {"events": FIXED_OVERHEAD_EVENTS, **fixed},
        "answers_equal": True,
    }
    record("pipeline", figures)
    print(table(figures))
    marginal = marginal_throughput()
    if marginal:
        print(marginal)
    return 0


def table(f: dict) -> str:
    stages = {
        k: v
        for k, v in f["pipeline"]["stages_s"].items()
        if k in ("ingest", "validate", "transform", "export")
    }
    rows = [
        "| events | baseline SQL (s) | pipeline (s) | ingest | validate | transform | export "
        "| start-up + other | events/s | peak RSS (MB) | ratio | +1 % rerun (s) | no-op rerun (s) "
        "| 1k-event run (s) |",
        "|" + "---:|" * 14,
        f"| {f['events']:,} | {f['baseline_s']:.2f} | {f['pipeline']['wall_s']:.2f} | {stages['ingest']:.2f} "
        f"| {stages['validate']:.2f} | {stages['transform']:.2f} | {stages['export']:.2f} "
        f"| {f['pipeline']['wall_s'] - sum(stages.values()):.2f} | {f['events_per_s']:,} "
        f"| {f['pipeline']['peak_rss_mb']:,} | {f['ratio']}x | {f['incremental']['wall_s']:.2f} "
        f"({f['incremental']['share_of_full']:.0%}) | {f['noop']['wall_s']:.2f} "
        f"| {f['fixed_overhead']['wall_s']:.2f} |",
    ]
    at_url = f["bronze_at_url"]
    rows.append(
        f"bronze as Parquet at a URL: {at_url['wall_s']:.2f} s, "
        + ", ".join(f"{stage} {at_url['stages_s'][stage]:.2f}" for stage in stages)
        + f"; peak RSS {at_url['peak_rss_mb']:,} MB"
    )
    return "\n".join(rows)


def marginal_throughput() -> str | None:
    """Extra events per extra second, 1M -> 10M, for the pipeline and the baseline."""
    runs = json.loads(RESULTS.read_text()).get("pipeline", {})
    small, large = runs.get("1000000"), runs.get("10000000")
    if not (small and large):
        return None
    extra = large["events"] - small["events"]
    pipeline = extra / (large["pipeline"]["wall_s"] - small["pipeline"]["wall_s"])
    baseline = extra / (large["baseline_s"] - small["baseline_s"])
    return (
        f"marginal throughput 1M -> 10M: pipeline {pipeline:,.0f} events/s, "
        f"baseline {baseline:,.0f} events/s ({pipeline / baseline:.2f} of the baseline)"
    )


if __name__ == "__main__":
    sys.exit(main())
