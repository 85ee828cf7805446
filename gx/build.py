"""Write the GX file context (suites, validation definitions, checkpoints) from gx/suites.py.

    python -m gx.build            # rewrite gx/ in place; commit the result

Re-runnable: everything is added or updated by name. The pipeline itself only reads the
context; it never edits the contract.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import great_expectations as gx
from great_expectations.data_context import FileDataContext

from gx.duckdb_source import DuckDBDatasource
from gx.frames import BATCH_DATABASE, CONTRACTS
from gx.report import DOCS_SITE, DOCS_SITE_DIR
from gx.spark_source import SparkBatchDatasource
from gx.suites import SUITES
from pipelines.settings import GX_DIR

# Each suite validates the table of its name in the in-memory database BATCH_DATABASE, which the
# engine (gx/engine.py) fills with the rows under validation and gx/checkpoints.py binds to GX.
DATASOURCE = BATCH_DATABASE
BATCH = "whole_table"
# When the contract runs on Spark (gx/spark_engine.py), the table suites validate the chunk's
# DataFrame through this data source instead; the warning suites read the warehouse file as before.
SPARK_DATASOURCE = f"{BATCH_DATABASE}_spark"
SPARK_BATCH = "whole_dataframe"
ON_SPARK = "_on_spark"
# SUMMARY: counts and a sample of failing values. No unexpected_index_column_names: GX looks those
# up row by row in Python; the split keeps every failing row's source file and line in the
# quarantine tables.
RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": 20,
    "return_unexpected_index_query": False,
}
# The pages render with the project's templates, which load their scripts and styles from the
# site itself. It stays fast to open: gx/data_docs.py keeps the last validation runs of each
# suite only, so the index lists them all (GX #11542).
_PAGE_VIEW = {"module_name": "gx.data_docs", "class_name": "PageView"}
DOCS_SITE_CONFIG = {
    "class_name": "SiteBuilder",
    "show_how_to_buttons": False,
    "store_backend": {
        "class_name": "TupleFilesystemStoreBackend",
        "base_directory": f"{DOCS_SITE_DIR.as_posix()}/",
    },
    "site_index_builder": {
        "class_name": "DefaultSiteIndexBuilder",
        "view": {"module_name": "gx.data_docs", "class_name": "IndexPageView"},
    },
    "site_section_builders": {
        section: {"view": dict(_PAGE_VIEW)} for section in ("expectations", "validations", "profiling")
    },
}


def definition_name(suite: str, on_spark: bool = False) -> str:
    """The validation definition of a suite on its engine's data source."""
    return f"{suite}{ON_SPARK if on_spark else ''}"


def checkpoint_name(suite: str, on_spark: bool = False) -> str:
    return f"{definition_name(suite, on_spark)}_checkpoint"


def open_context(gx_dir: Path = GX_DIR) -> FileDataContext:
    """The file context whose great_expectations.yml sits in `gx_dir` (a folder named gx)."""
    if gx_dir.name != "gx" or not (gx_dir / "great_expectations.yml").exists():
        raise FileNotFoundError(f"no GX project at {gx_dir} (expected gx/great_expectations.yml)")
    return gx.get_context(mode="file", project_root_dir=str(gx_dir.parent))


def build(gx_dir: Path = GX_DIR) -> FileDataContext:
    """Create or update the whole contract in the file context at `gx_dir`."""
    context = gx.get_context(mode="file", project_root_dir=str(gx_dir.parent))
    context.variables.progress_bars = {"globally": False}
    context.variables.analytics_enabled = False  # offline machines; never phone home
    context.variables.save()
    context.update_data_docs_site(DOCS_SITE, DOCS_SITE_CONFIG)
    # GX probes a data source and each table asset when it is added; the batch tables exist only
    # while the runner validates, so the probes meet empty stand-ins.
    probe = duckdb.connect()
    for name in SUITES:
        probe.execute(f"CREATE TABLE {name} (stand_in INTEGER)")
    existing = context.data_sources.all().get(DATASOURCE)
    source = existing or DuckDBDatasource(name=DATASOURCE, connection_string="duckdb:///:memory:")
    source.bind(probe)
    if existing is None:
        source = context.data_sources.add_duckdb(source)
    spark = context.data_sources.all().get(SPARK_DATASOURCE) or context.data_sources.add_spark_batch(
        SparkBatchDatasource(name=SPARK_DATASOURCE)
    )
    for name, expectations in SUITES.items():
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=expectations()))
        asset = (
            source.get_asset(name) if name in source.get_asset_names() else source.add_table_asset(name, name)
        )
        _add_checkpoint(context, name, suite, _batch(asset, BATCH, asset.add_batch_definition_whole_table))
        if name in {contract.suite for contract in CONTRACTS}:
            asset = (
                spark.get_asset(name) if name in spark.get_asset_names() else spark.add_dataframe_asset(name)
            )
            batch = _batch(asset, SPARK_BATCH, asset.add_batch_definition_whole_dataframe)
            _add_checkpoint(context, name, suite, batch, on_spark=True)
    source.unbind()
    return context


def _batch(asset, name: str, add):
    """The asset's batch definition `name`, added by `add(name)` if it has none."""
    return next((b for b in asset.batch_definitions if b.name == name), None) or add(name)


def _add_checkpoint(context, name: str, suite, batch, on_spark: bool = False) -> None:
    """The checkpoint validating `batch` with `suite`, and its validation definition."""
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=definition_name(name, on_spark), data=batch, suite=suite)
    )
    context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=checkpoint_name(name, on_spark),
            validation_definitions=[definition],
            # No UpdateDataDocsAction: gx/data_docs.py renders all of a run's results in one data
            # docs build (each build recompiles GX's templates and redraws the index).
            actions=[],
            result_format=RESULT_FORMAT,
        )
    )


def main() -> int:
    build()
    print(f"contract written to {GX_DIR}: suites {', '.join(SUITES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
