"""Crash harness: SIGKILL `python flows/main.py` at random moments of each stage, rerun, compare.

    python -m tests.crash --kills 200        # make soak; tests/test_crash.py runs 20

Scenario, on small generated data: run 1 loads two event files; run 2 adds a third file and is
killed (the whole process group, SIGKILL) at a random moment inside one stage - ingest (dlt),
validate (GX split), transform (dbt build) or export: a uniform delay, up to the stage's length in
a clean run, after the stage starts in the run's own log. While the killed run lies dead, every
answer file must still be readable and equal to run 1's or to the final answers. Then the run is
repeated, and the warehouse (bronze, silver, quarantine, marts, answers: every row, ignoring only
load ids and timestamps) and the answer files must equal those of the clean run: nothing lost,
nothing duplicated.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from flows.exports import ANSWERS
from pipelines.generate import generate
from tests.workspace import Workspace

STAGES = ("ingest", "validate", "transform", "export")
_TASK_OF_STAGE = {
    "ingest_new_files": "ingest",
    "validate_and_split": "validate",
    "build_models": "transform",
    "export_results": "export",
}
_LOG_LINE = re.compile(
    r"^(\d\d:\d\d:\d\d\.\d{3}) \| \w+ +\| (?:Task run '(\w+?)-\w+'|Flow run '[^']+') - (.*)$"
)
# Columns that differ between any two runs by design: load ids, run ids, wall-clock times.
_RUN_SPECIFIC = re.compile(r"(^_dlt_|load_id$|^checkpoint_run_id$|_at$)")
# The stages are found in Prefect's own log lines, which the CLI prints with --verbose.
VERBOSE = "--verbose"
SCHEMAS = ("bronze", "silver", "quarantine", "marts", "answers")


@dataclass
class KillReport:
    kills: int = 0
    by_stage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    failures: list[str] = field(default_factory=list)


def run(workspace: Workspace, env: dict, timeout: float = 600) -> str:
    """Run the pipeline to the end; its output, prefixed with the launch time as a log would print it."""
    launched = datetime.now().strftime("%H:%M:%S.%f")[:-3]
    process = workspace.start(env, VERBOSE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"pipeline exited {process.returncode}: {(stdout + stderr)[-2000:]}")
    return f"{launched} | LAUNCH\n" + stdout + stderr


def run_and_kill(workspace: Workspace, env: dict, stage: str, delay: float) -> str:
    """Start a run; `delay` seconds after `stage` begins (per the run's own log), SIGKILL its whole
    process group. Returns the run's output."""
    process = workspace.start(
        env,
        VERBOSE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    timer = threading.Timer(delay, lambda: os.killpg(process.pid, signal.SIGKILL))
    lines = []
    for line in process.stdout:
        lines.append(line)
        if not timer.is_alive() and not timer.finished.is_set() and _begins(line, stage):
            timer.start()
    process.wait()
    timer.cancel()
    return "".join(lines)


def _begins(line: str, stage: str) -> bool:
    """Whether this log line marks the start of `stage`: the flow's start or the previous task's end."""
    match = _LOG_LINE.match(line.rstrip("\n"))
    if not match:
        return False
    index = STAGES.index(stage)
    if index == 0:
        return "Beginning flow run" in match.group(3)
    previous = next(task for task, name in _TASK_OF_STAGE.items() if name == STAGES[index - 1])
    return match.group(2) == previous and match.group(3).startswith("Finished in state")


def stage_windows(output: str) -> dict[str, tuple[float, float]]:
    """Seconds from the process launch to the start and end of each stage, from a run's log."""
    ends, launch, flow = {}, None, None
    for line in output.splitlines():
        stamp = line[:12]
        try:
            moment = datetime.strptime(stamp, "%H:%M:%S.%f")
        except ValueError:
            continue
        seconds = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
        match = _LOG_LINE.match(line)
        if launch is None and line.endswith("| LAUNCH"):
            launch = seconds
        elif match and flow is None and "Beginning flow run" in match.group(3):
            flow = seconds
        elif match and match.group(2) in _TASK_OF_STAGE and match.group(3).startswith("Finished in state"):
            ends[_TASK_OF_STAGE[match.group(2)]] = seconds
    windows, begin = {}, flow - launch
    for stage in STAGES:
        windows[stage] = (begin, ends[stage] - launch)
        begin = ends[stage] - launch
    return windows


def stage_reached(output: str) -> str:
    """The stage a killed run was in: the first whose task had not finished, once the flow began."""
    began, finished = False, set()
    for line in output.splitlines():
        match = _LOG_LINE.match(line)
        if match:
            began = began or "Beginning flow run" in match.group(3)
            if match.group(2) in _TASK_OF_STAGE and match.group(3).startswith("Finished in state"):
                finished.add(_TASK_OF_STAGE[match.group(2)])
    if not began:
        return "start-up"
    return next((stage for stage in STAGES if stage not in finished), "after export")


def snapshot(workspace: Workspace) -> dict[str, str]:
    """A digest of every table's rows (run-specific columns left out) and of each answer CSV."""
    digests = {}
    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN (SELECT unnest(?::VARCHAR[])) "
            "AND NOT starts_with(table_name, '_dlt') ORDER BY 1, 2",
            [list(SCHEMAS)],
        ).fetchall()
        for schema, table in tables:
            columns = [
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                    [schema, table],
                ).fetchall()
                if not _RUN_SPECIFIC.search(name)
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f'SELECT {select} FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
            digests[f"{schema}.{table}"] = (
                f"{len(rows)} rows " + hashlib.sha256(repr(rows).encode()).hexdigest()
            )
    for name in ANSWERS:
        digests[f"exports/{name}.csv"] = hashlib.sha256(
            (workspace.exports / f"{name}.csv").read_bytes()
        ).hexdigest()
    return digests


def readable_answers(workspace: Workspace) -> dict[str, str]:
    """Each answer CSV parsed (so a half-written file fails here), as a digest of its bytes."""
    answers = {}
    for name in ANSWERS:
        path = workspace.exports / f"{name}.csv"
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        if not rows:
            raise ValueError(f"{path.name} is empty")
        answers[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return answers


def prepare(root: Path, events: int = 3_000) -> tuple[Path, Path]:
    """Two data folders: `first` with two event files, `second` with the same two and one more."""
    second = root / "second"
    generate(second, events, seed=21, n_files=3)
    first = root / "first"
    shutil.copytree(second, first)
    (first / "events" / "part-00003.jsonl").unlink()
    return first, second


def crash_test(kills: int, seed: int, env: dict, scratch: Path, log=print) -> KillReport:
    """Run `kills` kill-and-rerun scenarios spread evenly over the four stages."""
    first, second = prepare(scratch / "data")
    base = Workspace.create(scratch / "base", first)
    run(base, env)
    before = readable_answers(base)
    clean = base.copy_to(scratch / "clean", second)
    windows = stage_windows(run(clean, env))
    expected = snapshot(clean)
    after = readable_answers(clean)
    rng = random.Random(seed)
    report = KillReport()
    for i in range(kills):
        stage = STAGES[i % len(STAGES)]
        low, high = windows[stage]
        workspace = base.copy_to(scratch / f"kill-{i}", second)
        offset = rng.uniform(0, high - low)
        killed_output = run_and_kill(workspace, env, stage, offset)
        reached = stage_reached(killed_output)
        report.kills += 1
        report.by_stage[reached] = report.by_stage.get(reached, 0) + 1
        problems = []
        try:
            answers = readable_answers(workspace)
            for name, digest in answers.items():
                if digest not in (before[name], after[name]):
                    problems.append(f"{name}.csv is neither the previous nor the final answer")
        except (OSError, ValueError) as error:
            problems.append(f"exports unreadable after the kill: {error}")
        run(workspace, env)
        got = snapshot(workspace)
        problems += [
            f"{key}: {got.get(key)} != {value}" for key, value in expected.items() if got.get(key) != value
        ]
        problems += [f"{key}: unexpected" for key in got.keys() - expected.keys()]
        verdict = "; ".join(problems) or "ok"
        log(
            f"kill {i + 1}/{kills}: {offset:.2f} s into {stage} (clean run: {high - low:.2f} s), "
            f"died in {reached}: {verdict}"
        )
        if problems:
            report.failures.append(f"kill {i + 1} ({reached}): " + "; ".join(problems))
        shutil.rmtree(workspace.root)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crash", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    from tests.prefect_server import prefect_server

    with tempfile.TemporaryDirectory() as scratch, prefect_server(Path(scratch) / "prefect-home") as env:
        report = crash_test(args.kills, args.seed, env, Path(scratch))
    print(
        f"{report.kills} kills survived by stage reached: {report.by_stage}; failures: {len(report.failures)}"
    )
    for failure in report.failures:
        print(f"FAILED {failure}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
