"""Write the answers where other tools read them: CSV, Parquet, charts and run_summary.json.

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

# export name -> the analysis model it is read from
ANSWERS = {
    "q1_top_completed_episodes": "analysis.q1_top_completed_episodes",
    "q2_listen_through_rate_by_country": "analysis.q2_listen_through_rate_by_country",
    "q3_multi_episode_listeners": "analysis.q3_multi_episode_listeners",
    "q3_multi_episode_listeners_by_day": "analysis.q3_multi_episode_listeners_by_day",
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
                    lambda path, q=select, o=options: con.execute(f"COPY ({q}) TO '{_sql_path(path)}' {o}"),
                )
            cursor = con.execute(select)
            columns = [column[0] for column in cursor.description]
            answers[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return answers


def write_charts(answers: dict[str, list[dict]], exports_dir: Path, as_of: str) -> list[Path]:
    """Q1 and Q2 as PNG bar charts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = []
    q1 = answers["q1_top_completed_episodes"]
    q2 = answers["q2_listen_through_rate_by_country"]
    for name, rows, label, value, title in (
        (
            "q1_top_completed_episodes.png",
            q1[::-1],
            "episode_id",
            "completions",
            f"Top completed episodes, 7 days to {as_of}",
        ),
        (
            "q2_listen_through_rate_by_country.png",
            q2[::-1],
            "country",
            "avg_listen_through_rate",
            f"Average listen-through rate by country, to {as_of}",
        ),
    ):
        figure, axis = plt.subplots(figsize=(8, 0.45 * max(len(rows), 4) + 1.2))
        axis.barh([str(r[label]) for r in rows], [float(r[value] or 0) for r in rows], color="#3b6ea5")
        axis.set_title(title)
        axis.set_xlabel(value.replace("_", " "))
        figure.tight_layout()
        target = exports_dir / name
        write_atomically(target, lambda path, f=figure: f.savefig(path, format="png", dpi=110))
        plt.close(figure)
        charts.append(target)
    return charts


def write_summary(summary: dict, exports_dir: Path) -> Path:
    text = json.dumps(summary, indent=2, default=str) + "\n"
    return write_atomically(exports_dir / "run_summary.json", lambda path: path.write_text(text))


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
