"""The podcast pipeline flow: ingest (dlt) -> contract (GX) -> transform (dbt) -> export -> notify.

Tasks are thin: each calls the layer that owns the work (pipelines/, gx/, dbt/, flows/exports.py).
I/O tasks retry with back-off; the dbt build is cached on the warehouse's validated state, the
dbt project's files and the parameters, so a rerun with nothing new skips it (only while the
warehouse's models are still the ones that build made: see `built_from`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

from flows.charts import answers_digest, charts_current, write_charts
from flows.dbt_build import (
    BUILD,
    NIGHTLY_TESTS,
    ColumnsChanged,
    DataTestFailed,
    failure,
    full_refresh_unfinished,
    run_dbt,
)
from flows.exports import export_answers, write_summary
from flows.lock import WarehouseBusy, warehouse_lock
from flows.notify import notify
from flows.report import publish_report_link, write_report
from flows.spark_engine import models_engine
from flows.summary import run_summary, schema_drift_lines, summary_lines
from flows.watchdog import time_limit
from gx.ledger import nothing_to_validate
from gx.report import ContractReport, ContractViolation
from pipelines.ingest import IngestReport, ingest
from pipelines.progress import progress, timed
from pipelines.settings import DBT_DIR, Settings, SettingsError

RETRY_DELAYS = [2, 10, 30]


def _retry_unless_settings(task, task_run, state) -> bool:
    """A setting the run cannot use (SettingsError) fails the task at once: a retry cannot help."""
    return not isinstance(state.data, SettingsError)


# I/O steps retry with back-off
RETRIED = {
    "retries": len(RETRY_DELAYS),
    "retry_delay_seconds": RETRY_DELAYS,
    "retry_condition_fn": _retry_unless_settings,
}
BUILD_RECORD = "pipeline_state.last_build"
# dbt's own output and files: node results go to the run log and artifacts instead. Nothing reads
# target/manifest.json or run_results.json, and writing them costs time in every build. dbt's own
# log (logs/dbt.log in the warehouse's dbt folder) keeps each node's start and result (a failure
# with its message; the SQL it ran is in target/run), not the debug lines (every query, every
# connection), whose writing slowed every node.
QUIET = ["--quiet", "--no-use-colors", "--no-write-json", "--log-level-file", "info"]


# ---------------------------------------------------------------------------- ingest
@task(**RETRIED, cache_policy=NO_CACHE)
def ingest_new_files(settings: Settings) -> IngestReport:
    """Load new event files and reference CSVs into bronze (dlt)."""
    report = ingest(settings)
    get_run_logger().info(
        "ingested %s lines from %s files in %s load(s)",
        report.lines_read,
        len(report.files),
        len(report.load_ids),
    )
    return report


# ---------------------------------------------------------------------------- validate
@task(**RETRIED, cache_policy=NO_CACHE)
def validate_and_split(settings: Settings) -> ContractReport:
    """Run the GX checkpoints on new loads; valid rows to silver, failing rows to quarantine.

    With no load to validate, Great Expectations is not even imported. On Spark (bronze at a URL),
    the run's Spark session starts first (GX offers Spark only if pyspark imports before it) and
    brings bronze's tables in its catalog up to date (pipelines/spark_bronze.py)."""
    if nothing_to_validate(settings.warehouse, settings.gx_dir, settings.replay_quarantine):
        return ContractReport()
    spark = None
    if settings.contract_on_spark:
        from flows.spark_engine import check_spark, spark_sql, start_session
        from pipelines.spark_bronze import register_tables

        check_spark(settings)
        spark = start_session(settings)
        with spark_sql(settings) as sql:
            views = register_tables(sql, settings.bronze_url)
        get_run_logger().info("bronze in Spark's catalog: %s", ", ".join(views))
    from gx.validate import validate

    report = validate(settings, spark)
    for table, outcome in report.tables.items():
        get_run_logger().info("%s: %s valid, %s quarantined", table, outcome.valid, outcome.quarantined)
    return report


# ---------------------------------------------------------------------------- transform
def _transform_cache_key(context, parameters) -> str:
    return parameters["state_fingerprint"]


@task(cache_key_fn=_transform_cache_key, cache_expiration=timedelta(days=7), persist_result=True)
def build_models(settings: Settings, state_fingerprint: str, full_refresh: bool) -> str:
    """dbt build (models, and data tests of the new loads) in-process; every node's result goes to
    the log and an artifact.

    One task rather than a Prefect task per dbt node (prefect-dbt's PrefectDbtRunner): that made
    the hourly build about 4 times slower (README, "Measured figures"). On Spark, silver goes to
    Spark before the build (flows/spark_silver.py) and the models come back as views after it
    (flows/spark_engine.py).
    An incremental model whose columns changed (a new version of the project) fails its build;
    then every model is rebuilt."""
    args = [*BUILD, *QUIET] + (["--full-refresh"] if full_refresh else [])
    try:
        _build(settings, args)
    except ColumnsChanged as changed:  # a new version of a model: applied by rebuilding them all
        get_run_logger().warning("%s: rebuilding every model (--full-refresh)", changed)
        _build(settings, [*args, "--full-refresh"])
    _record_build(settings.warehouse, state_fingerprint)
    return state_fingerprint


def _build(settings: Settings, args: list[str]) -> None:
    if settings.engine == "spark":
        from flows.spark_engine import attach_models, check_spark
        from flows.spark_silver import publish_silver

        check_spark(settings)
        published = publish_silver(settings)
        get_run_logger().info("silver published for Spark: %s", published)
        _invoke_dbt(settings, args, "dbt-build", "dbt build on Spark: every model and test")
        attached = attach_models(settings)
        get_run_logger().info("Spark's models attached to the warehouse file: %s", ", ".join(attached))
    else:
        _invoke_dbt(settings, args, "dbt-build", "dbt build: every model and test")


@task(cache_policy=NO_CACHE)
def run_nightly_tests(settings: Settings) -> None:
    """The data tests over every row (dbt tag nightly), which the hourly builds leave out."""
    args = [*NIGHTLY_TESTS, *QUIET]
    _invoke_dbt(settings, args, "dbt-nightly-tests", "dbt nightly tests: every row")


def _invoke_dbt(settings: Settings, args: list[str], artifact: str, description: str) -> None:
    """dbt <args>; each node's result to the run log and a table artifact; a failure raised."""
    result = run_dbt(settings, args, callbacks=[_dbt_event_logger(get_run_logger())])
    nodes = [
        {
            "node": node.node.unique_id,
            "status": str(node.status),
            "seconds": round(node.execution_time, 2),
            "message": node.message or "",
        }
        for node in (result.result or [])
    ]
    if nodes:
        create_table_artifact(key=artifact, table=nodes, description=description)
    if not result.success:
        raise failure(settings, args, result)


_DBT_EVENTS_LOGGED = {"LogModelResult", "LogTestResult", "RunResultError", "RunResultFailure"}


def _dbt_event_logger(logger) -> Callable:
    """A dbt callback: each node's result as a run log line (dbt itself runs quiet), and progress."""
    done = itertools.count(1)

    def log_event(event) -> None:
        if event.info.name in _DBT_EVENTS_LOGGED:
            logger.info("dbt: %s", event.info.msg)
            total = getattr(event.data, "total", None) or getattr(event.data, "num_models", None)
            if total:
                progress("transform: %s of %s dbt nodes done", next(done), total)

    return log_event


def _record_build(warehouse: Path, fingerprint: str) -> None:
    """Keep in the warehouse which state its models were last built from (`built_from`)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {BUILD_RECORD.split('.')[0]}")
        con.execute(
            f"CREATE OR REPLACE TABLE {BUILD_RECORD} AS SELECT ? AS fingerprint, now() AS built_at",
            [fingerprint],
        )


def built_from(warehouse: Path) -> str | None:
    """The state fingerprint the warehouse's models were last built from; None if unknown. A cached
    build counts only when it is this one: another build since (another as_of, an engine switch)
    has replaced the models the cache remembers."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if not con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema || '.' || table_name = ?",
            [BUILD_RECORD],
        ).fetchone()[0]:
            return None
        return con.execute(f"SELECT fingerprint FROM {BUILD_RECORD}").fetchone()[0]


def state_fingerprint(settings: Settings) -> str:
    """What the marts depend on: validated loads, the dbt project's files and the parameters. Not
    whether the build is a full one: the models it leaves are the same, and a rebuild refreshes
    the cache anyway, so the next run with nothing new finds it."""
    digest = hashlib.sha256()
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        for row in con.execute(
            "SELECT table_name, load_id, suite_fingerprint, valid FROM contract.validated_loads ORDER BY 1, 2"
        ).fetchall():
            digest.update(repr(row).encode())
    for path in sorted(DBT_DIR.rglob("*")):
        if path.is_file() and path.suffix in {".sql", ".yml"} and "target" not in path.parts:
            digest.update(path.relative_to(DBT_DIR).as_posix().encode() + path.read_bytes())
    engine = (
        f"{settings.dbt_target}:{settings.spark_home.resolve()}" if settings.engine == "spark" else "duckdb"
    )
    digest.update(f"{settings.warehouse}|{engine}|{settings.as_of}".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------- export
@task(**RETRIED, cache_policy=NO_CACHE)
def export_results(
    settings: Settings, ingested: IngestReport, contract: ContractReport, seconds: dict[str, float]
) -> dict:
    """Write answers, charts and run_summary.json atomically; publish Prefect artifacts.

    `seconds` holds the earlier stages' durations; this one adds its own before the summary."""
    with _timed(seconds, "export"):
        answers = export_answers(settings.warehouse, settings.exports_dir)
        summary = run_summary(settings, ingested, contract)
        summary["answers_digest"] = answers_digest(answers, summary["as_of"])
        if not charts_current(settings.exports_dir, summary["answers_digest"]):
            write_charts(answers, settings.exports_dir, summary["as_of"])
    summary["seconds"] = seconds
    write_summary(summary, settings.exports_dir)
    write_report(summary, answers, settings.exports_dir)
    publish_artifacts(summary, answers)
    return summary


def publish_artifacts(summary: dict, answers: dict[str, list[dict]]) -> None:
    create_table_artifact(
        key="run-summary",
        table=[
            {"scope": scope, "metric": metric, "value": value}
            for scope in ("this_run", "warehouse")
            for metric, value in summary[scope]["events"].items()
        ]
        + [{"scope": "answers", "metric": "as_of", "value": summary["as_of"]}],
        description="Events loaded, valid, quarantined and deduplicated: in this run and in the warehouse",
    )
    create_table_artifact(
        key="quarantine-reasons",
        table=[
            {"rule": rule, "rows": rows} for rule, rows in summary["this_run"]["quarantine_reasons"].items()
        ]
        or [{"rule": "(none)", "rows": 0}],
        description="Rows quarantined in this run, by contract rule",
    )
    create_markdown_artifact(key="answers", markdown=_answers_markdown(answers), description="Q1-Q3")
    create_link_artifact(key="data-docs", link=Path(summary["data_docs"]).as_uri(), link_text="GX data docs")
    publish_report_link(Path(summary["exports_dir"]) / "report.html")


def _answers_markdown(answers: dict[str, list[dict]]) -> str:
    parts = []
    for name, rows in answers.items():
        columns = list(rows[0]) if rows else []
        table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        table += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
        parts.append(f"### {name}\n\n" + ("\n".join(table) if rows else "_no rows_"))
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------- docs
@task(cache_policy=NO_CACHE)
def refresh_docs_sites(settings: Settings) -> str:
    """Rebuild the dbt docs site (static, one file) and the GX data docs."""
    from gx.build import open_context
    from gx.data_docs import finish_data_docs

    result = run_dbt(settings, ["docs", "generate", "--static", "--quiet"])
    if not result.success:
        raise RuntimeError(f"dbt docs generate failed: {result.exception}")
    context = open_context(settings.gx_dir)
    context.build_data_docs()
    finish_data_docs(context, settings.data_docs_keep_runs)
    return str(settings.dbt_work_dir / "target" / "static_index.html")


# ---------------------------------------------------------------------------- start-up
def warm_up(settings: Settings) -> None:
    """Import now the heavy libraries this run will need (dlt, Great Expectations, dbt: several
    seconds of Python), when something is new: the command line calls it while Prefect's
    temporary server boots on the other core. A run with nothing new imports none of them."""
    from pipelines.files import nothing_new
    from pipelines.ingest import PIPELINE_NAME

    try:
        new_files = not nothing_new(settings.data_dir, settings.dlt_pipelines_dir / PIPELINE_NAME)
        pending = new_files or not nothing_to_validate(
            settings.warehouse, settings.gx_dir, settings.replay_quarantine
        )
    except Exception:  # the run itself will report it, in its stage
        return
    if pending:
        progress("starting: importing dlt, Great Expectations and dbt")
        import dbt.cli.main  # noqa: F401

        import pipelines.sources  # noqa: F401

        if not settings.contract_on_spark:  # on Spark, GX comes after pyspark (validate_and_split)
            import gx.validate  # noqa: F401


# ---------------------------------------------------------------------------- the flow
@flow(name="podcast_pipeline", log_prints=True)
def podcast_pipeline(
    settings: Settings | None = None, refresh_docs: bool = False, nightly_tests: bool = False
):
    """Run the whole pipeline once.

    `settings` is the one settings object (the command line builds it); a deployment gives none, or
    a JSON object of the settings it changes, over the PODCAST_* environment variables.
    `nightly_tests` also runs the data tests over every row after the build (the daily run)."""
    settings = Settings.from_parameters(settings)
    try:
        with warehouse_lock(settings.warehouse, settings.lock_wait_seconds), time_limit(settings):
            summary = _run(settings, nightly_tests)
            if refresh_docs:
                summary["dbt_docs"] = refresh_docs_sites(settings)
    except (ContractViolation, DataTestFailed, WarehouseBusy) as error:
        notify(settings.notify_urls, "podcast pipeline failed", str(error))
        return Failed(message=str(error), data=error)
    except Exception as error:
        notify(settings.notify_urls, "podcast pipeline failed", f"{type(error).__name__}: {error}")
        raise
    if summary["warnings"]:
        notify(
            settings.notify_urls, "podcast pipeline: data-quality warning", "\n".join(summary_lines(summary))
        )
    if summary["this_run"]["new_columns"]:
        notify(
            settings.notify_urls,
            "podcast pipeline: schema change",
            "\n".join(schema_drift_lines(summary["this_run"]["new_columns"])),
        )
    return summary


def _run(settings: Settings, nightly_tests: bool = False) -> dict:
    seconds: dict[str, float] = {}
    with _timed(seconds, "ingest"):
        ingested = ingest_new_files(settings)
    with _timed(seconds, "validate"):
        contract = validate_and_split(settings)
    with _timed(seconds, "transform"):
        # Rows moved between silver and quarantine in old loads: rebuild, do not increment. So
        # after a rebuild that did not finish: until one does, incremental models may be stale.
        # So after builds on the other engine, which left this one's incremental models behind,
        # and on a warehouse without models (a Spark home may still hold an older warehouse's).
        rebuild = (
            settings.full_refresh
            or bool(contract.revalidated)
            or settings.replay_quarantine
            or full_refresh_unfinished(settings)
            or models_engine(settings.warehouse) != settings.engine
        )
        fingerprint = state_fingerprint(settings)
        stale = built_from(settings.warehouse) != fingerprint
        build_models.with_options(refresh_cache=rebuild or stale)(settings, fingerprint, rebuild)
        if nightly_tests:
            run_nightly_tests(settings)
    return export_results(settings, ingested, contract, seconds)


def _timed(seconds: dict[str, float], stage: str):
    """Tell the stage as progress, and keep its seconds in `seconds[stage]`."""
    progress("%s", stage)
    return timed(lambda elapsed: seconds.__setitem__(stage, round(elapsed, 3)))
