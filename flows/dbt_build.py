"""Run dbt in-process against the warehouse, then release the DuckDB file.

dbt-duckdb keeps one DuckDB handle open for a whole command (`keep_open: true` in
dbt/profiles.yml: per-node connections made builds 40 % slower); the flow's other steps and any
reader need the file afterwards, so every invocation closes it here. (Not named dbt.py: run as a
script, flows/ is first on sys.path and would shadow the dbt package.)
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

from pipelines.settings import DBT_DIR, Settings


def run_dbt(settings: Settings, args: list[str], callbacks: list[Callable] | None = None):
    """`dbt <args>` on the project in dbt/ against the settings' warehouse; the dbtRunnerResult."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import reset_adapters
    from dbt.cli.main import dbtRunner

    os.environ["PODCAST_WAREHOUSE"] = str(settings.warehouse)  # read by dbt/profiles.yml
    os.environ["PODCAST_DUCKDB_MEMORY_LIMIT"] = settings.duckdb_memory_limit
    try:
        return dbtRunner(callbacks=callbacks or []).invoke(
            [*args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]
        )
    finally:
        DuckDBConnectionManager.close_all_connections()
        reset_adapters()
        gc.collect()  # drop the last Python handles on the file (else nanobind reports leaks at exit)
