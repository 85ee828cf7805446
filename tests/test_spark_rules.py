"""The contract judges rows alike on Spark and on DuckDB: each edge row of tests/test_rules.py, and
texts that Java's and RE2's regexes or the two engines' parsers read differently, breaks the same
rules on both engines, and the rows that pass get the same typed values. GX, through its Spark
data source, counts the same failures as the Spark judge. Marked spark: `make test-spark`.
"""

from __future__ import annotations

import duckdb
import great_expectations as gx
import pytest

from flows.spark_engine import start_session
from gx import spark_rules, sql_rules
from gx.frames import CONTRACTS, KEYS
from gx.sql_rules import compile_expectation
from gx.suites import SUITES
from gx.typings import prepared_sql, typed_columns
from pipelines.settings import Settings
from tests.conftest import event
from tests.test_rules import EVENT_LINES, PARAMETERS, REFERENCE_ROWS, _bronze_event

pytestmark = pytest.mark.spark

HUGE = "9" * 400
# Texts on which the engines' own regexes, casts or parsers disagree; the contract must not.
ENGINE_EDGE_LINES = [
    *(event(duration=text) for text in ("0\n", "1d", "1f", "1_000", "inf", "NaN", "1e3", " 12", "+5")),
    *(event(duration=text) for text in ("1.5", "-1.5", "0x10", HUGE, "86400", "\u0660")),
    *(event(user=text) for text in ("\u2028", "\x0b", "\u0085", "a\n", "\n")),
    *(event(kind=text, duration=None) for text in ("pause\n", "\tpause", "PAUSE")),
    *(
        event(ts=text)
        for text in (
            "2024-03-01T10:00:00-23:59",
            "2024-03-01T10:00:00+18:30",
            "2024-03-01T10:00:00+0100",
            "2024-03-01T10:00:00Z\n",
            "2024-03-01 10:00:00",
            "2024-03-01T10:00:00.123456789Z",
            "2024-02-29T23:59:59.999999-00:01",
            "2024-03-01T10:00:00+00:00",
            "2024-03-01T10:00",
            "2024-3-01T10:00:00",
            "0000-01-01T00:00:00",
            "2024-03-01T10:00:00 +02:00",
            "2024-03-01T10:00:00UTC",
        )
    ),
]
ENGINE_EDGE_REFERENCE = {
    "users": [
        (f"user_{n}", date, country)
        for n, (date, country) in enumerate(
            [
                ("0000-01-01", "US\n"),
                ("2023-1-05", "us"),
                ("2023-01-01 ", "GB"),
                ("2023-01-01\n", "\u0130T"),
                ("+2023-01-01", "DE"),
                ("2024-02-29", "FR"),
                ("9999-12-31", "NL"),
            ],
            10,
        )
    ],
    "episodes": [
        (f"ep_{n}", "pod_1", "Edge", "2023-01-01", text)
        for n, text in enumerate(["1d", "1_000", " 60", "60\n", "+60", "1e3", HUGE, "2147483647"], 10)
    ],
}


# Typed values as both engines give them alike: instants in microseconds and dates in days since
# 1970 (each engine spells year 0 its own way), numbers and text as they are.
COMPARABLE = {
    "duckdb": {"instant": "epoch_us({})", "date": "({} - DATE '1970-01-01')"},
    "spark": {"instant": "unix_micros(CAST({} AS TIMESTAMP))", "date": "unix_date({})"},
}


def comparable(expectations, engine: str, quote) -> str:
    """The typed columns of a suite, as the engines compare (COMPARABLE)."""
    return ", ".join(
        COMPARABLE[engine].get(kind, "{}").format(quote(column))
        for column, (_raw, kind) in typed_columns(expectations).items()
    )


def bronze_rows() -> dict[str, list[tuple]]:
    """Every bronze row of the edge frames, by table, keys first and raw text after."""
    lines = [*EVENT_LINES, *ENGINE_EDGE_LINES]
    return {
        "events": [_bronze_event(n, line) for n, line in enumerate(lines, 1)],
        **{
            table: [
                ("L", f"{table}.csv", n, *row) for n, row in enumerate(rows + ENGINE_EDGE_REFERENCE[table], 2)
            ]
            for table, rows in REFERENCE_ROWS.items()
        },
    }


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_rules")
    settings = Settings(warehouse=root / "w.duckdb", spark_dir=root / "spark", spark_master="local[1]")
    session = start_session(settings)
    yield session
    session.stop()


def duckdb_judged(contract, rows: list[tuple]) -> dict[int, tuple]:
    """Line -> (rules broken, typed values) of each row, judged by DuckDB's dialect."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; CREATE SCHEMA bronze")
    columns = ", ".join(
        f'"{c}" {"BIGINT" if c == "_line_number" else "VARCHAR"}' for c in (*KEYS, *contract.raw_columns)
    )
    con.execute(f"CREATE TABLE bronze.{contract.table} ({columns})")
    con.executemany(f"INSERT INTO bronze.{contract.table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    expectations = SUITES[contract.suite]()
    rules = [compile_expectation(e, PARAMETERS) for e in expectations]
    judged = con.execute(
        f"SELECT _line_number, list_filter([{sql_rules.reasons_sql(rules)}], lambda r: r IS NOT NULL), "
        f"{comparable(expectations, 'duckdb', sql_rules.quote)} "
        f"FROM ({prepared_sql(contract, expectations)})",
        [p for rule in rules for p in rule.params],
    ).fetchall()
    con.close()
    return {row[0]: (tuple(row[1]), row[2:]) for row in judged}


def spark_judged(spark, contract, rows: list[tuple]) -> tuple[dict[int, tuple], object]:
    """Line -> (rules broken, typed values) of each row, judged by Spark's dialect; and the
    prepared rows as a DataFrame, for GX."""
    schema = ", ".join(
        f"`{c}` {'bigint' if c == '_line_number' else 'string'}" for c in (*KEYS, *contract.raw_columns)
    )
    spark.createDataFrame(rows, schema).createOrReplaceTempView(f"bronze_{contract.table}")
    expectations = SUITES[contract.suite]()
    prepared = spark.sql(spark_rules.spark_prepared_sql(contract, expectations, f"bronze_{contract.table}"))
    prepared.createOrReplaceTempView(f"batch_{contract.suite}")
    rules = spark_rules.compile_rules(expectations, PARAMETERS)
    judged = spark.sql(
        f"SELECT _line_number, failed_rules, {comparable(expectations, 'spark', spark_rules.quote)} "
        f"FROM ({spark_rules.judged_sql(rules, f'batch_{contract.suite}')})",
        args=[p for rule in rules for p in rule.params],
    ).collect()
    return {row[0]: (tuple(row[1]), tuple(row[2:])) for row in judged}, prepared


def spark_gx_counts(prepared, suite: str) -> dict[str, int]:
    """GX's unexpected counts per rule, validating the prepared rows through its Spark data source."""
    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_spark("edges").add_dataframe_asset(suite)
    batch = asset.add_batch_definition_whole_dataframe("all")
    expectations = context.suites.add(gx.ExpectationSuite(name=suite, expectations=SUITES[suite]()))
    result = gx.ValidationDefinition(name=suite, data=batch, suite=expectations).run(
        batch_parameters={"dataframe": prepared},
        expectation_parameters=PARAMETERS,
        result_format="SUMMARY",
    )
    assert not any(r.exception_info.get("raised_exception") for r in result.results), result
    missing = [
        (r.expectation_config.meta["rule"], r.result)
        for r in result.results
        if "unexpected_count" not in r.result
    ]
    assert not missing, missing
    return {r.expectation_config.meta["rule"]: r.result["unexpected_count"] for r in result.results}


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.table)
def test_both_engines_split_and_type_every_edge_row_alike(spark, contract) -> None:
    rows = bronze_rows()[contract.table]
    on_duckdb = duckdb_judged(contract, rows)
    on_spark, prepared = spark_judged(spark, contract, rows)
    raw = {row[2]: row[3:] for row in rows}
    differing = {
        line: (raw[line], on_duckdb[line], on_spark.get(line))
        for line in on_duckdb
        if on_duckdb[line] != on_spark.get(line)
    }
    assert not differing, "\n".join(
        f"{raw!r}: DuckDB {duck!r}, Spark {spark!r}" for raw, duck, spark in differing.values()
    )
    assert set(on_spark) == set(on_duckdb)
    # the edge rows break every rule, and some rows pass: the comparison covers both sides
    broken = {rule for reasons, _typed in on_spark.values() for rule in reasons}
    assert broken == {e.meta["rule"] for e in SUITES[contract.suite]()}
    assert any(not reasons for reasons, _typed in on_spark.values())
    judged = {rule: sum(rule in reasons for reasons, _ in on_spark.values()) for rule in broken}
    assert spark_gx_counts(prepared, contract.suite) == judged
