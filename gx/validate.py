"""Run the contract's checkpoints on bronze loads and split every row into silver or quarantine.

For each table (users, episodes, events), the rows of loads not yet validated under the current
suite are prepared (gx/frames.py) into the in-memory batch database, validated there by the
table's GX checkpoint, which runs its expectations as DuckDB SQL (gx/duckdb_source.py), and split:
rows that pass go to `silver.<table>`, rows that fail to `quarantine.<table>` with every rule they
broke and the checkpoint run id. Per load: bronze rows = silver rows + quarantined rows.

- A suite whose fingerprint changed re-validates all loads of its table.
- `replay=True` re-validates the loads that have quarantined rows (after a contract fix).
- A load is validated in chunks of at most CHUNK_ROWS rows (whole files, or line ranges of a big
  file); each chunk is replaced in one transaction, so a rerun never duplicates a row.
- Reference rows failing their suite make the run untrustworthy: ContractViolation is raised,
  after everything is recorded, for as long as the latest version of the file still fails.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from pathlib import Path

import duckdb
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

from gx.build import DATASOURCE, DOCS_SITE, checkpoint_name, open_context
from gx.data_docs import finish_data_docs
from gx.frames import BATCH_DATABASE, CONTRACTS, KEYS, REFERENCE_COVERAGE_SQL, TableContract
from gx.ledger import (
    LEDGER_DDL,
    has_table,
    loads_to_validate,
    raise_if_reference_untrustworthy,
    suite_fingerprint,
)
from gx.report import ContractEngineMismatch, ContractReport, TableOutcome
from gx.sql_rules import compile_expectation
from pipelines.progress import progress
from pipelines.settings import parse_memory_limit

# Each chunk pays GX's fixed cost (about 1 s); its batch table lives in DuckDB, which spills beyond
# the memory limit. One 10M-event load (standalone): chunks of 1M rows took 27.1 s and peaked at
# 1.1 GB of RSS, 4M rows 18.4 s and 1.35 GB, 5M rows 19.7 s and 1.35 GB.
CHUNK_ROWS = 4_000_000
DOCS_INDEX = Path("uncommitted") / "data_docs" / "local_site" / "index.html"
STAGED = "__staged_"  # the batch tables chunks are staged into, numbered in run order


@dataclass(frozen=True)
class Chunk:
    """Rows of one load that one checkpoint run validates: a predicate on bronze and its parameters."""

    contract: TableContract
    load_id: str
    load_rows: int
    predicate: str
    params: list
    number: int
    of: int
    rows: int  # about: a file cut into line ranges is cut evenly

    @property
    def run_name(self) -> str:
        part = f"-part-{self.number}-of-{self.of}" if self.of > 1 else ""
        return f"{self.contract.table}-load-{self.load_id}{part}"


class ContractRunner:
    """Validates and splits the warehouse's pending loads with one GX context."""

    def __init__(self, warehouse: Path, gx_dir: Path, reference_time: datetime, memory_limit: str) -> None:
        self.con = duckdb.connect(str(warehouse))
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(f"SET memory_limit = '{parse_memory_limit(memory_limit)}'")
        self.con.execute(LEDGER_DDL)
        self.con.execute(f"ATTACH ':memory:' AS {BATCH_DATABASE}")
        self.context = open_context(gx_dir)
        # GX runs on a connection of its own to the same DuckDB instance, so it validates a batch
        # while the split, on another, writes it.
        gx_connection = self.con.cursor()
        gx_connection.execute(f"SET TimeZone = 'UTC'; USE {BATCH_DATABASE}")
        self.context.data_sources.get(DATASOURCE).bind(gx_connection)
        self.gx_dir = gx_dir
        self.parameters = {"reference_time": _utc_iso(reference_time)}
        self.report = ContractReport()
        self.results: list = []  # checkpoint results of this run, for the data docs
        self.compiled: dict[str, tuple] = {}  # suite name -> (suite, compiled rules)

    def close(self) -> None:
        self.context.data_sources.get(DATASOURCE).unbind()
        self.con.close()

    # ------------------------------------------------------------------ the run
    def run(self, replay: bool = False) -> ContractReport:
        try:
            return self._run(replay)
        finally:
            self._build_data_docs()  # also when reference data fails: that is what to review

    def _run(self, replay: bool) -> ContractReport:
        chunks: list[Chunk] = []
        for contract in CONTRACTS:
            for load_id in self._loads_to_validate(contract, replay):
                chunks += self._chunks(contract, load_id)
        self._validate_chunks(chunks)
        validated_events = any(chunk.contract.table == "events" for chunk in chunks)
        reference_changed = any(self.report.tables.get(t, TableOutcome()).rows for t in ("users", "episodes"))
        if has_table(self.con, "silver.events") and (validated_events or reference_changed):
            self._check_reference_coverage()
        if self.report.tables:
            self._check_load_quality()
            self.report.data_docs = self.gx_dir / DOCS_INDEX
        raise_if_reference_untrustworthy(self.con)
        return self.report

    def _loads_to_validate(self, contract: TableContract, replay: bool) -> list[str]:
        fingerprint = suite_fingerprint(self.gx_dir, contract.suite)
        stale = self.con.execute(
            "SELECT count(*) FROM contract.validated_loads WHERE table_name = ? AND suite_fingerprint <> ?",
            [contract.table, fingerprint],
        ).fetchone()[0]
        if stale:
            self.report.revalidated.append(contract.table)
        return loads_to_validate(self.con, contract.table, fingerprint, replay)

    # ------------------------------------------------------------------ chunks
    def _chunks(self, contract: TableContract, load_id: str) -> list[Chunk]:
        files = self.con.execute(
            f"SELECT _source_file, count(*), min(_line_number), max(_line_number) "
            f"FROM bronze.{contract.table} WHERE _dlt_load_id = ? GROUP BY 1 ORDER BY 1",
            [load_id],
        ).fetchall()
        rows = sum(count for _file, count, _first, _last in files)
        planned = plan_chunks(load_id, files, CHUNK_ROWS)
        return [
            Chunk(contract, load_id, rows, predicate, params, number, len(planned), rows // len(planned))
            for number, (predicate, params) in enumerate(planned, 1)
        ]

    def _validate_chunks(self, chunks: list[Chunk]) -> None:
        """Validate and split the chunks in turn, staging the next ones while GX validates.

        Staging is DuckDB work and GX mostly Python, so on two cores they overlap: at 1M events,
        the events batch is staged while the users and episodes checkpoints run. At most about
        CHUNK_ROWS rows are staged ahead, beside the batch being validated."""
        with ThreadPoolExecutor(1) as staging_pool, ThreadPoolExecutor(1) as split_pool:
            staged: list[Future] = []
            try:
                for index, chunk in enumerate(chunks):
                    stage_ahead(chunks, index, staged, partial(staging_pool.submit, self._stage_chunk))
                    with self.report.timed("stage"):
                        rows = staged[index].result()
                    suite = chunk.contract.suite
                    self.con.execute(
                        f"DROP TABLE IF EXISTS {_batch(suite)}; "
                        f"ALTER TABLE {_batch(suite, f'{STAGED}{index}')} RENAME TO {suite}"
                    )
                    progress(
                        "validate: %s, chunk %s of %s (%s rows)",
                        chunk.run_name,
                        index + 1,
                        len(chunks),
                        f"{rows:,}",
                    )
                    self._validate_chunk(chunk, rows, split_pool)
            finally:
                for future in staged:
                    future.cancel()  # on failure, what is not staged yet is not needed

    def _stage_chunk(self, chunk: Chunk, index: int) -> int:
        """The chunk's prepared rows into a staged batch table of its suite, on a cursor of its own."""
        suite = chunk.contract.suite
        with self.report.timed(None, suite, self.report.staging_seconds), self.con.cursor() as cursor:
            cursor.execute("SET TimeZone = 'UTC'")
            return _stage(
                cursor,
                _batch(suite, f"{STAGED}{index}"),
                f"{chunk.contract.prepared_sql} WHERE {chunk.predicate}",
                chunk.params,
            )

    def _validate_chunk(self, chunk: Chunk, staged: int, pool: ThreadPoolExecutor) -> None:
        """GX validates the chunk's batch table while a thread judges the same rows with the
        compiled rules and writes the split (DuckDB releases the GIL), in a transaction that
        commits only if both agree."""
        contract = chunk.contract
        suite, rules = self._suite_rules(contract.suite)
        run_id = RunIdentifier(run_name=chunk.run_name, run_time=datetime.now(UTC))
        split = self.con.cursor()
        try:
            split.execute("SET TimeZone = 'UTC'")
            splitting = pool.submit(
                _split, split, contract, rules, chunk.predicate, chunk.params, _run_label(run_id)
            )
            try:
                result = self._run_checkpoint(contract.suite, run_id)
            finally:
                with self.report.timed("split_wait"):
                    counted, quarantined = splitting.result()
            expected = _unexpected_counts(result)
            mismatched = {r.rule for r in rules if counted.get(r.rule, 0) != expected.get(r.rule, 0)}
            if mismatched:
                raise ContractEngineMismatch(
                    f"{contract.table}: split and GX disagree on {sorted(mismatched)}: "
                    f"split {dict(counted)} vs GX {expected}"
                )
            with self.report.timed("commit"):
                split.execute("COMMIT")
        finally:
            split.close()  # without the COMMIT above, closing rolls the split back
        outcome = self.report.tables.setdefault(contract.table, TableOutcome())
        outcome.rows += staged
        outcome.valid += staged - quarantined
        outcome.quarantined += quarantined
        outcome.reasons.update(counted)
        if chunk.number == chunk.of:
            self._record_validated_load(chunk, suite, _run_label(run_id))

    def _suite_rules(self, name: str) -> tuple:
        """The suite and its expectations compiled for the split, once per run."""
        if name not in self.compiled:
            suite = self.context.suites.get(name)
            self.compiled[name] = suite, [compile_expectation(e, self.parameters) for e in suite.expectations]
        return self.compiled[name]

    def _record_validated_load(self, chunk: Chunk, suite, run_label: str) -> None:
        table = chunk.contract.table
        before = self.con.execute(
            "SELECT quarantined FROM contract.validated_loads WHERE table_name = ? AND load_id = ?",
            [table, chunk.load_id],
        ).fetchone()
        self.con.execute(
            "INSERT OR REPLACE INTO contract.validated_loads "
            "SELECT ?, ?, ?, ?, now(), ?, "
            f"(SELECT count(*) FROM silver.{table} WHERE _dlt_load_id = ?), "
            f"(SELECT count(*) FROM quarantine.{table} WHERE _dlt_load_id = ?)",
            [table, chunk.load_id, suite_fingerprint(self.gx_dir, suite.name), run_label, chunk.load_rows]
            + [chunk.load_id] * 2,
        )
        if before is not None:
            (after,) = self.con.execute(
                "SELECT quarantined FROM contract.validated_loads WHERE table_name = ? AND load_id = ?",
                [table, chunk.load_id],
            ).fetchone()
            moves = self.report.revalidation.setdefault(table, Counter(rows=0, to_quarantine=0, to_silver=0))
            moves["rows"] += chunk.load_rows
            moves["to_quarantine"] += max(after - before[0], 0)
            moves["to_silver"] += max(before[0] - after, 0)

    # ------------------------------------------------------------------ warnings
    def _check_reference_coverage(self) -> None:
        _stage(self.con, _batch("reference_coverage"), REFERENCE_COVERAGE_SQL)
        self._warn_on(self._run_checkpoint("reference_coverage", RunIdentifier("reference-coverage")))

    def _check_load_quality(self) -> None:
        rows = _stage(
            self.con,
            _batch("load_quality"),
            "SELECT load_id, rows, quarantined, quarantined / greatest(rows, 1) AS quarantined_share "
            "FROM contract.validated_loads WHERE table_name = 'events' AND checkpoint_run_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [self.report.run_ids],
        )
        if rows:
            self._warn_on(self._run_checkpoint("load_quality", RunIdentifier("load-quality")))

    def _run_checkpoint(self, suite: str, run_id: RunIdentifier):
        """Validate the batch table `suite` with the suite's checkpoint."""
        with self.report.timed("gx_validate", suite, self.report.checkpoint_seconds):
            result = self.context.checkpoints.get(checkpoint_name(suite)).run(
                expectation_parameters=self.parameters, run_id=run_id
            )
        self.report.run_ids.append(_run_label(result.run_id))
        self.results.append(result)
        return result

    def _build_data_docs(self) -> None:
        """Render this run's validation results and their suites into the data docs, once.

        The checkpoints carry no UpdateDataDocsAction: each build recompiles GX's templates and
        re-renders the index (0.6 s), so one build per run replaces one per checkpoint."""
        identifiers: list = []
        for result in self.results:
            for identifier, validation in result.run_results.items():
                identifiers += [identifier, ExpectationSuiteIdentifier(name=validation.suite_name)]
        if identifiers:
            with self.report.timed("data_docs"):
                self.context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=identifiers)
                finish_data_docs(self.context)

    def _warn_on(self, result) -> None:
        for validation in result.run_results.values():
            for outcome in validation.results:
                if not outcome.success:
                    share = outcome.result.get("unexpected_percent")
                    rule = outcome.expectation_config.meta["rule"]
                    self.report.warnings.append(
                        f"{rule}: {share:.2f} % of rows" if share is not None else f"{rule}: failed"
                    )


def _batch(suite: str, suffix: str = "") -> str:
    """The batch table of a suite: the rows under validation, which the suite's GX asset reads.
    With STAGED and a number, a table a later batch is staged into before it takes that place."""
    return f"{BATCH_DATABASE}.{suite}{suffix}"


def _stage(con, table: str, select_sql: str, params: list | tuple = ()) -> int:
    """Replace `table` with the rows of `select_sql`; how many there are."""
    return con.execute(f"CREATE OR REPLACE TABLE {table} AS {select_sql}", params).fetchone()[0]


def _split(con, contract: TableContract, rules: list, chunk: str, chunk_params: list, run_id: str):
    """Judge the batch with the compiled rules and replace the chunk's rows in silver and
    quarantine, in a transaction left open for the caller to commit.

    Returns the rows failing each rule and the rows quarantined."""
    silver, quarantine, batch = (
        f"silver.{contract.table}",
        f"quarantine.{contract.table}",
        _batch(contract.suite),
    )
    reasons = ", ".join(f"CASE WHEN {rule.sql} THEN '{rule.rule}' END" for rule in rules)
    raw = ", ".join(f'"{c}"' for c in contract.raw_columns)
    rejected = (
        f"SELECT {', '.join(KEYS)}, {raw}, failed_rules "
        f"FROM {batch} JOIN failed ON {batch}.rowid = failed.batch_row"
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE failed AS
            SELECT batch_row, failed_rules FROM (
                SELECT rowid AS batch_row, list_filter([{reasons}], lambda r: r IS NOT NULL) AS failed_rules
                FROM {batch}
            ) WHERE len(failed_rules) > 0
            """,
            [p for rule in rules for p in rule.params],
        )
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {silver} AS SELECT {contract.silver_columns} FROM {batch} LIMIT 0"
        )
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {quarantine} AS SELECT *, "
            f"CAST(NULL AS VARCHAR) AS checkpoint_run_id, now() AS quarantined_at FROM ({rejected}) LIMIT 0"
        )
        for table in (silver, quarantine):
            con.execute(f"DELETE FROM {table} WHERE {chunk}", chunk_params)
        con.execute(
            f"INSERT INTO {silver} SELECT {contract.silver_columns} FROM {batch} "
            "WHERE rowid NOT IN (SELECT batch_row FROM failed)"
        )
        con.execute(f"INSERT INTO {quarantine} SELECT *, ?, now() FROM ({rejected})", [run_id])
        failures = con.execute(
            "SELECT r, count(*) FROM (SELECT unnest(failed_rules) r FROM failed) GROUP BY r"
        )
        counted = Counter(dict(failures.fetchall()))
        quarantined = con.execute("SELECT count(*) FROM failed").fetchone()[0]
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return counted, quarantined


def stage_ahead(
    chunks: list[Chunk], index: int, staged: list[Future], submit: Callable[[Chunk, int], Future]
) -> None:
    """Queue the staging of chunk `index` if it is not queued yet (`staged` holds the queued
    ones, in order), then of the chunks after it for as long as those hold at most CHUNK_ROWS
    rows together."""
    ahead = sum(chunk.rows for chunk in chunks[index + 1 : len(staged)])
    while len(staged) < len(chunks):
        following = len(staged)
        if following > index:
            ahead += chunks[following].rows
            if ahead > CHUNK_ROWS:
                return
        staged.append(submit(chunks[following], following))


def plan_chunks(load_id: str, files: list[tuple], max_rows: int) -> list[tuple[str, list]]:
    """Split a load into chunks of at most about `max_rows` rows: (SQL predicate, parameters).

    `files` holds (source file, rows, first line, last line) per file of the load. Small files
    are packed whole; a larger file is cut into line ranges. Chunks follow the way bronze,
    silver and quarantine are stored (by file, then line), so DuckDB reads only a chunk's row
    groups instead of the whole load for each chunk."""
    if sum(count for _file, count, _first, _last in files) <= max_rows:
        return [("_dlt_load_id = ?", [load_id])]
    chunks: list[tuple[str, list]] = []
    packed: list[str] = []
    packed_rows = 0

    def flush() -> None:
        nonlocal packed, packed_rows
        if packed:
            marks = ", ".join("?" * len(packed))
            chunks.append((f"_dlt_load_id = ? AND _source_file IN ({marks})", [load_id, *packed]))
        packed, packed_rows = [], 0

    for name, count, first, last in files:
        if count > max_rows:
            flush()
            parts = math.ceil(count / max_rows)
            bounds = [first + (last - first + 1) * i // parts for i in range(parts + 1)]
            chunks += [
                (
                    "_dlt_load_id = ? AND _source_file = ? AND _line_number >= ? AND _line_number < ?",
                    [load_id, name, start, end],
                )
                for start, end in pairwise(bounds)
            ]
            continue
        if packed_rows + count > max_rows:
            flush()
        packed.append(name)
        packed_rows += count
    flush()
    return chunks


def _run_label(run_id: RunIdentifier) -> str:
    """The checkpoint run as stored on quarantined rows: its name and UTC start time."""
    return f"{run_id.run_name} @ {run_id.run_time.astimezone(UTC).isoformat(timespec='seconds')}"


def _unexpected_counts(result) -> dict[str, int]:
    counts = {}
    for validation in result.run_results.values():
        for outcome in validation.results:
            rule = outcome.expectation_config.meta["rule"]
            if outcome.exception_info and outcome.exception_info.get("raised_exception"):
                raise ContractEngineMismatch(f"GX could not evaluate {rule}: {outcome.exception_info}")
            counts[rule] = outcome.result.get("unexpected_count") or 0
    return counts


def _utc_iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def validate(
    warehouse: Path, gx_dir: Path, reference_time: datetime, replay: bool = False, memory_limit: str = "1GB"
) -> ContractReport:
    """Validate and split every pending load of the warehouse; see the module docstring."""
    runner = ContractRunner(warehouse, gx_dir, reference_time, memory_limit)
    try:
        return runner.run(replay=replay)
    finally:
        runner.close()
