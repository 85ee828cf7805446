"""The SQL judge: a suite's expectations compiled into DuckDB predicates that find the rows each
one rejects (the DuckDB engine's dialect of a rule, used through gx/engine.py).

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


def _condition(condition: Condition | None) -> tuple[str, list]:
    if condition is None:
        return "TRUE", []
    if isinstance(condition, AndCondition):
        parts = [_condition(part) for part in condition.conditions]
        return " AND ".join(f"({sql})" for sql, _ in parts), [p for _, params in parts for p in params]
    if isinstance(condition, NullityCondition):
        return f"{quote(condition.column.name)} IS {'' if condition.is_null else 'NOT '}NULL", []
    if isinstance(condition, ComparisonCondition) and condition.operator == "IN":
        values = list(condition.parameter)
        return f"{quote(condition.column.name)} IN ({', '.join('?' * len(values))})", values
    raise NotImplementedError(f"row condition not supported by the split: {condition!r}")


def compile_expectation(expectation: Any, parameters: dict[str, Any]) -> CompiledRule:
    """The predicate selecting the rows `expectation` counts as unexpected."""
    column = quote(expectation.column)
    kind = type(expectation).__name__
    params: list[Any] = []
    if kind == "ExpectColumnValuesToNotBeNull":
        failing = f"{column} IS NULL"
    elif kind == "ExpectColumnValuesToBeNull":
        failing = f"{column} IS NOT NULL"
    elif kind == "ExpectColumnValuesToMatchRegex":
        failing = f"{column} IS NOT NULL AND NOT regexp_matches({column}, ?)"
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
    where, condition_params = _condition(expectation.row_condition)
    return CompiledRule(
        rule=expectation.meta["rule"],
        sql=f"(({where}) AND ({failing}))",
        params=tuple(condition_params + params),
    )
