"""Bronze at a URL, registered in Spark's catalog (--engine spark; README, "When one machine is not
enough"): what the warehouse's bronze views are to DuckDB (pipelines/bronze.py), these are to Spark,
so that anyone on that Spark (the run's session, or the Thrift server's catalog) queries
`bronze.events` and friends.

- `bronze_files.<table>`: an external Parquet table over the table's folder, every file dlt wrote;
- `bronze.<table>`: a view of its rows of complete loads, those dlt's record of loads names;
- `bronze._dlt_loads`: that record, dlt's JSON lines.

A table's columns are Spark's merged schema of all its files, read again only when dlt's schema
version changed since (its hash is kept as a table property): a new column in the logs shows up
on the next run, while a run that only adds files reads no footer. New files need no registration:
a table over a folder lists it when it is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pipelines.bronze import BRONZE, LOADS_TABLE, list_bronze

FILES = "bronze_files"  # Spark's database of the tables over each folder's files
SCHEMA_PROPERTY = "dlt.schema_version_hash"  # on each table: the dlt schema its columns are from
LOADS_SCHEMA = (  # dlt's record of a load, in Spark's types; the instant kept with its offset (LTZ)
    "load_id STRING, schema_name STRING, status BIGINT, inserted_at TIMESTAMP_LTZ, schema_version_hash STRING"
)


def register_tables(sql: Callable[[str], list[tuple]], bronze_url: str) -> list[str]:
    """Bring Spark's bronze tables up to date with the files at `bronze_url`, through `sql` (one
    statement on Spark, its rows); the views, by name."""
    url = f"{bronze_url.rstrip('/')}/{BRONZE}"
    listing = list_bronze(bronze_url.rstrip("/"))
    if not listing.loads:
        return []
    with listing.filesystem.open(listing.loads[-1]) as newest:
        schema_hash = json.loads(newest.readline())["schema_version_hash"]
    sql(f"CREATE DATABASE IF NOT EXISTS {BRONZE}")
    sql(f"CREATE DATABASE IF NOT EXISTS {FILES}")
    loads = f"{BRONZE}.`{LOADS_TABLE}`"
    sql(f"CREATE TABLE IF NOT EXISTS {loads} ({LOADS_SCHEMA}) USING json LOCATION '{url}/{LOADS_TABLE}'")
    read_at = {name: _schema_hash(sql, f"{FILES}.`{name}`") for _, name, _ in sql(f"SHOW TABLES IN {FILES}")}
    views = []
    for table in listing.tables:
        files, view = f"{FILES}.`{table}`", f"{BRONZE}.`{table}`"
        if read_at.get(table) != schema_hash:
            sql(f"DROP TABLE IF EXISTS {files}")  # external: its files stay
            sql(  # the columns: Spark's merged schema of every file, read now, kept in the catalog
                f"CREATE TABLE {files} USING parquet OPTIONS (mergeSchema 'true') LOCATION '{url}/{table}' "
                f"TBLPROPERTIES ('{SCHEMA_PROPERTY}' = '{schema_hash}')"
            )
        sql(  # again each time: a run stopped between the two statements left the table alone
            f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {files} "
            f"WHERE _dlt_load_id IN (SELECT load_id FROM {loads})"
        )
        views.append(f"{BRONZE}.{table}")
    return views


def _schema_hash(sql: Callable[[str], list[tuple]], table: str) -> str | None:
    """The dlt schema version the table's columns were read at."""
    return next((value for key, value in sql(f"SHOW TBLPROPERTIES {table}") if key == SCHEMA_PROPERTY), None)
