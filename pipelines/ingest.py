"""Load new input files into bronze with dlt, and report what was loaded.

    python -m pipelines.ingest [--data-dir DIR] [--warehouse FILE]

Incremental and idempotent: a file version already loaded is skipped, a rerun with nothing new
loads nothing. A load interrupted after extraction is finished before new files are read.
Bronze is in the warehouse file or, with `bronze_url`, Parquet files at a URL (pipelines/bronze.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines import bronze
from pipelines.bronze import BRONZE
from pipelines.files import LEDGER_TABLE, nothing_new
from pipelines.settings import Settings, SettingsError

PIPELINE_NAME = "podcast_ingest"
LOAD_WORKERS = 2
# What a bronze row was read from: a file's line, or for the ledger a file version.
LINE_IDENTITY = ("_source_file", "_line_number")
ROW_IDENTITY = {LEDGER_TABLE: ("source_file", "sha256")}


@dataclass(frozen=True)
class IngestReport:
    """What one ingestion run loaded, read back from the warehouse."""

    load_ids: tuple[str, ...]
    files: tuple[dict, ...]  # ledger rows of this run's loads
    # Schema drift: columns this run added to bronze tables that existed before it (a new field in
    # the events, a new CSV column), each with the file and line where it first has a value.
    new_columns: tuple[dict, ...] = ()

    @property
    def lines_read(self) -> int:
        return sum(file["lines_read"] for file in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(file["rows_loaded"] for file in self.files)

    def rows_of(self, kind: str) -> int:
        return sum(file["rows_loaded"] for file in self.files if file["kind"] == kind)


def _configure_dlt() -> None:
    import dlt

    # Offline machines: no telemetry. Arrow rows get the load id like dict rows do.
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    # Parallel INSERTs into one DuckDB table contend: 2 load jobs at a time beat dlt's 20
    # (README, "Measured figures").
    os.environ.setdefault("LOAD__WORKERS", str(LOAD_WORKERS))
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True


def make_pipeline(settings: Settings):
    """The dlt pipeline loading the settings' bronze (dlt is imported here, when needed)."""
    import dlt

    _configure_dlt()
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    working_dir = settings.dlt_pipelines_dir / PIPELINE_NAME
    if not settings.bronze_url and not settings.warehouse.exists() and working_dir.exists():
        # Bronze in the warehouse file: a new warehouse must not inherit a ledger of old loads. At a
        # URL the files stay, and the ledger with them (an unfinished load is finished, not dropped).
        shutil.rmtree(working_dir)
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=bronze.destination(settings),
        dataset_name=BRONZE,
        pipelines_dir=str(settings.dlt_pipelines_dir),
    )


def ingest(settings: Settings) -> IngestReport:
    """Load every new file version under `settings.data_dir` into bronze.

    When no file changed since the last load, dlt is not even imported."""
    if not settings.data_dir.is_dir():
        raise SettingsError(f"data directory not found: {settings.data_dir}")
    bronze.check_location(settings)
    working_dir = settings.dlt_pipelines_dir / PIPELINE_NAME
    if settings.warehouse.exists() and nothing_new(settings.data_dir, working_dir):
        bronze.register_views(settings)
        return IngestReport(load_ids=(), files=())
    from pipelines.sources import podcast_files

    before = _bronze_columns(settings.warehouse)
    pipeline = make_pipeline(settings)
    if pipeline.has_pending_data:  # a previous run died between extract and load
        resumed = [*pipeline.list_extracted_load_packages(), *pipeline.list_normalized_load_packages()]
        pipeline.normalize()  # in the file format its extraction chose
        pipeline.load()
        _drop_reloaded_rows(settings, resumed)
    try:
        info = pipeline.run(
            podcast_files(settings.data_dir, settings.ingest_scratch_dir),
            loader_file_format=bronze.loader_file_format(settings),
        )
    finally:
        shutil.rmtree(settings.ingest_scratch_dir, ignore_errors=True)
    bronze.register_views(settings)
    load_ids = tuple(info.loads_ids)
    return IngestReport(
        load_ids=load_ids,
        files=tuple(_ledger_rows(settings.warehouse, load_ids)),
        new_columns=tuple(_new_columns(settings.warehouse, before, load_ids)),
    )


def _drop_reloaded_rows(settings: Settings, load_ids: list[str]) -> None:
    """A resumed load's rows, each kept once. dlt runs a load job again when the run that loaded it
    died after the job's rows were committed and before dlt recorded it as done: an append loads
    them twice. A bronze row is identified by what it was read from (ROW_IDENTITY), unique within
    a load. At a URL a job writes the same file again, so nothing is repeated."""
    if settings.bronze_url or not load_ids:
        return
    with duckdb.connect(str(settings.warehouse)) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
            "AND table_type = 'BASE TABLE' AND NOT starts_with(table_name, '_dlt')",
            [BRONZE],
        ).fetchall()
        for (table,) in tables:
            identity = ", ".join(ROW_IDENTITY.get(table, LINE_IDENTITY))
            con.execute(
                f'DELETE FROM {BRONZE}."{table}" WHERE _dlt_load_id IN $loads AND rowid NOT IN '
                f'(SELECT min(rowid) FROM {BRONZE}."{table}" WHERE _dlt_load_id IN $loads '
                f"GROUP BY _dlt_load_id, {identity})",
                {"loads": load_ids},
            )


def _bronze_columns(warehouse: Path) -> dict[str, set[str]]:
    """The columns of each bronze table, by table."""
    if not warehouse.exists():
        return {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ?", [BRONZE]
        ).fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    return columns


def _new_columns(warehouse: Path, before: dict[str, set[str]], load_ids: tuple[str, ...]) -> list[dict]:
    """Data columns added to tables that existed `before`, with where each first has a value."""
    drift = []
    after = _bronze_columns(warehouse)
    if not set(before) & set(after):
        return drift
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in sorted(set(before) & set(after)):
            for column in sorted(after[table] - before[table]):
                if column.startswith("_"):  # dlt's and the reader's own columns
                    continue
                first = con.execute(
                    f'SELECT _source_file, _line_number FROM {BRONZE}."{table}" '
                    f'WHERE "{column}" IS NOT NULL AND _dlt_load_id IN ? ORDER BY 1, 2 LIMIT 1',
                    [list(load_ids)],
                ).fetchone()
                drift.append(
                    {
                        "table": f"{BRONZE}.{table}",
                        "column": column,
                        "source_file": first[0] if first else None,
                        "line": first[1] if first else None,
                    }
                )
    return drift


def _ledger_rows(warehouse: Path, load_ids: tuple[str, ...]) -> list[dict]:
    if not load_ids:
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(
            f"SELECT * FROM {BRONZE}.{LEDGER_TABLE} WHERE _dlt_load_id IN ? ORDER BY source_file",
            [list(load_ids)],
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="input directory (events/, users/, episodes/)")
    parser.add_argument("--warehouse", type=Path, help="DuckDB file to load into")
    args = parser.parse_args(argv)
    try:
        report = ingest(Settings.from_env(data_dir=args.data_dir, warehouse=args.warehouse))
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"loaded {report.rows_loaded:,} rows from {len(report.files)} files "
        f"({report.lines_read:,} lines read) in {len(report.load_ids)} load(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
