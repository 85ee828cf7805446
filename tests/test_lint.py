"""The SQL of dbt/ passes sqlfluff (.sqlfluff), so CI, which runs `make test`, lints it too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL_DIRS = ("dbt/models", "dbt/macros", "dbt/tests")


def test_dbt_sql_has_no_sqlfluff_violations() -> None:
    # A subprocess: the templater imports dbt/lint/jinja_context, which has no place in this process.
    lint = subprocess.run(
        [sys.executable, "-m", "sqlfluff", "lint", *SQL_DIRS, "--nocolor"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
