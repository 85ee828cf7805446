"""Benchmark: dlt ingestion vs a bare DuckDB read_json of the same NDJSON, timed in one run.

    BENCH_EVENTS=1000000 python -m tests.bench.load

Prints a Markdown table and merges its figures into bench_results.json under "load".
The pipeline runs in a child process so its peak RSS is measured alone. Each side is timed
three times and the best run counts.

Beside the ratio, two floors that no reader can remove: dlt's own cost of one load (the child
loads one event into a new warehouse: schemas, state, load package, `_dlt_loads`), and DuckDB
writing the same bronze rows and columns into a new database file (a copy of the child's
`bronze.events`, no parsing). What is left under 3x the bare read, after both, is the budget
for reading, checking and parsing the lines.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from pipelines.generate import generate
from pipelines.settings import PROJECT_DIR
from tests.bench.results import record

TARGET_RATIO = 3

# Both sides are timed warm, as the bare read is (best of 3 in this process): the child first
# loads 1,000 events elsewhere, so imports (DuckDB pulls in pandas on its first query) and
# extension loading are not counted. The child's whole wall time (imports, warm-up and load) is
# reported beside it.
_CHILD = """
import json, sys, tempfile, time
from pathlib import Path
from pipelines.generate import generate
from pipelines.ingest import ingest
from pipelines.settings import Settings

def timed_ingest(data_dir, warehouse):
    start = time.perf_counter()
    report = ingest(Settings(data_dir=data_dir, warehouse=warehouse))
    return time.perf_counter() - start, report

with tempfile.TemporaryDirectory() as scratch:
    generate(Path(scratch) / "warm", 1000, seed=2, n_files=1)
    timed_ingest(Path(scratch) / "warm", Path(scratch) / "warm.duckdb")
    generate(Path(scratch) / "one", 1, seed=3, n_files=1)
    per_load, _ = timed_ingest(Path(scratch) / "one", Path(scratch) / "one.duckdb")
    seconds, report = timed_ingest(Path(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps({"seconds": seconds, "rows": report.rows_of("events"), "per_load_s": per_load}))
"""


def bare_read_json(data_dir: Path) -> tuple[float, float]:
    """Seconds DuckDB alone takes to read every event file into a table in a database file:
    the CREATE TABLE alone, and with closing the file, as the pipeline does.

    Without insertion order: preserving it, the close checkpoints the table again (1M events:
    CREATE 0.65 s, close 0.47 s more); without it, the close adds 0.02 s."""
    with tempfile.TemporaryDirectory() as scratch:
        con = duckdb.connect(f"{scratch}/bare.duckdb", config={"preserve_insertion_order": False})
        start = time.perf_counter()
        con.execute(
            "CREATE TABLE events AS SELECT * FROM read_json(?, format='newline_delimited', "
            "ignore_errors=true, columns={event_type: 'VARCHAR', user_id: 'VARCHAR', "
            "episode_id: 'VARCHAR', timestamp: 'VARCHAR', duration: 'VARCHAR'})",
            [str(data_dir / "events" / "*.jsonl")],
        )
        created = time.perf_counter()
        con.close()
        return created - start, time.perf_counter() - start


def pipeline_load(data_dir: Path) -> dict:
    """The child's timings and peak RSS, then (in this process, so that the child's peak stays its
    own) the seconds DuckDB takes to write the child's bronze rows into a new database file."""
    with tempfile.TemporaryDirectory() as scratch:
        warehouse = f"{scratch}/podcast.duckdb"
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(data_dir), warehouse],
            check=True,
            capture_output=True,
            text=True,
            cwd=PROJECT_DIR,
        ).stdout
        wall = time.perf_counter() - start
        result = json.loads(out.strip().splitlines()[-1])
        result["wall_seconds"] = wall
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        con = duckdb.connect(f"{scratch}/copy.duckdb", config={"preserve_insertion_order": False})
        con.execute("ATTACH ? AS loaded (READ_ONLY)", [warehouse])
        start = time.perf_counter()
        con.execute("CREATE TABLE events AS SELECT * FROM loaded.bronze.events")
        con.close()
        result["write_s"] = time.perf_counter() - start
    return result


def main() -> int:
    events = int(os.environ.get("BENCH_EVENTS", "1000000"))
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        generate(data_dir, events, seed=1, n_files=max(1, events // 1_000_000))
        bares = [bare_read_json(data_dir) for _ in range(3)]
        loads = [pipeline_load(data_dir) for _ in range(3)]  # the same repeats as the bare read
    load = min(loads, key=lambda run: run["seconds"])
    bare = min(closed for _create, closed in bares)
    bare_create = min(create for create, _closed in bares)
    per_load = min(run["per_load_s"] for run in loads)
    write = min(run["write_s"] for run in loads)
    ratio = load["seconds"] / bare
    figures = {
        "events": events,
        "bare_read_json_s": round(bare_create, 3),
        "bare_read_json_closed_s": round(bare, 3),
        "dlt_load_s": round(load["seconds"], 3),
        "dlt_load_wall_s": round(load["wall_seconds"], 3),
        "ratio": round(ratio, 2),
        "ratio_to_create_only": round(load["seconds"] / bare_create, 2),
        "dlt_per_load_s": round(per_load, 3),
        "duckdb_write_bronze_s": round(write, 3),
        "budget_for_reading_at_target_s": round(TARGET_RATIO * bare - per_load - write, 3),
        "peak_rss_mb": round(max(run["peak_rss_mb"] for run in loads)),
        "events_per_s": round(events / load["seconds"]),
    }
    print(
        "| events | bare read_json, table + close (s) | dlt load (s) | ratio | bare CREATE only (s) | "
        "ratio to it | child process wall (s) | peak RSS (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {events:,} | {bare:.2f} | {load['seconds']:.2f} | {ratio:.1f}x | {bare_create:.2f} | "
        f"{figures['ratio_to_create_only']:.1f}x | {load['wall_seconds']:.2f} | {figures['peak_rss_mb']:,} |"
    )
    print(
        f"\nfloors: dlt's own cost of a load (1 event, new warehouse) {per_load:.2f} s = "
        f"{per_load / bare:.1f}x; DuckDB writing the same bronze rows (no parsing) {write:.2f} s = "
        f"{write / bare:.1f}x; "
        f"left at {TARGET_RATIO}x for reading, checking and parsing {events:,} lines: "
        f"{figures['budget_for_reading_at_target_s']:.2f} s"
    )
    record("load", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
