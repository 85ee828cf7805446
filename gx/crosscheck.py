"""The cross-check: GX's verdict and the SQL judge's must count the same failures per rule.

GX validates a chunk with SUMMARY results (counts only) while the engine judges the same rows
with the suite's entries compiled to SQL (gx/sql_rules.py) and writes the split. The split is
committed only if `cross_check` finds no rule on which the two disagree.
"""

from __future__ import annotations

from collections import Counter

from gx.report import ContractEngineMismatch
from gx.sql_rules import CompiledRule


def raised(exception_info: dict | None) -> bool:
    """Whether GX failed to evaluate an expectation. Its exception info is one record, or, when a
    metric failed (a sample of failing values it could not fetch), one record per failed metric,
    and then the result holds no counts at all."""
    if not exception_info:
        return False
    if "raised_exception" in exception_info:
        return bool(exception_info["raised_exception"])
    return any(isinstance(info, dict) and info.get("raised_exception") for info in exception_info.values())


def unexpected_counts(result) -> dict[str, int]:
    """Rows GX counted as unexpected, by rule, from a checkpoint result."""
    counts = {}
    for validation in result.run_results.values():
        for outcome in validation.results:
            rule = outcome.expectation_config.meta["rule"]
            if raised(outcome.exception_info):
                raise ContractEngineMismatch(f"GX could not evaluate {rule}: {outcome.exception_info}")
            counts[rule] = outcome.result.get("unexpected_count") or 0
    return counts


def cross_check(table: str, rules: list[CompiledRule], counted: Counter, result) -> None:
    """ContractEngineMismatch unless the split's count of each rule's failures equals GX's."""
    expected = unexpected_counts(result)
    mismatched = {r.rule for r in rules if counted.get(r.rule, 0) != expected.get(r.rule, 0)}
    if mismatched:
        raise ContractEngineMismatch(
            f"{table}: split and GX disagree on {sorted(mismatched)}: split {dict(counted)} vs GX {expected}"
        )
