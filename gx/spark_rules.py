"""The contract in Spark SQL: the suites' typed columns (gx/typings.py) and rules (gx/sql_rules.py)
as Spark spells them, judging the same rows as DuckDB does, with the same outcome row by row
(tests/test_spark_rules.py holds both engines to it, on edge values of every rule).

Where the engines differ, the contract is written so that they agree: regexes in what Java's and
RE2's engines read alike (gx/suites.py), and typings that take only texts of one shape and parse
the same fields strictly on both (gx/typings.py). Only SQL text here, no pyspark import: the
caller holds the session.
"""

from __future__ import annotations

from gx.frames import TableContract
from gx.sql_rules import CompiledRule, Dialect, compile_expectation, reasons_sql
from gx.typings import prepared_sql


def quote(column: str) -> str:
    """A Spark identifier, quoted."""
    return "`" + column.replace("`", "``") + "`"


def literal(text: str) -> str:
    """A Spark string literal: a backslash escapes in Spark's literals (not in DuckDB's)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


SPARK = Dialect(
    quote=quote,
    literal=literal,
    regex_search="{column} RLIKE {regex}",
    strict_datetime="try_to_timestamp({text}, \"yyyy-MM-dd'T'HH:mm:ss\")",
    strict_date="try_to_date({text}, 'yyyy-MM-dd')",
    timestamp="try_cast({text} AS TIMESTAMP_NTZ)",
    minutes="make_dt_interval(0, 0, {minutes}, 0)",
)


def spark_prepared_sql(contract: TableContract, expectations, bronze: str) -> str:
    """SELECT of the bronze rows of relation `bronze` as the suite sees them, in Spark SQL."""
    return prepared_sql(contract, expectations, SPARK, bronze)


def compile_rules(expectations, parameters: dict) -> list[CompiledRule]:
    """The suite's entries as Spark predicates selecting the rows each rejects."""
    return [compile_expectation(e, parameters, SPARK) for e in expectations]


def judged_sql(rules: list[CompiledRule], batch: str) -> str:
    """The batch's rows with `failed_rules`, every rule each breaks in suite order (empty when it
    passes): the split into silver and quarantine; its parameters are the rules'."""
    return f"SELECT *, filter(array({reasons_sql(rules)}), r -> r IS NOT NULL) AS failed_rules FROM {batch}"
