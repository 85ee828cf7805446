"""The same data through both engines (--engine duckdb and --engine spark) gives the same exports,
row accounting and quarantine reasons, run after run: files arriving one by one, a file with a new
field, then a re-sent file. The Spark side also keeps bronze as Parquet files at a URL, as one would
on a cluster, and Spark's catalog has it as the warehouse file has it.
Marked spark: `make test-spark` runs it after `make install-spark`."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from flows.dbt_build import full_refresh_unfinished
from pipelines.generate import generate
from pipelines.settings import Settings
from tests.conftest import event, write_lines
from tests.test_cli import run_cli
from tests.workspace import Workspace

pytestmark = [pytest.mark.spark, pytest.mark.slow]
EVENT_FILES = 3
# What a run reports that does not depend on the engine: everything but timings and paths.
SUMMARY_KEYS = ("as_of", "this_run", "warehouse", "answers_digest")
MARTS = (
    "fct_listening_events",
    "fct_listening_sessions",
    "agg_user_engagement",
    "dim_users",
    "dim_episodes",
    "dim_date",
)


def run(workspace: Workspace, env: dict, *flags: str) -> subprocess.CompletedProcess:
    result = run_cli(workspace, env, *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def outcome(workspace: Workspace) -> dict:
    """The exported answers (bytes of every CSV) and the engine-independent part of the summary."""
    summary = json.loads((workspace.exports / "run_summary.json").read_text())
    return {
        "answers": {path.name: path.read_bytes() for path in sorted(workspace.exports.glob("*.csv"))},
        **{key: summary[key] for key in SUMMARY_KEYS},
    }


def quarantine(workspace: Workspace) -> dict[str, list]:
    """Every quarantined row of each table: its file, line and every rule it broke."""
    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        return {
            table: con.execute(
                f"SELECT _source_file, _line_number, failed_rules FROM quarantine.{table} ORDER BY ALL"
            ).fetchall()
            for table in ("users", "episodes", "events")
        }


def contract_sources(workspace: Workspace) -> set[str]:
    """The GX data sources the results of the table suites' checkpoint runs came from (GX names a
    result `<data source>-<asset>.json`)."""
    results = workspace.root / "gx" / "uncommitted" / "validations"
    return {
        path.name.rsplit("-", 1)[0]
        for table in ("users", "episodes", "events")
        for path in results.glob(f"{table}/*/*/*.json")
    }


def marts(workspace: Workspace) -> dict[str, list]:
    """Every row of the marts, sorted, columns by name (Spark puts a partition column last),
    without the dlt load ids (each side's dlt draws its own)."""
    tables = {}
    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        for table in MARTS:
            columns = sorted(row[0] for row in con.execute(f"DESCRIBE marts.{table}").fetchall())
            select = ", ".join(column for column in columns if column != "load_id")
            tables[table] = sorted(con.execute(f"SELECT {select} FROM marts.{table}").fetchall(), key=repr)
    return tables


def generated_arrivals(tmp_path: Path, events: int, seed: int, files: int) -> tuple[Path, Path]:
    """Generated data with 5 % dirt (`generated/`), and the data folder its event files are to arrive
    in (`arriving/`), the reference files already there."""
    source = tmp_path / "generated"
    generate(source, events, seed=seed, n_files=files, dirty_rate=0.05)
    arriving = tmp_path / "arriving"
    for folder in ("users", "episodes"):
        shutil.copytree(source / folder, arriving / folder)
    (arriving / "events").mkdir()
    return source, arriving


def warehouse_bronze(workspace: Workspace) -> dict[str, tuple[list[str], int]]:
    """Each bronze table of the warehouse file: its columns and its number of rows."""
    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'bronze'"
        ).fetchall()
        return {
            table: (
                [row[0] for row in con.execute(f'DESCRIBE bronze."{table}"').fetchall()],
                con.execute(f'SELECT count(*) FROM bronze."{table}"').fetchone()[0],
            )
            for (table,) in tables
        }


def spark_bronze(workspace: Workspace, env: dict) -> dict[str, tuple[list[str], int]]:
    """Each bronze table of the Spark catalog the runs left: its columns and its number of rows."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from flows.spark_engine import start_session\n"
        "from pipelines.settings import Settings\n"
        "spark = start_session(Settings(warehouse=Path(sys.argv[1]), engine='spark'))\n"
        "tables = [t.name for t in spark.catalog.listTables('bronze')]\n"
        "print(json.dumps({t: (spark.table(f'bronze.`{t}`').columns, spark.table(f'bronze.`{t}`').count())"
        " for t in tables}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(workspace.warehouse)],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {
        table: (columns, rows)
        for table, (columns, rows) in json.loads(result.stdout.splitlines()[-1]).items()
    }


@pytest.mark.timeout(3600)  # 7 runs on each engine, a Spark build about a minute and a half
def test_duckdb_and_spark_give_the_same_exports_as_files_arrive(prefect_env: dict, tmp_path: Path) -> None:
    source, arriving = generated_arrivals(tmp_path, 3_000, seed=11, files=EVENT_FILES)
    duckdb_side = Workspace.create(tmp_path / "duckdb", arriving)
    spark_side = Workspace.create(tmp_path / "spark", arriving)
    lake = tmp_path / "lake"
    spark_env = {**prefect_env, "PODCAST_BRONZE_URL": lake.as_uri()}

    parts = sorted((source / "events").glob("part-*.jsonl"))
    new_field = write_lines(  # the logs gain a field: bronze gains a column
        tmp_path / "new-field.jsonl",
        [event(user="user_1", ts=f"2025-01-0{day}T08:00:00", listening_mode="offline") for day in (1, 2)],
    )
    # one by one, a file with a new field, then the first file again
    arrivals = [(part, part.name) for part in parts] + [(new_field, new_field.name)]
    arrivals += [(parts[0], f"resent-{parts[0].name}")]
    for step, (part, name) in enumerate(arrivals):
        shutil.copy(part, arriving / "events" / name)
        run(duckdb_side, prefect_env)
        spark_run = run(spark_side, spark_env, "--engine", "spark")
        assert "Traceback" not in spark_run.stdout + spark_run.stderr
        assert "WARN" not in spark_run.stderr  # Spark's own log goes beside the warehouse
        duckdb_outcome, spark_outcome = outcome(duckdb_side), outcome(spark_side)
        assert len(duckdb_outcome["answers"]) == 4
        assert duckdb_outcome == spark_outcome, f"after arrival {step + 1}"
        assert quarantine(duckdb_side) == quarantine(spark_side), f"after arrival {step + 1}"
    # the contract ran on Spark: GX's results of the table suites came from its Spark data source
    assert contract_sources(duckdb_side) == {"contract_batch"}
    assert contract_sources(spark_side) == {"contract_batch_spark"}
    # bronze is in Spark's catalog (pipelines/spark_bronze.py) as it is in the warehouse file:
    # the same tables, columns (the new field's too) and rows
    assert spark_bronze(spark_side, spark_env) == warehouse_bronze(spark_side)
    assert "listening_mode" in warehouse_bronze(spark_side)["events"][0]

    # Spark built the first arrival in full and each later one incrementally
    # (dbt/macros/spark_incremental.sql), and its marts hold the same rows as DuckDB's (but the
    # load ids, which each side's dlt draws); the flow reads Spark's build state as Spark wrote it
    state = spark_side.root / ".podcast.spark" / "tables" / "dbt_state.db"
    with duckdb.connect() as con:
        (after,) = con.execute(f"SELECT after_load_id FROM '{state}/batch/*.parquet'").fetchone()
        builds = con.execute(
            f"SELECT full_refresh FROM '{state}/processed_loads/*.parquet' ORDER BY built_at"
        ).fetchall()
    assert after != "" and builds == [(True,)] + [(False,)] * (len(arrivals) - 1)
    assert not full_refresh_unfinished(Settings(warehouse=spark_side.warehouse, engine="spark"))
    assert marts(duckdb_side) == marts(spark_side)

    last = json.loads((spark_side.exports / "run_summary.json").read_text())
    assert last["this_run"]["events"]["quarantined"] > 0  # the dirt reached the contract
    assert last["this_run"]["events"]["duplicates"] > 0  # the re-sent file was deduplicated
    assert (spark_side.root / ".podcast.spark" / "tables" / "answers.db").is_dir()
    with duckdb.connect() as con:  # every bronze event row of the Spark side is in the lake
        in_lake = con.execute(f"SELECT count(*) FROM '{lake}/bronze/events/*.parquet'").fetchone()[0]
    assert in_lake == last["warehouse"]["events"]["bronze"] > 0

    # the nightly deployment's run on Spark, nothing new: the cached build, then the data tests
    # over every row and the docs, which need the Spark session the build would have started
    daily = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from flows.pipeline import podcast_pipeline\n"
            "state = podcast_pipeline(None, refresh_docs=True, nightly_tests=True, return_state=True)\n"
            "sys.exit(0 if state.is_completed() else state.message)",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env={
            **spark_env,
            "PODCAST_ENGINE": "spark",
            "PODCAST_DATA_DIR": str(arriving),
            "PODCAST_WAREHOUSE": str(spark_side.warehouse),
            "PODCAST_EXPORTS_DIR": str(spark_side.exports),
            "PODCAST_GX_DIR": str(spark_side.root / "gx"),
            "PODCAST_REFERENCE_TIME": "2025-01-01",
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert daily.returncode == 0, daily.stdout[-2000:] + daily.stderr[-3000:]
    assert outcome(spark_side)["answers"] == outcome(duckdb_side)["answers"]

    # a reporting date before every event: answers without rows (Spark writes no file for them)
    run(duckdb_side, prefect_env, "--as-of", "2000-01-01")
    run(spark_side, spark_env, "--engine", "spark", "--as-of", "2000-01-01")
    assert outcome(duckdb_side) == outcome(spark_side)
    q1 = (spark_side.exports / "q1_top_completed_episodes.csv").read_text().splitlines()
    assert q1 == ["rank,episode_id,title,podcast_id,completions"]

    # the Spark warehouse back on DuckDB: its models are DuckDB's again, with the same answers
    run(duckdb_side, prefect_env)
    run(spark_side, spark_env)
    assert outcome(duckdb_side) == outcome(spark_side)
    with duckdb.connect(str(spark_side.warehouse), read_only=True) as con:
        kinds = con.execute(
            "SELECT DISTINCT table_type FROM information_schema.tables WHERE table_schema = 'marts'"
        ).fetchall()
    assert kinds == [("BASE TABLE",)]


@pytest.mark.timeout(1800)
def test_a_day_whose_only_session_merges_into_the_day_before_is_dropped_on_spark(
    prefect_env: dict, data_dir: Path, tmp_path: Path
) -> None:
    """A late event bridges a listener's session before midnight and the day after's only session:
    DuckDB deletes the absorbed session; Spark, which overwrites days, drops the emptied day. The
    first Spark build of that event fails after the sessions took it, and the next run builds the
    same batch again."""
    write_lines(
        data_dir / "events" / "a.jsonl",
        [event(ts="2024-03-01T23:50:00"), event(ts="2024-03-02T00:25:00"), event(user="user_2")],
    )
    duckdb_side = Workspace.create(tmp_path / "duckdb", data_dir)
    spark_side = Workspace.create(tmp_path / "spark", data_dir)

    def sessions_after_both_runs() -> list[tuple]:
        run(duckdb_side, prefect_env)
        run(spark_side, prefect_env, "--engine", "spark")
        assert marts(duckdb_side) == marts(spark_side)
        with duckdb.connect(str(spark_side.warehouse), read_only=True) as con:
            return con.execute(
                "SELECT session_date, events FROM marts.fct_listening_sessions "
                "WHERE user_id = 'user_1' ORDER BY 1"
            ).fetchall()

    assert sessions_after_both_runs() == [(date(2024, 3, 1), 1), (date(2024, 3, 2), 1)]
    write_lines(data_dir / "events" / "b.jsonl", [event(ts="2024-03-02T00:05:00")])

    # A model built after the sessions cannot read its table (a damaged file): the build fails
    # there, after the sessions replaced theirs, and records nothing as built.
    home = spark_side.root / ".podcast.spark" / "tables"
    damaged = next((home / "marts.db" / "agg_user_engagement").glob("*.parquet"))
    intact = damaged.read_bytes()
    damaged.write_bytes(b"not parquet")
    state = home / "dbt_state.db" / "processed_loads"
    built = sorted(state.glob("*.parquet"))
    failed = run_cli(spark_side, prefect_env, "--engine", "spark")
    assert failed.returncode == 1 and "Traceback" not in failed.stdout + failed.stderr
    assert "agg_user_engagement" in failed.stderr
    assert sorted(state.glob("*.parquet")) == built
    damaged.write_bytes(intact)
    assert sessions_after_both_runs() == [(date(2024, 3, 1), 3)]


def test_a_duckdb_run_imports_nothing_of_spark(prefect_env: dict, tmp_path: Path) -> None:
    generate(tmp_path / "data", 500, seed=3, n_files=1)
    workspace = Workspace.create(tmp_path / "run", tmp_path / "data")
    _, script, *arguments = workspace.command()
    # the CLI in this interpreter, then the modules it left imported (the CLI ends its process
    # with os._exit, which the probe turns into a SystemExit to go on)
    probe = (
        "import os, runpy, sys\n"
        "def stop(code):\n    raise SystemExit(code)\n"
        "os._exit = stop\n"
        f"sys.argv = {[script, *arguments]!r}\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as done:\n    assert not done.code, done.code\n"
        "print(sorted({name.split('.')[0] for name, module in sys.modules.items() if module}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parent.parent,
        env={**prefect_env, "PODCAST_GX_DIR": str(workspace.root / "gx")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    imported = set(ast.literal_eval(result.stdout.splitlines()[-1]))
    assert {"dbt", "great_expectations", "dlt"} <= imported  # the run built something
    assert not imported & {"pyspark", "py4j"}
    assert "Skipping doctests" not in result.stdout + result.stderr  # pyspark's import-time print
