"""Warning-level checkpoints: after the split, reference coverage of the valid events of the loads
this run validated, and the quarantined share of each of those loads. Their failures become report
warnings; they never stop the run or move a row."""

from __future__ import annotations

from great_expectations.core.run_identifier import RunIdentifier

from gx.checkpoints import Checkpoints
from gx.engine import Engine
from gx.report import ContractReport


def check_reference_coverage(engine: Engine, checkpoints: Checkpoints, report: ContractReport) -> None:
    if engine.stage_reference_coverage(report.run_ids):
        _warn_on(checkpoints.run("reference_coverage", RunIdentifier("reference-coverage")), report)


def check_load_quality(engine: Engine, checkpoints: Checkpoints, report: ContractReport) -> None:
    if engine.stage_load_quality(report.run_ids):
        _warn_on(checkpoints.run("load_quality", RunIdentifier("load-quality")), report)


def _warn_on(result, report: ContractReport) -> None:
    for validation in result.run_results.values():
        for outcome in validation.results:
            if not outcome.success:
                share = outcome.result.get("unexpected_percent")
                rule = outcome.expectation_config.meta["rule"]
                report.warnings.append(
                    f"{rule}: {share:.2f} % of rows" if share is not None else f"{rule}: failed"
                )
