"""The dlt source: new event files (as Parquet parts) and reference CSVs (as Arrow tables) into bronze.

Tables written (dataset `bronze`):
- `events`: one row per non-empty line of every event file, every field as text, plus
  `_source_file`, `_line_number`, `_raw_line` / `_parse_error` for lines that are not JSON objects.
- `users`, `episodes`: one row per CSV record of every version of a reference file (history,
  what the contract judges; the latest *valid* version of a key wins downstream, in dbt).
- `source_files`: one row per file version read: hash, lines read, empty lines, rows loaded.
Every row carries `_dlt_load_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dlt
import pyarrow as pa

from pipelines.files import (
    CSV_SUFFIXES,
    EVENT_SUFFIXES,
    LEDGER_TABLE,
    REFERENCE_COLUMNS,
    SOURCE_NAME,
    FileLedger,
    SourceFile,
    discover,
)
from pipelines.ndjson import EventFileReader, FileReadStats
from pipelines.progress import progress
from pipelines.reference import read_reference_csv

LEDGER_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("kind", pa.string()),
        ("sha256", pa.string()),
        ("size_bytes", pa.int64()),
        ("lines_read", pa.int64()),
        ("empty_lines", pa.int64()),
        ("rows_loaded", pa.int64()),
        ("parse_errors", pa.int64()),
        ("status", pa.string()),  # loaded | partial (read error midway) | unreadable (retried)
        ("error", pa.string()),
    ]
)
ReadFile = Callable[[SourceFile, FileReadStats], Iterator[object]]


def _ledger_row(file: SourceFile, kind: str, digest: str | None, stats: FileReadStats) -> pa.Table:
    status = "unreadable" if digest is None else "partial" if stats.read_error else "loaded"
    row = {
        "source_file": file.name,
        "kind": kind,
        "sha256": digest,
        "size_bytes": file.size,
        "lines_read": stats.lines_read,
        "empty_lines": stats.empty_lines,
        "rows_loaded": stats.rows,
        "parse_errors": stats.parse_errors,
        "status": status,
        "error": stats.read_error,
    }
    return dlt.mark.with_table_name(pa.Table.from_pylist([row], schema=LEDGER_SCHEMA), LEDGER_TABLE)


def _load_new_versions(
    data_dir: Path, subdir: str, suffixes: tuple[str, ...], read: ReadFile
) -> Iterator[pa.Table]:
    """Read each file version under data_dir/subdir that is not loaded yet, then its ledger row.

    A file is hashed on a thread while it is read. A file that cannot be hashed at all gets a
    ledger row with its error instead of its rows and stays unrecorded, so the next run tries it
    again.
    """
    ledger = FileLedger(dlt.current.source_state())
    with ThreadPoolExecutor(1, thread_name_prefix="file-hash") as hashing:
        for file in discover(data_dir, subdir, suffixes):
            stats = FileReadStats()
            try:
                digest = ledger.new_version(file, hashing)
            except OSError as error:
                yield _unreadable_row(file, subdir, error)
                continue
            if digest is None:
                continue
            items = list(read(file, stats))  # parts on disk or a small table: yielded once hashed
            try:
                sha256 = digest.result()
            except OSError as error:
                yield _unreadable_row(file, subdir, error)
                continue
            yield from items
            yield _ledger_row(file, subdir, sha256, stats)
            progress("ingest: read %s (%s lines)", file.name, f"{stats.lines_read:,}")
            ledger.record(file, sha256)


def _unreadable_row(file: SourceFile, kind: str, error: OSError) -> pa.Table:
    stats = FileReadStats(read_error=f"{type(error).__name__}: {error.strerror or error}")
    return _ledger_row(file, kind, None, stats)


@dlt.resource(name="events", write_disposition="append")
def events(data_dir: Path, scratch_dir: Path) -> Iterator[object]:
    """New event files under data_dir/events, parsed block by block into Parquet parts of text
    columns that dlt imports as they are (they already carry this load's `_dlt_load_id`)."""

    def read_events(file: SourceFile, stats: FileReadStats) -> Iterator[object]:
        for part in reader.read(file.path, file.name, stats):
            yield dlt.mark.with_file_import(
                str(part.path), "parquet", items_count=part.rows, hints=part.schema.empty_table()
            )

    scratch_dir.mkdir(parents=True, exist_ok=True)
    schema = dlt.current.source_schema()
    table_columns = list(schema.get_table_columns("events")) if "events" in schema.tables else []
    with EventFileReader(scratch_dir, dlt.current.load_package_state()["load_id"], table_columns) as reader:
        yield from _load_new_versions(data_dir, "events", EVENT_SUFFIXES, read_events)


def reference(table: str, data_dir: Path) -> dlt.sources.DltResource:
    """New versions of the reference CSVs under data_dir/<table>, appended as history."""

    def read_csv(file: SourceFile, stats: FileReadStats) -> Iterator[pa.Table]:
        rows = read_reference_csv(file.path, file.name, stats, REFERENCE_COLUMNS[table])
        if rows is not None and rows.num_rows:
            yield rows

    return dlt.resource(
        _load_new_versions(data_dir, table, CSV_SUFFIXES, read_csv), name=table, write_disposition="append"
    )


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def podcast_files(data_dir: Path, scratch_dir: Path) -> list:
    """Everything under a data directory that has not been loaded yet; `scratch_dir` holds the
    event Parquet parts until dlt has imported them into its load package."""
    return [events(data_dir, scratch_dir), *(reference(table, data_dir) for table in REFERENCE_COLUMNS)]
