"""The GX side of a run: the file context bound to the engine's batch tables, its suites, its
checkpoint runs, and the one data docs build of the run's results."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from great_expectations.core.run_identifier import RunIdentifier

from gx.build import DATASOURCE, checkpoint_name, open_context
from gx.data_docs import build_run_docs
from gx.report import ContractReport


class Checkpoints:
    """The GX context at `gx_dir`, validating the batch tables GX reads on `connection`."""

    def __init__(self, gx_dir: Path, connection, parameters: dict, report: ContractReport) -> None:
        self.context = open_context(gx_dir)
        self.context.data_sources.get(DATASOURCE).bind(connection)
        self.parameters = parameters
        self.report = report
        self.results: list = []  # checkpoint results of this run, for the data docs
        self._suites: dict = {}

    def suite(self, name: str):
        """The suite `name`, read once per run."""
        if name not in self._suites:
            self._suites[name] = self.context.suites.get(name)
        return self._suites[name]

    def run(self, suite: str, run_id: RunIdentifier, dataframe=None):
        """Validate the batch table `suite` with the suite's checkpoint; or, given a Spark
        `dataframe`, that DataFrame with the suite's checkpoint on Spark."""
        on_spark = dataframe is not None
        with self.report.timed("gx_validate", suite, self.report.checkpoint_seconds):
            result = self.context.checkpoints.get(checkpoint_name(suite, on_spark)).run(
                batch_parameters={"dataframe": dataframe} if on_spark else None,
                expectation_parameters=self.parameters,
                run_id=run_id,
            )
        self.report.run_ids.append(run_label(result.run_id))
        self.results.append(result)
        return result

    def build_data_docs(self) -> None:
        if self.results:
            with self.report.timed("data_docs"):
                build_run_docs(self.context, self.results)

    def close(self) -> None:
        self.context.data_sources.get(DATASOURCE).unbind()


def run_label(run_id: RunIdentifier) -> str:
    """The checkpoint run as stored on quarantined rows: its name and UTC start time."""
    return f"{run_id.run_name} @ {run_id.run_time.astimezone(UTC).isoformat(timespec='seconds')}"
