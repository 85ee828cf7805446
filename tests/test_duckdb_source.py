"""The GX data source over DuckDB (gx/duckdb_source.py): results, regex semantics, a quiet exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe

from gx.duckdb_source import DuckDBDatasource
from gx.suites import INTEGER, NOT_BLANK
from pipelines.settings import PROJECT_DIR


def validate(connection: duckdb.DuckDBPyConnection, table: str, expectations: dict) -> dict[str, int]:
    """Unexpected counts per named expectation, from GX validating `table` on `connection`."""
    context = gx.get_context(mode="ephemeral")
    source = DuckDBDatasource(name="bound", connection_string="duckdb:///:memory:")
    source.bind(connection)
    source = context.data_sources.add_duckdb(source)
    batch = source.add_table_asset(table, table).add_batch_definition_whole_table("all")
    for name, expectation in expectations.items():
        expectation.meta = {"name": name}
    suite = context.suites.add(gx.ExpectationSuite(name=table, expectations=list(expectations.values())))
    result = gx.ValidationDefinition(name=table, data=batch, suite=suite).run(result_format="SUMMARY")
    source.unbind()
    assert not any(r.exception_info.get("raised_exception") for r in result.results), result
    return {r.expectation_config.meta["name"]: r.result["unexpected_count"] for r in result.results}


def test_gx_validates_the_bound_connections_table_with_re2_semantics() -> None:
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('12', 'a'), ('-7', ' a '), ('12\n', '  '), "
        "('x12', ''), ('\u0661\u0662', NULL), (NULL, 'b')) AS v(n, s)"
    )
    counts = validate(
        connection.cursor(),
        "t",
        {
            # `$` ends the text: '12\n' fails, as do 'x12' and Arabic-Indic digits; NULL is not checked.
            "integer": gxe.ExpectColumnValuesToMatchRegex(column="n", regex=INTEGER),
            # A regex matches anywhere in the text: ' a ' passes, '  ' and '' fail.
            "not_blank": gxe.ExpectColumnValuesToMatchRegex(column="s", regex=NOT_BLANK),
            "present": gxe.ExpectColumnValuesToNotBeNull(column="s"),
        },
    )
    assert counts == {"integer": 3, "not_blank": 2, "present": 1}
    connection.close()


def test_a_process_that_loads_and_validates_exits_without_noise(tmp_path: Path) -> None:
    code = f"""
import shutil
from datetime import datetime, UTC
from pathlib import Path
from gx.validate import validate
from pipelines.generate import generate
from pipelines.ingest import ingest
from pipelines.settings import GX_DIR, Settings
root = Path({str(tmp_path)!r})
shutil.copytree(GX_DIR, root / "gx", ignore=shutil.ignore_patterns("uncommitted"))
generate(root / "data", 500, seed=3, n_files=1)
settings = Settings(
    data_dir=root / "data", warehouse=root / "w.duckdb", gx_dir=root / "gx",
    reference_time=datetime(2025, 1, 1, tzinfo=UTC),
)
ingest(settings)
print(validate(settings).tables["events"].rows)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "500", done.stderr[-2000:]
    assert "nanobind" not in done.stderr  # no "nanobind: leaked ..." lines at interpreter shutdown
