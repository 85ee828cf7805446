"""Benchmark: the same fresh runs on DuckDB and on Spark (local mode: the contract and the dbt build,
bronze as Parquet files), side by side.

    BENCH_EVENTS=1000000 python -m tests.bench.spark     # make bench-spark (after make install-spark)

For 1k events (what a run costs whatever its data: on Spark, the JVM, the metastore and dbt's
per-node cost) and for BENCH_EVENTS, a fresh run on each engine and a no-op rerun on Spark; then,
on Spark, 1 % more events in the hours after (an hourly run: incremental models), and the same
warehouse rebuilt with --full-refresh (what each run cost before Spark's builds were incremental).
Every run's answers must equal the bare-SQL oracle's before anything is reported. Figures merge
into bench_results.json under "spark".
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from pipelines.generate import generate
from tests.bench.hourly import HISTORY_WINDOW, LATEST_WINDOW, TABLE_HEADER, checked_run, table_row
from tests.bench.pipeline import run_pipeline
from tests.bench.results import record
from tests.workspace import Workspace

FIXED_COST_EVENTS = 1_000


def compare(root: Path, events: int) -> dict:
    data = root / "data"
    generate(data, events, seed=1, n_files=max(1, events // 1_000_000), window=HISTORY_WINDOW)
    # Spark as one would run it: bronze as Parquet files it reads, so the contract runs on Spark too
    spark_env = {**os.environ, "PODCAST_ENGINE": "spark", "PODCAST_BRONZE_URL": (root / "lake").as_uri()}
    duckdb_run = checked_run(Workspace.create(root / "duckdb", data))
    spark_side = Workspace.create(root / "spark", data)
    spark_run = checked_run(spark_side, spark_env)
    spark_noop = run_pipeline(spark_side, spark_env)
    generate(root / "more", max(1, events // 100), seed=2, n_files=1, window=LATEST_WINDOW)
    shutil.copy(root / "more" / "events" / "part-00001.jsonl", data / "events" / "more.jsonl")
    spark_more = checked_run(spark_side, spark_env)
    spark_rebuilt = checked_run(spark_side, {**spark_env, "PODCAST_FULL_REFRESH": "true"})
    return {
        "events": events,
        "duckdb": duckdb_run,
        "spark": spark_run,
        "spark_noop": spark_noop,
        "spark_vs_duckdb": round(spark_run["wall_s"] / duckdb_run["wall_s"], 2),
        "spark_plus_1_percent": spark_more,
        "spark_rebuilt": spark_rebuilt,
        "plus_1_percent_vs_rebuilt": round(spark_more["wall_s"] / spark_rebuilt["wall_s"], 2),
    }


def main() -> int:
    sizes = [FIXED_COST_EVENTS, int(os.environ.get("BENCH_EVENTS", "1000000"))]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for events in sizes:
            figures = compare(Path(scratch) / str(events), events)
            record("spark", figures)
            rows += [
                table_row(f"DuckDB, fresh, {events:,} events", figures["duckdb"]),
                table_row(
                    f"Spark, fresh, {events:,} events ({figures['spark_vs_duckdb']}x)", figures["spark"]
                ),
                table_row("Spark, no-op rerun", figures["spark_noop"]),
                table_row(
                    f"Spark, +1 %, the hours after: incremental ({figures['plus_1_percent_vs_rebuilt']}x "
                    "the rebuild below)",
                    figures["spark_plus_1_percent"],
                ),
                table_row("Spark, the same warehouse rebuilt (--full-refresh)", figures["spark_rebuilt"]),
            ]
    print(TABLE_HEADER)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
