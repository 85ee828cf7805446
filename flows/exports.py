"""Write the answers where other tools read them: CSV, Parquet and run_summary.json (the charts:
flows/charts.py).

Every file is written to a temporary name in the exports directory and renamed over the old
one, so a reader never sees a half-written file and a crash leaves the previous exports intact.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import duckdb

# export name -> the answer model it is read from
ANSWERS = {
    "q1_top_completed_episodes": "answers.q1_top_completed_episodes",
    "q2_listen_through_rate_by_country": "answers.q2_listen_through_rate_by_country",
    "q3_multi_episode_listeners": "answers.q3_multi_episode_listeners",
    "q3_multi_episode_listeners_by_day": "answers.q3_multi_episode_listeners_by_day",
}


@contextmanager
def atomic_path(target: Path):
    """Yield a temporary path beside `target`; on success it replaces `target` in one rename.

    The temporary file is created like any new file (mode 0666 less the umask), not 0600 as
    tempfile.mkstemp makes it, so the renamed export is readable by whoever the umask allows."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_beside(target)
    try:
        yield Path(temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _create_beside(target: Path) -> str:
    """Create an empty, unused `.<name>.<random>.tmp` beside `target`; return its path."""
    while True:
        temporary = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return str(temporary)


def write_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    with atomic_path(target) as temporary:
        write(temporary)
    return target


def export_answers(warehouse: Path, exports_dir: Path) -> dict[str, list[dict]]:
    """Write each answer as CSV and Parquet; return the answers as rows (for artifacts)."""
    answers = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for name, model in ANSWERS.items():
            select = f"SELECT * FROM {model} ORDER BY 1"
            for fmt, options in (("csv", "(FORMAT csv, HEADER true)"), ("parquet", "(FORMAT parquet)")):
                write_atomically(
                    exports_dir / f"{name}.{fmt}",
                    lambda path, q=select, o=options: con.execute(f"COPY ({q}) TO '{sql_path(path)}' {o}"),
                )
            cursor = con.execute(select)
            columns = [column[0] for column in cursor.description]
            answers[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return answers


def write_summary(summary: dict, exports_dir: Path) -> Path:
    text = json.dumps(summary, indent=2, default=str) + "\n"
    return write_atomically(exports_dir / "run_summary.json", lambda path: path.write_text(text))


def sql_path(path: Path) -> str:
    """A path as the text of a SQL string literal (quotes doubled)."""
    return str(path).replace("'", "''")
