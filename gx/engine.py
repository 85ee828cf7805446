"""The SQL engine the contract runs on: DuckDB, behind one seam a second engine can implement.

`Engine` is everything the run asks of the warehouse's engine: prepare a chunk's rows (raw text
plus the typed columns the suites name, gx/typings.py), stage them where GX reads them, judge them
with the suites' rules compiled to its SQL (gx/sql_rules.py, in DuckDB's dialect), write the split
into silver and quarantine, and record what was validated. `DuckDBEngine` does it all in the
warehouse file; `SparkEngine` (gx/spark_engine.py) stages, judges and validates the rows on Spark,
in Spark's dialect of the same typings and rules (gx/spark_rules.py), and keeps the rest here.

DuckDB specifics kept here: one warehouse connection (UTC, a memory limit), an in-memory database
attached as BATCH_DATABASE holding one table per suite, and cursors of that connection for GX and
for the split thread (DuckDB releases the GIL, so they work beside each other).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple, Protocol

import duckdb

from gx.frames import BATCH_DATABASE, KEYS, REFERENCE_COVERAGE_SQL, TableContract
from gx.ledger import LEDGER_DDL, loads_to_validate, raise_if_reference_untrustworthy
from gx.sql_rules import CompiledRule, compile_expectation, quote, reasons_sql
from gx.typings import prepared_sql
from pipelines.settings import parse_memory_limit

STAGED = "__staged_"  # the batch tables chunks are staged into, numbered in run order
# The suite fingerprint of a load whose validation has begun but is not recorded yet: no suite's.
VALIDATING = "validating"
# The ledger rows of the events loads validated by the checkpoint runs given as its parameter.
VALIDATED_EVENT_LOADS = (
    "SELECT * FROM contract.validated_loads WHERE table_name = 'events' "
    "AND checkpoint_run_id IN (SELECT unnest(?::VARCHAR[]))"
)


def batch_table(suite: str, suffix: str = "") -> str:
    """The batch table of a suite: the rows under validation, which the suite's GX asset reads.
    With STAGED and a number, a table a later batch is staged into before it takes that place."""
    return f"{BATCH_DATABASE}.{suite}{suffix}"


class Engine(Protocol):
    """What the contract run needs from the engine holding the warehouse."""

    def gx_connection(self): ...
    def prepared_sql(self, contract: TableContract, expectations: Iterable) -> str: ...
    def compile_rules(self, expectations: Iterable, parameters: dict) -> list[CompiledRule]: ...
    def load_files(self, table: str, load_id: str) -> list[tuple]: ...
    def stage_chunk(self, contract, load_id: str, select_sql: str, params: list, index: int) -> int: ...
    def promote_staged(self, suite: str, index: int) -> None: ...
    def gx_batch(self, suite: str): ...
    def write_split(
        self, contract, rules, chunk: str, chunk_params: list, run_label: str, reopened_load: str | None
    ) -> SplitWrite: ...
    def stale_loads(self, table: str, fingerprint: str) -> int: ...
    def loads_to_validate(self, table: str, fingerprint: str, replay: bool) -> list[str]: ...
    def raise_if_reference_untrustworthy(self) -> None: ...
    def record_validated_load(self, table, load_id, fingerprint, run_label, rows) -> tuple: ...
    def stage_reference_coverage(self, run_ids: list[str]) -> int: ...
    def stage_load_quality(self, run_ids: list[str]) -> int: ...
    def close(self) -> None: ...


class SplitWrite:
    """A chunk's split, written in a transaction left open: `commit()` keeps it, `close()`
    without a commit rolls it back. Holds the rows failing each rule and the rows quarantined."""

    def __init__(self, cursor, counted: Counter, quarantined: int) -> None:
        self.cursor, self.counted, self.quarantined = cursor, counted, quarantined

    def commit(self) -> None:
        self.cursor.execute("COMMIT")

    def close(self) -> None:
        self.cursor.close()


class Judgement(NamedTuple):
    """A chunk judged by the engine: queries of its valid rows (silver's columns) and of its
    rejected rows (keys, raw columns, failed_rules) on the split's cursor, the failures per rule
    and the rows quarantined."""

    valid: str
    rejected: str
    counted: Counter
    quarantined: int


class DuckDBEngine:
    """The contract's SQL on one DuckDB warehouse connection; see the module docstring."""

    def __init__(self, warehouse: Path, memory_limit: str) -> None:
        self.con = duckdb.connect(str(warehouse))
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET memory_limit = '{parse_memory_limit(memory_limit)}'")
        self.con.execute(LEDGER_DDL)
        self.con.execute(f"ATTACH ':memory:' AS {BATCH_DATABASE}")

    def close(self) -> None:
        self.con.close()

    def _cursor(self):
        cursor = self.con.cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        return cursor

    def gx_connection(self):
        """A connection of its own for GX, reading the batch tables, so that GX validates a batch
        while the split, on another cursor, writes it."""
        cursor = self._cursor()
        cursor.execute(f"USE {BATCH_DATABASE}")
        return cursor

    # ------------------------------------------------------------------ rows and rules
    def prepared_sql(self, contract: TableContract, expectations: Iterable) -> str:
        return prepared_sql(contract, expectations)

    def compile_rules(self, expectations: Iterable, parameters: dict) -> list[CompiledRule]:
        return [compile_expectation(e, parameters) for e in expectations]

    # ------------------------------------------------------------------ staging
    def load_files(self, table: str, load_id: str) -> list[tuple]:
        """(source file, rows, first line, last line) per file of a load, for the chunk plan."""
        return self.con.execute(
            f"SELECT _source_file, count(*), min(_line_number), max(_line_number) "
            f"FROM bronze.{table} WHERE _dlt_load_id = ? GROUP BY 1 ORDER BY 1",
            [load_id],
        ).fetchall()

    def stage_chunk(
        self, contract: TableContract, load_id: str, select_sql: str, params: list, index: int
    ) -> int:
        """A chunk's prepared rows (of load `load_id`) into staged batch table `index` of its suite,
        on a cursor of its own (called from the staging thread); how many rows."""
        with self._cursor() as cursor:
            return _stage(cursor, batch_table(contract.suite, f"{STAGED}{index}"), select_sql, params)

    def gx_batch(self, suite: str):
        """The batch GX validates the suite's batch from, beyond its checkpoint: none here (the
        checkpoint's data source reads the batch table)."""
        return None

    def promote_staged(self, suite: str, index: int) -> None:
        """Staged batch table `index` becomes the suite's batch table, the one GX reads."""
        self.con.execute(
            f"DROP TABLE IF EXISTS {batch_table(suite)}; "
            f"ALTER TABLE {batch_table(suite, f'{STAGED}{index}')} RENAME TO {suite}"
        )

    def stage_reference_coverage(self, run_ids: list[str]) -> int:
        """Reference coverage of the valid events of each load validated by the checkpoint runs
        `run_ids`, one row per event."""
        of_the_runs = f"e._dlt_load_id IN (SELECT load_id FROM ({VALIDATED_EVENT_LOADS}))"
        return _stage(
            self.con,
            batch_table("reference_coverage"),
            f"{REFERENCE_COVERAGE_SQL} WHERE {of_the_runs}",
            [run_ids],
        )

    def stage_load_quality(self, run_ids: list[str]) -> int:
        """The quarantined share of each events load validated by the checkpoint runs `run_ids`."""
        return _stage(
            self.con,
            batch_table("load_quality"),
            "SELECT load_id, rows, quarantined, quarantined / greatest(rows, 1) AS quarantined_share "
            f"FROM ({VALIDATED_EVENT_LOADS})",
            [run_ids],
        )

    # ------------------------------------------------------------------ the split
    def write_split(
        self,
        contract: TableContract,
        rules: list[CompiledRule],
        chunk: str,
        chunk_params: list,
        run_label: str,
        reopened_load: str | None,
    ) -> SplitWrite:
        """Judge the suite's batch table with the compiled rules and replace the chunk's rows in
        silver and quarantine, in a transaction left open for the caller (see SplitWrite). With
        `reopened_load` (a load's first chunk), the same transaction marks that load's ledger row
        VALIDATING: a run stopped before the load is recorded again leaves it for the next run to
        validate anew, as after a suite change, instead of counting its rows as they were."""
        cursor = self._cursor()
        try:
            judged = self._judge(cursor, contract, rules)
            _create_split_tables(cursor, contract, judged)
            cursor.execute("BEGIN TRANSACTION")
            try:
                _replace_chunk(cursor, contract, chunk, chunk_params, judged, run_label)
                if reopened_load is not None:
                    cursor.execute(
                        "UPDATE contract.validated_loads SET suite_fingerprint = ? "
                        "WHERE table_name = ? AND load_id = ?",
                        [VALIDATING, contract.table, reopened_load],
                    )
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        except BaseException:
            cursor.close()
            raise
        return SplitWrite(cursor, judged.counted, judged.quarantined)

    def _judge(self, cursor, contract: TableContract, rules: list[CompiledRule]) -> Judgement:
        """Judge the suite's batch table with the compiled rules, on `cursor`."""
        batch = batch_table(contract.suite)
        cursor.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE failed AS
            SELECT batch_row, failed_rules FROM (
                SELECT rowid AS batch_row, list_filter([{reasons_sql(rules)}], lambda r: r IS NOT NULL)
                    AS failed_rules
                FROM {batch}
            ) WHERE len(failed_rules) > 0
            """,
            [p for rule in rules for p in rule.params],
        )
        failures = "SELECT r, count(*) FROM (SELECT unnest(failed_rules) r FROM failed) GROUP BY r"
        counted = Counter(dict(cursor.execute(failures).fetchall()))
        raw = ", ".join(quote(c) for c in contract.raw_columns)
        return Judgement(
            valid=(
                f"SELECT {contract.silver_columns} FROM {batch} "
                "WHERE rowid NOT IN (SELECT batch_row FROM failed)"
            ),
            rejected=(
                f"SELECT {', '.join(KEYS)}, {raw}, failed_rules "
                f"FROM {batch} JOIN failed ON {batch}.rowid = failed.batch_row"
            ),
            counted=counted,
            quarantined=cursor.execute("SELECT count(*) FROM failed").fetchone()[0],
        )

    # ------------------------------------------------------------------ the ledger (gx/ledger.py)
    def loads_to_validate(self, table: str, fingerprint: str, replay: bool) -> list[str]:
        return loads_to_validate(self.con, table, fingerprint, replay)

    def raise_if_reference_untrustworthy(self) -> None:
        """The run-stopping policy: ContractViolation while a reference file's latest version fails."""
        raise_if_reference_untrustworthy(self.con)

    def stale_loads(self, table: str, fingerprint: str) -> int:
        """Loads of `table` validated under another version of its suite."""
        return self.con.execute(
            "SELECT count(*) FROM contract.validated_loads WHERE table_name = ? AND suite_fingerprint <> ?",
            [table, fingerprint],
        ).fetchone()[0]

    def record_validated_load(
        self, table: str, load_id: str, fingerprint: str, run_label: str, rows: int
    ) -> tuple[int | None, int]:
        """Record a load as validated; its quarantined rows before (None: first time) and after."""
        quarantined = "SELECT quarantined FROM contract.validated_loads WHERE table_name = ? AND load_id = ?"
        before = self.con.execute(quarantined, [table, load_id]).fetchone()
        self.con.execute(
            "INSERT OR REPLACE INTO contract.validated_loads "
            "SELECT ?, ?, ?, ?, now(), ?, "
            f"(SELECT count(*) FROM silver.{table} WHERE _dlt_load_id = ?), "
            f"(SELECT count(*) FROM quarantine.{table} WHERE _dlt_load_id = ?)",
            [table, load_id, fingerprint, run_label, rows, load_id, load_id],
        )
        (after,) = self.con.execute(quarantined, [table, load_id]).fetchone()
        return (before[0] if before else None), after


def _stage(con, table: str, select_sql: str, params: list | tuple = ()) -> int:
    """Replace `table` with the rows of `select_sql`; how many there are."""
    return con.execute(f"CREATE OR REPLACE TABLE {table} AS {select_sql}", params).fetchone()[0]


def _create_split_tables(con, contract: TableContract, judged: Judgement) -> None:
    """silver.<table> and quarantine.<table>, empty and shaped as the judged chunk's valid and
    rejected rows, unless they exist.

    Before the split's transaction, never in it: DuckDB keeps wrong statistics for a table created
    and then filled with a row group or more (122,880 rows) in one transaction, and until the next
    checkpoint a filter on a long text, such as a load id, finds none of its rows: the ledger
    counted no valid row of a fresh warehouse's first large load (tests/test_contract.py)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS silver.{contract.table} AS {judged.valid} LIMIT 0")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS quarantine.{contract.table} AS SELECT *, CAST(NULL AS VARCHAR) "
        f"AS checkpoint_run_id, now() AS quarantined_at FROM ({judged.rejected}) LIMIT 0"
    )


def _replace_chunk(
    con, contract: TableContract, chunk: str, chunk_params: list, judged: Judgement, run_label: str
) -> None:
    """In the caller's transaction, the chunk's rows of silver and quarantine become the judged
    chunk's valid and rejected rows."""
    silver, quarantine = f"silver.{contract.table}", f"quarantine.{contract.table}"
    for table in (silver, quarantine):
        con.execute(f"DELETE FROM {table} WHERE {chunk}", chunk_params)
    con.execute(f"INSERT INTO {silver} {judged.valid}")
    con.execute(f"INSERT INTO {quarantine} SELECT *, ?, now() FROM ({judged.rejected})", [run_label])
