"""The contract on Spark (`--engine spark` with bronze at a URL): Spark reads each chunk's bronze
rows from its load's Parquet files, types and judges them in Spark SQL (gx/spark_rules.py), and GX
validates the same DataFrame through its Spark data source (gx/spark_source.py); the judged rows
then replace the chunk's rows in silver and quarantine in the warehouse file, written by
DuckDBEngine as on DuckDB: one transaction with the ledger's mark, committed only if GX and
Spark's judge count the same failures.

The rest is DuckDBEngine's, on the warehouse file: the ledger, the chunk plan, the warning suites
over silver. pyspark is imported only here, on this path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gx import spark_rules
from gx.engine import DuckDBEngine, Judgement
from gx.frames import KEYS, TableContract
from gx.sql_rules import CompiledRule
from pipelines.bronze import BRONZE
from pipelines.settings import Settings


def bronze_view(table: str) -> str:
    """The Spark view of the bronze rows of the load being staged."""
    return f"bronze_{table}"


def batch_view(suite: str) -> str:
    """The Spark view of the suite's batch, the rows its split judges."""
    return f"batch_{suite}"


class SparkEngine(DuckDBEngine):
    """The contract's rows on Spark, its records in the warehouse file; see the module docstring."""

    def __init__(self, settings: Settings, spark: SparkSession) -> None:
        from great_expectations.compatibility import pyspark as gx_pyspark

        if not gx_pyspark.pyspark:
            raise RuntimeError(
                "the contract cannot run on Spark in this process: Great Expectations was imported "
                "before pyspark (start a new process)"
            )
        super().__init__(settings.warehouse, settings.duckdb_memory_limit)
        self.spark = spark
        self.bronze = f"{settings.bronze_url.rstrip('/')}/{BRONZE}"
        self.staged: dict[tuple[str, int], DataFrame] = {}  # by suite and chunk index
        self.batches: dict[str, DataFrame] = {}  # by suite: the batch GX and the split read

    def close(self) -> None:
        for frame in [*self.staged.values(), *self.batches.values()]:
            frame.unpersist()
        super().close()

    # ------------------------------------------------------------------ rows and rules
    def prepared_sql(self, contract: TableContract, expectations: Iterable) -> str:
        return spark_rules.spark_prepared_sql(contract, expectations, bronze_view(contract.table))

    def compile_rules(self, expectations: Iterable, parameters: dict) -> list[CompiledRule]:
        return spark_rules.compile_rules(expectations, parameters)

    # ------------------------------------------------------------------ staging
    def stage_chunk(
        self, contract: TableContract, load_id: str, select_sql: str, params: list, index: int
    ) -> int:
        """The chunk's prepared rows, read from the files of its load (dlt names them
        `<load id>.<file id>.parquet`) and cached; how many rows."""
        files = f"{self.bronze}/{contract.table}/{load_id}.*.parquet"
        rows = self.spark.read.option("mergeSchema", "true").parquet(files)  # files of one load may differ
        for column in (*KEYS, *contract.raw_columns):  # a column no row of this load had
            if column not in rows.columns:
                rows = rows.withColumn(column, F.lit(None).cast("string"))
        rows.createOrReplaceTempView(bronze_view(contract.table))
        staged = self.spark.sql(select_sql, args=params).cache()
        self.staged[(contract.suite, index)] = staged
        return staged.count()

    def promote_staged(self, suite: str, index: int) -> None:
        """Staged chunk `index` becomes the suite's batch."""
        previous = self.batches.pop(suite, None)
        if previous is not None:
            previous.unpersist()
        self.batches[suite] = self.staged.pop((suite, index))

    def gx_batch(self, suite: str) -> DataFrame | None:
        """The suite's batch, for its checkpoint on Spark; None for the warning suites, which
        validate their batch tables in the warehouse file."""
        return self.batches.get(suite)

    # ------------------------------------------------------------------ the split
    def _judge(self, cursor, contract: TableContract, rules: list[CompiledRule]) -> Judgement:
        """Spark judges the batch; its valid and rejected rows come to `cursor` as Arrow tables."""
        self.batches[contract.suite].createOrReplaceTempView(batch_view(contract.suite))
        judged = self.spark.sql(
            spark_rules.judged_sql(rules, batch_view(contract.suite)),
            args=[p for rule in rules for p in rule.params],
        ).cache()
        try:
            failures = judged.select(F.explode("failed_rules").alias("rule")).groupBy("rule").count()
            counted = Counter(dict(failures.collect()))
            judged.createOrReplaceTempView(f"judged_{contract.suite}")
            valid = self.spark.sql(
                f"SELECT {contract.silver_columns} FROM judged_{contract.suite} WHERE size(failed_rules) = 0"
            ).toArrow()
            rejected = (
                judged.where("size(failed_rules) > 0")
                .select(*KEYS, *contract.raw_columns, "failed_rules")
                .toArrow()
            )
        finally:
            judged.unpersist()
        cursor.register("split_valid", valid)
        cursor.register("split_rejected", rejected)
        return Judgement(
            "SELECT * FROM split_valid", "SELECT * FROM split_rejected", counted, rejected.num_rows
        )
