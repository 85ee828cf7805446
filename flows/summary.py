"""The run summary: what this run did and what the warehouse holds, each scope consistent on its own.

- `this_run` counts the rows of the loads this run ingested: loaded = valid + quarantined, and
  valid = new + duplicates (a duplicate's business key, user, episode, type and instant, was
  already held by an earlier valid row or by another row of this run). Loads re-validated after
  a contract change are reported apart, under `revalidated`.
- `warehouse` counts everything held: bronze = valid + quarantined, and valid = distinct events
  (the fact table) + duplicates removed.

`summary_lines` renders it for a person (end of a run, notifications).
"""

from __future__ import annotations

import duckdb

from gx.report import DOCS_INDEX, ContractReport
from pipelines.ingest import IngestReport
from pipelines.settings import Settings

FACT = "marts.fct_listening_events"
EVENT_KEY = ("user_id", "episode_id", "event_type", "event_ts")


def run_summary(settings: Settings, ingested: IngestReport, contract: ContractReport) -> dict:
    """The summary of a run that completed its contract and dbt build."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        this_run = _this_run(con, ingested)
        this_run["revalidated"] = {table: dict(moves) for table, moves in contract.revalidation.items()}
        this_run["new_columns"] = list(ingested.new_columns)
        warehouse = _warehouse(con)
        last_day = con.execute(f"SELECT max(event_date) FROM {FACT}").fetchone()[0]
    as_of = settings.as_of or last_day
    return {
        "as_of": as_of.isoformat() if as_of else None,
        "this_run": this_run,
        "warehouse": warehouse,
        "load_ids": list(ingested.load_ids),
        "warnings": contract.warnings,
        "contract_step_seconds": {step: round(seconds, 3) for step, seconds in contract.step_seconds.items()},
        "files": [
            {k: f[k] for k in ("source_file", "status", "lines_read", "rows_loaded", "error")}
            for f in ingested.files
        ],
        "exports_dir": str(settings.exports_dir),
        "data_docs": str(contract.data_docs or settings.gx_dir / DOCS_INDEX),
    }


def _this_run(con: duckdb.DuckDBPyConnection, ingested: IngestReport) -> dict:
    loads = list(ingested.load_ids)
    events = {"loaded": ingested.rows_of("events"), "valid": 0, "quarantined": 0, "new": 0, "duplicates": 0}
    reasons: dict[str, int] = {}
    if loads:
        key = ", ".join(EVENT_KEY)
        valid, quarantined, distinct, known = con.execute(
            f"""
            WITH arrived AS (SELECT {key} FROM silver.events WHERE _dlt_load_id IN ?),
                keys AS (SELECT DISTINCT {key} FROM arrived),
                earlier AS (
                    SELECT {key} FROM silver.events
                    WHERE _dlt_load_id NOT IN ?
                        AND event_ts BETWEEN (SELECT min(event_ts) FROM keys)
                            AND (SELECT max(event_ts) FROM keys)
                )
            SELECT (SELECT count(*) FROM arrived),
                (SELECT count(*) FROM quarantine.events WHERE _dlt_load_id IN ?),
                (SELECT count(*) FROM keys),
                (SELECT count(*) FROM keys SEMI JOIN earlier USING ({key}))
            """,
            [loads, loads, loads],
        ).fetchone()
        events.update(
            valid=valid, quarantined=quarantined, new=distinct - known, duplicates=valid - distinct + known
        )
        failed_rules = " UNION ALL ".join(
            f"SELECT unnest(failed_rules) AS rule FROM quarantine.{table} WHERE _dlt_load_id IN $loads"
            for table in _quarantine_tables(con)
        )
        reasons = dict(
            con.execute(
                f"SELECT rule, count(*) AS n FROM ({failed_rules}) GROUP BY rule ORDER BY n DESC, rule",
                {"loads": loads},
            ).fetchall()
        )
    return {
        "files": len(ingested.files),
        "lines_read": ingested.lines_read,
        "events": events,
        "quarantine_reasons": reasons,
    }


def _warehouse(con: duckdb.DuckDBPyConnection) -> dict:
    bronze, valid, quarantined, distinct = con.execute(
        f"SELECT (SELECT count(*) FROM bronze.events), (SELECT count(*) FROM silver.events), "
        f"(SELECT count(*) FROM quarantine.events), (SELECT count(*) FROM {FACT})"
    ).fetchone()
    return {
        "events": {
            "bronze": bronze,
            "valid": valid,
            "quarantined": quarantined,
            "distinct": distinct,
            "duplicates_removed": valid - distinct,
        }
    }


def _quarantine_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'quarantine' ORDER BY 1"
        ).fetchall()
    ]


def summary_lines(summary: dict) -> list[str]:
    """The run summary as a person reads it at the end of a run or in a notification."""
    run, held = summary["this_run"], summary["warehouse"]["events"]
    events = run["events"]
    lines = [
        f"this run:  {events['loaded']:,} events loaded from {run['files']:,} files: "
        f"{events['valid']:,} valid ({events['new']:,} new, {events['duplicates']:,} duplicates), "
        f"{events['quarantined']:,} quarantined",
        *(f"  quarantined by {rule}: {rows:,}" for rule, rows in run["quarantine_reasons"].items()),
        *(
            f"  re-validated {table} after a contract change: {moves['rows']:,} rows, "
            f"{moves['to_quarantine']:,} moved to quarantine, {moves['to_silver']:,} back to valid"
            for table, moves in run["revalidated"].items()
        ),
        *schema_drift_lines(run["new_columns"]),
        f"warehouse: {held['bronze']:,} events: {held['valid']:,} valid ({held['distinct']:,} distinct), "
        f"{held['quarantined']:,} quarantined; answers as of {summary['as_of']}",
        *(f"warning: {w}" for w in summary["warnings"]),
        f"exports:   {summary['exports_dir']}",
        f"data docs: {summary['data_docs']}",
    ]
    if "seconds" in summary:
        seconds = summary["seconds"]
        lines.append("time:      " + ", ".join(f"{stage} {value:.1f} s" for stage, value in seconds.items()))
    return lines


def schema_drift_lines(new_columns: list[dict]) -> list[str]:
    """One line per column this run added to bronze, where it first has a value."""
    return [
        f"schema: new column {c['table']}.{c['column']}"
        + (f" (first in {c['source_file']} line {c['line']})" if c["source_file"] else "")
        for c in new_columns
    ]
