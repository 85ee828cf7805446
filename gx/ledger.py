"""Which loads the contract still has to judge, and the record of those it judged.

`contract.validated_loads` holds one row per (table, load) with the fingerprint of the suite that
judged it. A load is pending while it is complete in dlt (`_dlt_loads.status = 0`) and not
validated under the current suite (`replay`: or it still has quarantined rows). The suite's
fingerprint is read from its committed JSON, so deciding that nothing is pending needs no GX.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

from gx.frames import CONTRACTS
from gx.report import ContractViolation

LEDGER_DDL = """
    CREATE SCHEMA IF NOT EXISTS silver;
    CREATE SCHEMA IF NOT EXISTS quarantine;
    CREATE SCHEMA IF NOT EXISTS contract;
    CREATE TABLE IF NOT EXISTS contract.validated_loads (
        table_name VARCHAR, load_id VARCHAR, suite_fingerprint VARCHAR, checkpoint_run_id VARCHAR,
        validated_at TIMESTAMP, rows BIGINT, valid BIGINT, quarantined BIGINT,
        PRIMARY KEY (table_name, load_id)
    );
"""


def suite_fingerprint(gx_dir: Path, suite: str) -> str:
    """A hash of what the suite checks (its expectations without GX's generated ids)."""
    document = json.loads((gx_dir / "expectations" / f"{suite}.json").read_text())
    rules = [{k: v for k, v in e.items() if k != "id"} for e in document["expectations"]]
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:16]


def has_table(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def loads_to_validate(
    con: duckdb.DuckDBPyConnection, table: str, fingerprint: str, replay: bool
) -> list[str]:
    """The complete loads of bronze.<table> not yet validated under `fingerprint`, oldest first."""
    if not has_table(con, f"bronze.{table}"):
        return []
    validated = (
        {
            row[0]
            for row in con.execute(
                "SELECT load_id FROM contract.validated_loads WHERE table_name = ? AND suite_fingerprint = ?",
                [table, fingerprint],
            ).fetchall()
        }
        if has_table(con, "contract.validated_loads")
        else set()
    )
    if replay and has_table(con, f"quarantine.{table}"):
        validated -= {
            row[0] for row in con.execute(f"SELECT DISTINCT _dlt_load_id FROM quarantine.{table}").fetchall()
        }
    completed = con.execute(
        f"SELECT DISTINCT b._dlt_load_id FROM bronze.{table} AS b "
        "JOIN bronze._dlt_loads AS l ON l.load_id = b._dlt_load_id AND l.status = 0 ORDER BY 1"
    ).fetchall()
    return [row[0] for row in completed if row[0] not in validated]


def raise_if_reference_untrustworthy(con: duckdb.DuckDBPyConnection) -> None:
    """ContractViolation while the latest version of a reference file still has failing rows."""
    problems = []
    for contract in CONTRACTS:
        if not contract.stops_run or not has_table(con, f"quarantine.{contract.table}"):
            continue
        failing = con.execute(
            f"""
            WITH latest AS (
                SELECT source_file, max(_dlt_load_id) AS load_id FROM bronze.source_files
                WHERE kind = ? AND status <> 'unreadable' GROUP BY source_file
            )
            SELECT q._source_file, count(*), list_distinct(flatten(list(q.failed_rules)))
            FROM quarantine.{contract.table} AS q
            JOIN latest ON latest.source_file = q._source_file AND latest.load_id = q._dlt_load_id
            GROUP BY 1 ORDER BY 1
            """,
            [contract.table],
        ).fetchall()
        problems += [f"{name}: {rows} rows fail {', '.join(sorted(rules))}" for name, rows, rules in failing]
    if problems:
        raise ContractViolation(
            "reference data failed its contract (see quarantine tables and data docs): " + "; ".join(problems)
        )


def nothing_to_validate(warehouse: Path, gx_dir: Path, replay: bool) -> bool:
    """True when no load is pending, so the contract has nothing to run: one read-only look,
    no GX. Still raises ContractViolation while a failing reference file is the latest."""
    if not warehouse.exists():
        return True
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if any(
            loads_to_validate(con, c.table, suite_fingerprint(gx_dir, c.suite), replay) for c in CONTRACTS
        ):
            return False
        raise_if_reference_untrustworthy(con)
    return True
