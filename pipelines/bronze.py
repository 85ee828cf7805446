"""Where bronze lives: in the warehouse file, or as Parquet files at a URL the warehouse reads.

With `bronze_url` empty (the default), dlt's duckdb destination loads bronze into the warehouse
file. With a URL (`file://...`; `s3://`, `gs://`, `az://` with dlt's filesystem credentials and
DuckDB's httpfs extension), dlt's filesystem destination lands every load as Parquet files,
`<url>/bronze/<table>/<load id>.<file id>.parquet`, and its record of loads as JSON lines under
`<url>/bronze/_dlt_loads/`. The warehouse then holds one view per table over those files, so the
contract, the summary and the file ledger read `bronze.<table>` the same way from either place,
and Spark or any other engine can read the same files.

A warehouse keeps bronze where its first load put it: a run whose setting says otherwise stops
with one line (moving bronze is not supported). A new warehouse on a URL that already holds
bronze takes it over as it is: dlt restores its file ledger from there, and every load is
validated again into the new warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.settings import Settings, SettingsError

BRONZE = "bronze"
LOADS_TABLE = "_dlt_loads"
# The one-row record of the URL a warehouse's bronze views read.
LOCATION_RECORD = "pipeline_state.bronze_location"
LOAD_MEMORY_LIMIT = "512MB"  # loading into the warehouse file streams files: a 100 MB line still loads
# dlt's record of each load (a JSON object per line), typed as its duckdb destination types it.
LOADS_COLUMNS = (
    "{'load_id': 'VARCHAR', 'schema_name': 'VARCHAR', 'status': 'BIGINT', "
    "'inserted_at': 'TIMESTAMPTZ', 'schema_version_hash': 'VARCHAR'}"
)


def destination(settings: Settings):
    """dlt's destination for the settings' bronze (dlt is imported here, when needed)."""
    import dlt

    if settings.bronze_url:
        return dlt.destinations.filesystem(bucket_url=settings.bronze_url)
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    credentials = DuckDbCredentials(str(settings.warehouse))
    credentials.global_config = {"memory_limit": LOAD_MEMORY_LIMIT}
    return dlt.destinations.duckdb(credentials)


def loader_file_format(settings: Settings) -> str | None:
    """The file format dlt loads in: Parquet at a URL; the destination's own in the warehouse."""
    return "parquet" if settings.bronze_url else None


def stored_location(warehouse: Path) -> str | None:
    """Where an existing warehouse keeps bronze: "" in its file, a URL, or None (no bronze yet)."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kind = con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [BRONZE, LOADS_TABLE],
        ).fetchone()
        if kind is None:
            return None
        if kind[0] != "VIEW":
            return ""
        return con.execute(f"SELECT url FROM {LOCATION_RECORD}").fetchone()[0]


def check_location(settings: Settings) -> None:
    """SettingsError, one line, when the warehouse keeps bronze somewhere other than the setting."""
    stored = stored_location(settings.warehouse)
    if stored is None or stored == settings.bronze_url:
        return
    where = f"at {stored}" if stored else "in its own file"
    wanted = f"PODCAST_BRONZE_URL={stored}" if stored else "no PODCAST_BRONZE_URL"
    raise SettingsError(
        f"the warehouse {settings.warehouse} keeps bronze {where}: run it with {wanted} "
        "(moving bronze is not supported; a new warehouse can use another place)"
    )


@dataclass(frozen=True)
class BronzeListing:
    """What bronze at a URL holds: dlt's record of loads, a file per load (newest last), and the
    tables with Parquet files, each a folder."""

    filesystem: object  # fsspec's, for the URL
    loads: list[str]
    tables: list[str]


def list_bronze(bronze_url: str) -> BronzeListing:
    """List bronze at `bronze_url` (fsspec is imported here, when needed)."""
    import fsspec

    filesystem, root = fsspec.core.url_to_fs(f"{bronze_url}/{BRONZE}")
    loads = sorted(filesystem.glob(f"{root}/{LOADS_TABLE}/*.jsonl"))
    tables = [
        Path(folder).name
        for folder in sorted(filesystem.ls(root, detail=False))
        if not Path(folder).name.startswith("_") and filesystem.glob(f"{folder}/*.parquet")
    ]
    return BronzeListing(filesystem, loads, tables)


def register_views(settings: Settings) -> list[str]:
    """At a URL: (re)create the warehouse's view of each bronze table that has files there, and of
    dlt's record of loads, when loads landed since the views were made; the views created. Runs
    after every load and in runs with nothing new, so a run stopped between the two is caught up
    by the next. In the warehouse file: nothing to do."""
    if not settings.bronze_url:
        return []
    url = f"{settings.bronze_url}/{BRONZE}"  # no quote in it (parse_url)
    listing = list_bronze(settings.bronze_url)
    newest = Path(listing.loads[-1]).name if listing.loads else None
    if newest is None or _registered(settings.warehouse) == (settings.bronze_url, newest):
        return []
    views = {LOADS_TABLE: f"read_json('{url}/{LOADS_TABLE}/*.jsonl', columns = {LOADS_COLUMNS})"}
    for table in listing.tables:
        views[table] = (  # the rows of complete loads, as in the warehouse file
            f"read_parquet('{url}/{table}/*.parquet', union_by_name = true) "
            f"WHERE _dlt_load_id IN (SELECT load_id FROM {BRONZE}.{LOADS_TABLE})"
        )
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {BRONZE}")
        for table, reader in views.items():
            con.execute(f'CREATE OR REPLACE VIEW {BRONZE}."{table}" AS SELECT * FROM {reader}')
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {LOCATION_RECORD.split('.')[0]}")
        con.execute(
            f"CREATE OR REPLACE TABLE {LOCATION_RECORD} AS SELECT ? AS url, ? AS newest_load",
            [settings.bronze_url, newest],
        )
        con.execute("COMMIT")
    return sorted(views)


def _registered(warehouse: Path) -> tuple[str, str] | None:
    """The URL the warehouse's bronze views read, and the newest load file they were made after."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (recorded,) = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema || '.' || table_name = ?",
            [LOCATION_RECORD],
        ).fetchone()
        return con.execute(f"SELECT url, newest_load FROM {LOCATION_RECORD}").fetchone() if recorded else None
