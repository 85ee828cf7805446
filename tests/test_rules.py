"""A rule is written once (gx/suites.py): every suite entry compiles to the SQL judge, names a
column of the rows its suite sees, and GX and the SQL judge count the same failures on a small
frame of edge values that breaks every rule. Fast: no ingestion, no warehouse, one DuckDB in memory.

    .venv/bin/python -m pytest -q tests/test_rules.py
"""

from __future__ import annotations

import json
import re

import duckdb
import great_expectations as gx
import pytest

from gx.duckdb_source import DuckDBDatasource
from gx.frames import CONTRACTS, KEYS
from gx.sql_rules import compile_expectation
from gx.suites import SUITES
from gx.typings import (
    DATE_SHAPE,
    INSTANT_SHAPE,
    LOCAL_TIME,
    NUMBER_SHAPE,
    OFFSET,
    prepared_sql,
    typed_columns,
)
from tests.conftest import event
from tests.test_contract import BREAKS_ONLY, IMPOSSIBLE_INSTANTS

PARAMETERS = {"reference_time": "2025-01-01T00:00:00"}

# Edge values of tests/test_contract.py, as bronze event lines.
EVENT_LINES = [
    event(),
    event(kind=" PAUSE ", duration=None),
    event(kind=" PLAY ", ts="2024-03-01T10:00:00+02:00", duration="600"),
    event(kind="complete", ts="2024-03-01T10:00:00.250Z", duration=1800),
    *BREAKS_ONLY.values(),
    *(event(ts=text) for text in IMPOSSIBLE_INSTANTS.values()),
    event(duration="\u0661\u0662"),
    event(duration="12\n"),
    event(ts="2024-03-01T10:00:00\n"),
    event(user="\u00a0"),
    event(ts="9999-12-31T23:59:59"),
    event(ts="0001-01-01T00:00:00"),
    event(ts="0000-01-01T00:00:00"),
    json.dumps({"event_type": "pause", "user_id": "", "timestamp": "malformed-date", "duration": 5}),
]

# Reference rows of tests/test_contract.py (bad files), plus a row breaking each remaining rule.
REFERENCE_ROWS = {
    "users": [
        ("user_1", "2023-01-01", "US"),
        ("user_1", "2023-02-30", "usa"),
        ("", "2023-01-01", "GB"),
        (None, "2023-01-01", None),
    ],
    "episodes": [
        ("ep_1", "pod_1", "Pilot", "2023-01-01", "1800"),
        ("ep_2", "pod_1", "Long", "2023-01-01", "3000000000"),
        ("ep_3", "pod_1", "Longer", "2023-01-01", "99999999999999999999"),
        ("ep_4", "", "No show", "2023-01-01", "60"),
        ("ep_5", None, "No column", "2023-02-30", "6O"),
        ("ep_5", "pod_2", "Again", None, None),
        ("  ", "pod_2", "Blank", "2023-01-01", "0"),
        (None, "pod_2", "None", "2023-01-01", "1.5"),
    ],
}

# The warning suites judge computed rows: edge values of each boolean and share.
WARNING_FRAMES = {
    "reference_coverage": (
        "SELECT * FROM (VALUES (true, true), (false, true), (true, false), (NULL, NULL)) "
        "AS v(user_in_reference, episode_in_reference)"
    ),
    "load_quality": (
        "SELECT * FROM (VALUES (0.0), (0.05), (0.0500001), (1.0), (-0.1), (NULL)) AS v(quarantined_share)"
    ),
}


def _bronze_event(number: int, line: str) -> tuple:
    """A bronze events row as ingestion writes it: fields as text, or the raw line and an error."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        return ("L", "a.jsonl", number, None, None, None, None, None, line, "not a JSON object")
    fields = [record.get(k) for k in ("event_type", "user_id", "episode_id", "timestamp", "duration")]
    return ("L", "a.jsonl", number, *(None if v is None else str(v) for v in fields), None, None)


@pytest.fixture(scope="module")
def batches() -> duckdb.DuckDBPyConnection:
    """Each suite's batch table, prepared from the edge rows as the engine prepares them."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'; CREATE SCHEMA bronze")
    rows = {
        "events": [_bronze_event(n, line) for n, line in enumerate(EVENT_LINES, 1)],
        **{t: [("L", f"{t}.csv", n, *r) for n, r in enumerate(rs, 2)] for t, rs in REFERENCE_ROWS.items()},
    }
    for contract in CONTRACTS:
        columns = ", ".join(
            f'"{c}" {"BIGINT" if c == "_line_number" else "VARCHAR"}' for c in (*KEYS, *contract.raw_columns)
        )
        con.execute(f"CREATE TABLE bronze.{contract.table} ({columns})")
        marks = ", ".join("?" * (len(KEYS) + len(contract.raw_columns)))
        con.executemany(f"INSERT INTO bronze.{contract.table} VALUES ({marks})", rows[contract.table])
        select = prepared_sql(contract, SUITES[contract.suite]())
        con.execute(f"CREATE TABLE {contract.suite} AS {select}")
    for suite, select in WARNING_FRAMES.items():
        con.execute(f"CREATE TABLE {suite} AS {select}")
    yield con
    con.close()


def _gx_counts(con: duckdb.DuckDBPyConnection, suite: str) -> dict[str, int]:
    context = gx.get_context(mode="ephemeral")
    source = DuckDBDatasource(name="edges", connection_string="duckdb:///:memory:")
    source.bind(con.cursor())
    source = context.data_sources.add_duckdb(source)
    batch = source.add_table_asset(suite, suite).add_batch_definition_whole_table("all")
    expectations = context.suites.add(gx.ExpectationSuite(name=suite, expectations=SUITES[suite]()))
    result = gx.ValidationDefinition(name=suite, data=batch, suite=expectations).run(
        expectation_parameters=PARAMETERS, result_format="SUMMARY"
    )
    source.unbind()
    assert not any(r.exception_info.get("raised_exception") for r in result.results), result
    return {r.expectation_config.meta["rule"]: r.result["unexpected_count"] for r in result.results}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_every_entry_compiles_and_names_a_column_its_suite_sees(batches, suite: str) -> None:
    columns = {name for (name,) in batches.execute(f"SELECT column_name FROM (DESCRIBE {suite})").fetchall()}
    for expectation in SUITES[suite]():
        compile_expectation(expectation, PARAMETERS)  # raises for a type the judge does not know
        assert expectation.column in columns, (suite, expectation.meta["rule"])
    contract = next((c for c in CONTRACTS if c.suite == suite), None)
    if contract is not None:  # every typed column is typed from a raw column the table has
        assert {raw for raw, _kind in typed_columns(SUITES[suite]()).values()} <= set(contract.raw_columns)


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_gx_and_the_sql_judge_agree_on_edge_values_of_every_rule(batches, suite: str) -> None:
    rules = [compile_expectation(e, PARAMETERS) for e in SUITES[suite]()]
    # Judged per row, as the split does (a uniqueness rule is a window, which no aggregate may hold).
    failing = ", ".join(f"CASE WHEN {rule.sql} THEN 1 ELSE 0 END AS r{i}" for i, rule in enumerate(rules))
    counts = ", ".join(f"sum(r{i})::INTEGER" for i in range(len(rules)))
    params = [p for rule in rules for p in rule.params]
    row = batches.execute(f"SELECT {counts} FROM (SELECT {failing} FROM {suite})", params).fetchone()
    judged = dict(zip([r.rule for r in rules], row, strict=True))
    assert judged == _gx_counts(batches, suite)
    assert all(judged.values()), f"edge values break no row of: {[r for r, n in judged.items() if not n]}"


# What RE2 (DuckDB) and Java (Spark) read differently: `\v` `\s` `\d` `\w` `\b` `\Z` (each engine's
# own classes) anywhere, and outside a class `$` (Java's also matches before a final line break)
# and `.` (Java's stops at more kinds of line break).
ESCAPES_READ_OTHERWISE = re.compile(r"\\[vsdwbVSDWBZ]")
OUTSIDE_CLASSES_READ_OTHERWISE = re.compile(r"\$|(?<!\\)\.")


def read_otherwise(regex: str) -> list[str]:
    """What of `regex` RE2 and Java read differently."""
    outside_classes = re.sub(r"\[[^\]]*\]", "", regex)
    return ESCAPES_READ_OTHERWISE.findall(regex) + OUTSIDE_CLASSES_READ_OTHERWISE.findall(outside_classes)


def test_every_regex_reads_alike_in_re2_and_java() -> None:
    regexes = [e.regex for suite in SUITES.values() for e in suite() if hasattr(e, "regex")]
    regexes += [DATE_SHAPE, INSTANT_SHAPE, LOCAL_TIME, NUMBER_SHAPE, OFFSET]
    assert {regex: read_otherwise(regex) for regex in regexes} == {regex: [] for regex in regexes}
    # and the check finds what it looks for, and only that
    assert all(read_otherwise(r) for r in ("^a$", r"\d", "a.b", r"[^ \v]"))
    assert not read_otherwise(r"^[.$]\.[0-9]\z")
