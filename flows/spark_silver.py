"""Silver's Parquet copy that a Spark build reads (`<spark home>/silver/<table>/`), kept in step
with the warehouse file's silver tables by the contract's ledger (--engine spark).

Each validated load is one file, named after the load and the checkpoint run that last validated
it, so a run writes only the loads it validated, and a load validated again (a new suite, a
replay) replaces its file. Once a table has COMPACT_AT such files they are merged into one:
hourly runs would otherwise leave Spark thousands of small files a year to list and open. The
merged files and the loads each holds are listed in MANIFEST (Spark reads no file whose name
starts with `_` or `.`); a merged file holding a load validated again is dropped, and its other
loads are written one by one again until the next merge.

Every file holds the rows the ledger counted valid, and no silver row may lie outside the ledger's
loads: otherwise the publish stops (RuntimeError) before Spark reads anything. Files are written
under hidden names and renamed into place; runs on one warehouse never overlap (its lock), and a
publish stopped midway is finished by the next run's, which removes every file not listed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

from flows.exports import sql_path, write_atomically
from pipelines.settings import Settings

COMPACT_AT = 24  # a day of hourly loads
MANIFEST = "_compacted.json"
NO_LOAD = "none.parquet"  # a table without loads: a file of no rows holds its columns


def publish_silver(settings: Settings) -> dict[str, int]:
    """Bring silver's Parquet copy up to date; the rows of the loads written, by table."""
    root = settings.spark_home / "silver"
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'silver' ORDER BY 1"
        ).fetchall()
        return {table: _publish_table(con, table, root / table) for (table,) in tables}


def _publish_table(con: duckdb.DuckDBPyConnection, table: str, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    _check_ledgered(con, table)
    versions = con.execute(
        "SELECT load_id, checkpoint_run_id, valid FROM contract.validated_loads WHERE table_name = ?",
        [table],
    ).fetchall()
    wanted = {_load_file(load_id, run): (load_id, valid) for load_id, run, valid in versions}
    wanted = wanted or {NO_LOAD: (None, 0)}
    merged = {
        name: members
        for name, members in _merged_files(folder).items()
        if set(members) <= wanted.keys() and (folder / name).exists()
    }
    in_merged = {member for members in merged.values() for member in members}
    singles = sorted(name for name in wanted if name not in in_merged)
    written = sum(
        _write(con, table, folder / name, [wanted[name]]) for name in singles if not (folder / name).exists()
    )
    _keep_only(folder, merged, singles)
    if len(singles) >= COMPACT_AT:
        name = f"compacted-{hashlib.sha256(' '.join(singles).encode()).hexdigest()[:12]}.parquet"
        _write(con, table, folder / name, [wanted[single] for single in singles])
        _keep_only(folder, merged | {name: singles}, [])
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


def _keep_only(folder: Path, merged: dict[str, list[str]], singles: list[str]) -> None:
    """List `merged` in the manifest, then remove every file but those and the `singles`."""
    text = json.dumps(merged, indent=1, sort_keys=True)
    write_atomically(folder / MANIFEST, lambda path: path.write_text(text))
    for path in folder.iterdir():
        if path.name not in {MANIFEST, *merged, *singles}:
            path.unlink()


def _merged_files(folder: Path) -> dict[str, list[str]]:
    """The manifest: each merged file with the single-load files it replaced."""
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):  # none yet, or unreadable: the loads are written singly again
        return {}


def _check_ledgered(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Stop before publishing silver rows of a load the contract's ledger does not name: Spark
    would never see them."""
    (rows,) = con.execute(
        f"SELECT count(*) FROM silver.{table} WHERE _dlt_load_id NOT IN "
        "(SELECT load_id FROM contract.validated_loads WHERE table_name = ?)",
        [table],
    ).fetchone()
    if rows:
        raise RuntimeError(f"silver.{table} has rows in loads the contract's ledger does not name: {rows:,}")


def _load_file(load_id: str, checkpoint_run: str) -> str:
    """The Parquet file of a load's silver rows as one checkpoint run left them."""
    return f"{load_id}-{hashlib.sha256(checkpoint_run.encode()).hexdigest()[:12]}.parquet"
