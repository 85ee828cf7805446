"""Run the contract's checkpoints on bronze loads and split every row into silver or quarantine.

For each table (users, episodes, events), the rows of loads not yet validated under the current
suite are prepared into the engine's batch tables (gx/engine.py), validated there by the table's
GX checkpoint (gx/checkpoints.py) and split: rows that pass go to `silver.<table>`, rows that
fail to `quarantine.<table>` with every rule they broke and the checkpoint run id. Per load:
bronze rows = silver rows + quarantined rows.

- A suite whose fingerprint changed re-validates all loads of its table (gx/ledger.py).
- `replay_quarantine` re-validates the loads that have quarantined rows (after a contract fix).
- A load is validated in chunks (gx/chunks.py); each chunk is replaced in one transaction,
  committed only if GX and the SQL judge agree (gx/crosscheck.py), so a rerun never duplicates
  a row.
- Then the warning-level checkpoints run (gx/warning_checks.py), and the data docs are built.
- Reference rows failing their suite make the run untrustworthy: ContractViolation is raised,
  after everything is recorded, for as long as the latest version of the file still fails.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial

from great_expectations.core.run_identifier import RunIdentifier

from gx.checkpoints import Checkpoints, run_label
from gx.chunks import Chunk, load_chunks, staged_in_turn
from gx.crosscheck import cross_check
from gx.engine import DuckDBEngine, Engine
from gx.frames import CONTRACTS, TableContract
from gx.ledger import suite_fingerprint
from gx.report import DOCS_INDEX, ContractReport, TableOutcome
from gx.suites import SUITES
from gx.warning_checks import check_load_quality, check_reference_coverage
from pipelines.progress import progress
from pipelines.settings import Settings


def validate(settings: Settings, spark=None) -> ContractReport:
    """Validate and split every pending load of the warehouse; see the module docstring. Given
    the run's Spark session, the rows are validated and split on Spark (gx/spark_engine.py)."""
    if spark is not None:
        from gx.spark_engine import SparkEngine

        engine: Engine = SparkEngine(settings, spark)
    else:
        engine = DuckDBEngine(settings.warehouse, settings.duckdb_memory_limit)
    try:
        runner = ContractRunner(engine, settings)
        try:
            return runner.run()
        finally:
            runner.close()
    finally:
        engine.close()


class ContractRunner:
    """Validates and splits the warehouse's pending loads with one GX context on one engine."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.report = ContractReport()
        self.checkpoints = Checkpoints(
            settings.gx_dir, engine.gx_connection(), {"reference_time": _utc_iso(settings.now)}, self.report
        )
        # By suite: its entries compiled to the engine's SQL, and the SELECT of its prepared rows.
        self.rules: dict[str, list] = {}
        self.prepared: dict[str, str] = {}

    def close(self) -> None:
        self.checkpoints.close()

    def run(self) -> ContractReport:
        try:
            return self._run()
        finally:
            self.checkpoints.build_data_docs()  # also when reference data fails: that is what to review

    def _run(self) -> ContractReport:
        chunks: list[Chunk] = []
        for contract in CONTRACTS:
            for load_id in self._loads_to_validate(contract):
                chunks += load_chunks(contract, load_id, self.engine.load_files(contract.table, load_id))
        for suite in {chunk.contract.suite for chunk in chunks}:  # GX's suites, read on this thread
            self._rules(suite)
        self._validate_chunks(chunks)
        if any(chunk.contract.table == "events" for chunk in chunks):
            check_reference_coverage(self.engine, self.checkpoints, self.report)
        if self.report.tables:
            check_load_quality(self.engine, self.checkpoints, self.report)
            self.report.data_docs = self.settings.gx_dir / DOCS_INDEX
        self.engine.raise_if_reference_untrustworthy()
        return self.report

    def _loads_to_validate(self, contract: TableContract) -> list[str]:
        fingerprint = suite_fingerprint(self.settings.gx_dir, contract.suite)
        if self.engine.stale_loads(contract.table, fingerprint):
            self.report.revalidated.append(contract.table)
        return self.engine.loads_to_validate(contract.table, fingerprint, self.settings.replay_quarantine)

    # ------------------------------------------------------------------ chunks
    def _validate_chunks(self, chunks: list[Chunk]) -> None:
        """Validate and split the chunks in turn, the next ones staged while GX validates."""
        with ThreadPoolExecutor(1) as split_pool:
            waiting = partial(self.report.timed, "stage")
            for index, chunk, rows in staged_in_turn(chunks, self._stage_chunk, waiting):
                self.engine.promote_staged(chunk.contract.suite, index)
                progress(
                    "validate: %s, chunk %s of %s (%s rows)",
                    chunk.run_name,
                    index + 1,
                    len(chunks),
                    f"{rows:,}",
                )
                self._validate_chunk(chunk, rows, split_pool)

    def _stage_chunk(self, chunk: Chunk, index: int) -> int:
        """The chunk's prepared rows into a staged batch table of its suite (staging thread)."""
        contract = chunk.contract
        with self.report.timed(None, contract.suite, self.report.staging_seconds):
            select = f"{self.prepared[contract.suite]} WHERE {chunk.predicate}"
            return self.engine.stage_chunk(contract, chunk.load_id, select, chunk.params, index)

    def _validate_chunk(self, chunk: Chunk, staged: int, pool: ThreadPoolExecutor) -> None:
        """GX validates the chunk's batch table while a thread judges the same rows with the
        compiled rules and writes the split, in a transaction that commits only if both agree."""
        contract = chunk.contract
        rules = self._rules(contract.suite)
        run_id = RunIdentifier(run_name=chunk.run_name, run_time=datetime.now(UTC))
        splitting = pool.submit(
            self.engine.write_split,
            contract,
            rules,
            chunk.predicate,
            chunk.params,
            run_label(run_id),
            chunk.load_id if chunk.number == 1 else None,
        )
        written = None
        try:
            try:
                result = self.checkpoints.run(contract.suite, run_id, self.engine.gx_batch(contract.suite))
            finally:
                with self.report.timed("split_wait"):
                    written = splitting.result()
            cross_check(contract.table, rules, written.counted, result)
            with self.report.timed("commit"):
                written.commit()
        finally:
            if written is not None:
                written.close()  # without the commit above, closing rolls the split back
        outcome = self.report.tables.setdefault(contract.table, TableOutcome())
        outcome.rows += staged
        outcome.valid += staged - written.quarantined
        outcome.quarantined += written.quarantined
        outcome.reasons.update(written.counted)
        if chunk.number == chunk.of:
            self._record_validated_load(chunk, run_label(run_id))

    def _rules(self, suite: str) -> list:
        """The suite's entries compiled to the engine's SQL (and its prepared rows), once per run.

        The typed columns come from the suite as gx/suites.py defines it: silver keeps every one
        the models need even when the GX context holds an older suite without some rule."""
        if suite not in self.rules:
            expectations = self.checkpoints.suite(suite).expectations
            contract = next(c for c in CONTRACTS if c.suite == suite)
            self.prepared[suite] = self.engine.prepared_sql(contract, SUITES[suite]())
            self.rules[suite] = self.engine.compile_rules(expectations, self.checkpoints.parameters)
        return self.rules[suite]

    def _record_validated_load(self, chunk: Chunk, label: str) -> None:
        table = chunk.contract.table
        fingerprint = suite_fingerprint(self.settings.gx_dir, chunk.contract.suite)
        before, after = self.engine.record_validated_load(
            table, chunk.load_id, fingerprint, label, chunk.load_rows
        )
        if before is not None:
            moves = self.report.revalidation.setdefault(table, Counter(rows=0, to_quarantine=0, to_silver=0))
            moves["rows"] += chunk.load_rows
            moves["to_quarantine"] += max(after - before, 0)
            moves["to_silver"] += max(before - after, 0)


def _utc_iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
