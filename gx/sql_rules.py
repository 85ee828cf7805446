"""The SQL judge: a suite's expectations compiled into SQL predicates that find the rows each one
rejects, in an engine's dialect: DuckDB's here (used through gx/engine.py), Spark's in
gx/spark_rules.py.

Why rows are judged in SQL beside GX (re-measured after the split into modules, and it still
holds): GX returns row-level failures only in its COMPLETE result format, which on a million event
rows costs about twice its SUMMARY format (a little more with the row keys the quarantine needs),
and hands the failures over as Python lists that would have to be written back. On small batches
GX's fixed cost dominates and the formats cost about the same, but the compiled judge runs on a
thread beside GX and adds no wall time. So GX validates with SUMMARY results (verdict, counts, a
sample of failures for the data docs) while the split evaluates the same suite entries, compiled
here, row by row in DuckDB; the split commits only if its per-rule counts equal GX's
(gx/crosscheck.py). The README's "Measured figures" hold the numbers.

Only the expectation types the contract uses are supported; any other raises, so a new rule
cannot silently escape the split (tests/test_rules.py compiles every suite entry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from great_expectations.expectations.row_conditions import (
    AndCondition,
    ComparisonCondition,
    Condition,
    NullityCondition,
)


@dataclass(frozen=True)
class CompiledRule:
    """A rule's name and the SQL predicate true for the rows it rejects."""

    rule: str
    sql: str
    params: tuple[Any, ...]


def quote(column: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + column.replace('"', '""') + '"'


@dataclass(frozen=True)
class Dialect:
    """How an engine spells what the contract's SQL needs beyond common SQL (templates with the
    names in braces). The suites' regexes are written in what RE2 and Java read alike
    (gx/suites.py); the typings use the rest (gx/typings.py)."""

    quote: Callable[[str], str]  # an identifier
    literal: Callable[[str], str]  # a string
    regex_search: str  # true when {column} contains a match of {regex}
    strict_datetime: str  # the yyyy-mm-ddThh:mm:ss {text} as a timestamp; NULL unless real
    strict_date: str  # the yyyy-mm-dd {text} as a date; NULL unless real
    timestamp: str  # the {text} of a date and time of day as a timestamp without zone
    minutes: str  # an interval of {minutes}


DUCKDB = Dialect(
    quote=quote,
    literal=lambda text: "'" + text.replace("'", "''") + "'",
    regex_search="regexp_matches({column}, {regex})",
    strict_datetime="try_strptime({text}, '%Y-%m-%dT%H:%M:%S')",
    strict_date="CAST(try_strptime({text}, '%Y-%m-%d') AS DATE)",
    timestamp="try_cast({text} AS TIMESTAMP)",
    minutes="to_minutes({minutes})",
)


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """A bound as DuckDB should compare it: suite parameters filled in, ISO text as a timestamp."""
    if isinstance(value, dict) and "$PARAMETER" in value:
        value = parameters[value["$PARAMETER"]]
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _condition(condition: Condition | None, quote: Callable[[str], str]) -> tuple[str, list]:
    if condition is None:
        return "TRUE", []
    if isinstance(condition, AndCondition):
        parts = [_condition(part, quote) for part in condition.conditions]
        return " AND ".join(f"({sql})" for sql, _ in parts), [p for _, params in parts for p in params]
    if isinstance(condition, NullityCondition):
        return f"{quote(condition.column.name)} IS {'' if condition.is_null else 'NOT '}NULL", []
    if isinstance(condition, ComparisonCondition) and condition.operator == "IN":
        values = list(condition.parameter)
        return f"{quote(condition.column.name)} IN ({', '.join('?' * len(values))})", values
    raise NotImplementedError(f"row condition not supported by the split: {condition!r}")


def compile_expectation(
    expectation: Any, parameters: dict[str, Any], dialect: Dialect = DUCKDB
) -> CompiledRule:
    """The predicate selecting the rows `expectation` counts as unexpected, in `dialect`."""
    column = dialect.quote(expectation.column)
    kind = type(expectation).__name__
    params: list[Any] = []
    if kind == "ExpectColumnValuesToNotBeNull":
        failing = f"{column} IS NULL"
    elif kind == "ExpectColumnValuesToBeNull":
        failing = f"{column} IS NOT NULL"
    elif kind == "ExpectColumnValuesToMatchRegex":
        failing = f"{column} IS NOT NULL AND NOT {dialect.regex_search.format(column=column, regex='?')}"
        params = [expectation.regex]
    elif kind == "ExpectColumnValuesToBeInSet":
        values = list(expectation.value_set)
        failing = f"{column} IS NOT NULL AND {column} NOT IN ({', '.join('?' * len(values))})"
        params = values
    elif kind == "ExpectColumnValuesToBeBetween":
        bounds = []
        low, high = _resolve(expectation.min_value, parameters), _resolve(expectation.max_value, parameters)
        if low is not None:
            bounds.append(f"{column} {'<=' if expectation.strict_min else '<'} ?")
            params.append(low)
        if high is not None:
            bounds.append(f"{column} {'>=' if expectation.strict_max else '>'} ?")
            params.append(high)
        failing = f"{column} IS NOT NULL AND ({' OR '.join(bounds)})"
    elif kind == "ExpectColumnValuesToBeUnique":
        failing = f"{column} IS NOT NULL AND count(*) OVER (PARTITION BY {column}) > 1"
    else:
        raise NotImplementedError(f"expectation not supported by the split: {kind}")
    where, condition_params = _condition(expectation.row_condition, dialect.quote)
    return CompiledRule(
        rule=expectation.meta["rule"],
        sql=f"(({where}) AND ({failing}))",
        params=tuple(condition_params + params),
    )


def reasons_sql(rules: list[CompiledRule]) -> str:
    """The rules a row breaks, as SQL: a CASE per rule in suite order naming it, NULL when the row
    passes it (its parameters are the rules' in order); each engine keeps the names that are set."""
    return ", ".join(f"CASE WHEN {rule.sql} THEN '{rule.rule}' END" for rule in rules)
