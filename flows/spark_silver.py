"""Silver's Parquet copy that a Spark build reads (`<spark home>/silver/<table>/`), kept in step
with the warehouse file's silver tables by the contract's ledger (--engine spark).

A table's validated loads are taken in load order, COMPACT_AT to a file, `<first load>-<last
load>-<digest>.parquet`: hourly runs would otherwise leave Spark thousands of small files a year
to list and open. The loads of the group still filling have a file each,
`<load>-<digest>.parquet`, until it is full. The digest names what a file holds: the checkpoint
runs that last validated its loads and silver's columns. So a run writes only the files whose
loads it validated, and a load validated again (a new suite, a replay) or a change of silver's
columns writes its file anew; every other file stays.

A file is written only if it holds the rows the ledger counted valid, and no silver row may lie
outside the ledger's loads: otherwise the publish stops (RuntimeError) before Spark reads
anything. Files are written under hidden names (Spark reads no file whose name starts with `.`)
and renamed into place; runs on one warehouse never overlap (its lock), and a publish stopped
midway is finished by the next run's, which removes every file not wanted.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb

from flows.exports import sql_path
from pipelines.settings import Settings

COMPACT_AT = 24  # a day of hourly loads


def publish_silver(settings: Settings) -> dict[str, int]:
    """Bring silver's Parquet copy up to date; the rows written, by table."""
    root = settings.spark_home / "silver"
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'silver' ORDER BY 1"
        ).fetchall()
        return {table: _publish_table(con, table, root / table) for (table,) in tables}


def _publish_table(con: duckdb.DuckDBPyConnection, table: str, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    _check_ledgered(con, table)
    columns = con.execute(
        "SELECT list(column_name || ' ' || data_type ORDER BY column_index) FROM duckdb_columns() "
        "WHERE schema_name = 'silver' AND table_name = ?",
        [table],
    ).fetchone()[0]
    versions = con.execute(
        "SELECT load_id, checkpoint_run_id, valid FROM contract.validated_loads "
        "WHERE table_name = ? ORDER BY load_id",
        [table],
    ).fetchall()
    loads = [(f"{load_id}-{_digest(run, *columns)}", load_id, valid) for load_id, run, valid in versions]
    loads = loads or [(f"none-{_digest(*columns)}", None, 0)]  # no load: no rows, the columns
    files = {}
    for start in range(0, len(loads), COMPACT_AT):
        group = loads[start : start + COMPACT_AT]
        if len(group) == COMPACT_AT:
            first, last = group[0][1], group[-1][1]
            files[f"{first}-{last}-{_digest(*(name for name, _, _ in group))}.parquet"] = group
        else:
            files |= {f"{load[0]}.parquet": [load] for load in group}
    written = sum(
        _write(con, table, folder / name, [(load_id, valid) for _, load_id, valid in members])
        for name, members in files.items()
        if not (folder / name).exists()
    )
    for path in folder.iterdir():
        if path.name not in files:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return written


def _write(con: duckdb.DuckDBPyConnection, table: str, path: Path, loads: list[tuple]) -> int:
    """The silver rows of `loads` ((load id, valid rows) each) as one Parquet file at `path`."""
    hidden = path.with_name(f".{path.name}")
    rows = con.execute(
        f"COPY (SELECT * FROM silver.{table} WHERE _dlt_load_id IN (SELECT unnest(?::VARCHAR[]))) "
        f"TO '{sql_path(hidden)}' (FORMAT parquet)",
        [[load_id for load_id, _ in loads]],
    ).fetchone()[0]
    valid = sum(valid for _, valid in loads)
    if rows != valid:
        hidden.unlink()
        raise RuntimeError(
            f"silver.{table}: {path.name} would hold {rows:,} of its rows, "
            f"the contract's ledger counts {valid:,}"
        )
    hidden.rename(path)
    return rows


def _check_ledgered(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Stop before publishing silver rows of a load the contract's ledger does not name: Spark
    would never see them."""
    (rows,) = con.execute(
        f"SELECT count(*) FROM silver.{table} AS s ANTI JOIN contract.validated_loads AS l "
        "ON l.table_name = ? AND s._dlt_load_id = l.load_id",
        [table],
    ).fetchone()
    if rows:
        raise RuntimeError(f"silver.{table} has rows in loads the contract's ledger does not name: {rows:,}")


def _digest(*parts: str) -> str:
    """A short name for what a file holds."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
