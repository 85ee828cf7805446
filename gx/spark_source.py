"""Great Expectations on Spark: the data source the table suites validate a Spark DataFrame with
when the contract runs on Spark (gx/spark_engine.py), one dataframe asset per suite.

GX's own Spark data source checks, when it is added to a context, that a Spark session can start.
The contract's context is written by `python -m gx.build` on any machine, with or without the
Spark extra, so this one checks nothing then: at run time it validates on the run's session, the
DataFrame given as the batch parameter `dataframe`.
"""

from __future__ import annotations

from typing import Literal

from great_expectations.datasource.fluent import SparkDatasource


class SparkBatchDatasource(SparkDatasource):
    """A GX Spark data source added without a Spark session (`type: spark_batch` in the yml)."""

    type: Literal["spark_batch"] = "spark_batch"  # type: ignore[assignment]

    def test_connection(self, test_assets: bool = True) -> None:
        """Nothing to test before a run: the run's Spark session is the connection."""
