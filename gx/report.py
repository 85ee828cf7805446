"""What one validation run did, for summaries, artifacts and notifications; and how it can fail.

No Great Expectations import here: a run with nothing to validate never loads GX.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.progress import timed

# Where the data docs site lives in the GX folder (gx/build.py configures GX to write it there).
DOCS_SITE = "local_site"
DOCS_SITE_DIR = Path("uncommitted") / "data_docs" / DOCS_SITE
DOCS_INDEX = DOCS_SITE_DIR / "index.html"


class ContractViolation(RuntimeError):
    """Data that makes the run untrustworthy; the message is one line for the user."""


class ContractEngineMismatch(RuntimeError):
    """The SQL split and GX disagree on a rule's failures: a bug, never silently ignored."""


@dataclass
class TableOutcome:
    rows: int = 0
    valid: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)


@dataclass
class ContractReport:
    """What one validation run did, for summaries, artifacts and notifications."""

    tables: dict[str, TableOutcome] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # warning-level rules that failed
    run_ids: list[str] = field(default_factory=list)
    revalidated: list[str] = field(default_factory=list)  # tables whose suite changed
    # By table, for loads validated before (a suite change, a replay): rows judged again, and the
    # net rows each load moved to quarantine or back to silver.
    revalidation: dict[str, Counter] = field(default_factory=dict)
    data_docs: Path | None = None
    # Seconds per step, summed over chunks: stage (the prepared rows into the batch tables),
    # gx_validate (the checkpoints), split_wait (judging and writing the split after GX was done),
    # commit and data_docs.
    step_seconds: Counter = field(default_factory=Counter)
    # By suite: seconds in its checkpoints, and staging its batches (in a thread, beside GX).
    checkpoint_seconds: Counter = field(default_factory=Counter)
    staging_seconds: Counter = field(default_factory=Counter)

    @contextmanager
    def timed(
        self, step: str | None, suite: str | None = None, by_suite: Counter | None = None
    ) -> Iterator[None]:
        """Add the block's seconds to `step` (if any) and, given both, to `by_suite[suite]`."""

        def record(elapsed: float) -> None:
            if step:
                self.step_seconds[step] += elapsed
            if by_suite is not None:
                by_suite[suite] += elapsed

        with timed(record):
            yield

    @property
    def quarantine_reasons(self) -> dict[str, int]:
        total: Counter = Counter()
        for outcome in self.tables.values():
            total.update(outcome.reasons)
        return dict(total.most_common())
