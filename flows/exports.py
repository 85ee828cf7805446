"""Write the answers where other tools read them: CSV, Parquet, charts and run_summary.json.

Every file is written to a temporary name in the exports directory and renamed over the old
one, so a reader never sees a half-written file and a crash leaves the previous exports intact.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import duckdb

# export name -> the answer model it is read from
ANSWERS = {
    "q1_top_completed_episodes": "answers.q1_top_completed_episodes",
    "q2_listen_through_rate_by_country": "answers.q2_listen_through_rate_by_country",
    "q3_multi_episode_listeners": "answers.q3_multi_episode_listeners",
    "q3_multi_episode_listeners_by_day": "answers.q3_multi_episode_listeners_by_day",
}
BAR = "#3b6ea5"


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


CHARTS = (
    "q1_top_completed_episodes",
    "q2_listen_through_rate_by_country",
    "q3_multi_episode_listeners_by_day",
)


def answers_digest(answers: dict[str, list[dict]], as_of: str | None) -> str:
    """What the charts are drawn from: equal digests, equal charts."""
    return hashlib.sha256(json.dumps([answers, as_of], sort_keys=True, default=str).encode()).hexdigest()


def charts_current(exports_dir: Path, digest: str) -> bool:
    """Whether the charts on disk were drawn from answers with this digest (the last summary's)."""
    try:
        previous = json.loads((exports_dir / "run_summary.json").read_text()).get("answers_digest")
    except (OSError, ValueError):
        return False
    return previous == digest and all((exports_dir / f"{name}.png").exists() for name in CHARTS)


def write_charts(answers: dict[str, list[dict]], exports_dir: Path, as_of: str) -> list[Path]:
    """Q1 and Q2 as PNG bar charts, Q3 by day as a PNG line chart: `<answer name>.png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = []
    for name, draw in zip(CHARTS, (_draw_q1, _draw_q2, _draw_q3_by_day), strict=True):
        figure = draw(plt, answers.get(name, []), as_of)
        target = exports_dir / f"{name}.png"
        write_atomically(target, lambda path, f=figure: f.savefig(path, format="png", dpi=110))
        plt.close(figure)
        charts.append(target)
    return charts


def q2_chart_rows(rows: list[dict]) -> list[dict]:
    """Q2 rows in chart order: highest listen-through rate first, ties by country."""
    return sorted(rows, key=lambda row: (-_rate(row), str(row["country"])))


def rate_axis_start(rates: list[float]) -> float:
    """Where the rate axis starts: a hundredth at least half the rates' spread (or 0.01) below the
    lowest, so differences of a few thousandths show; never below 0."""
    if not rates:
        return 0.0
    low, high = min(rates), max(rates)
    below = low - max((high - low) / 2, 0.01)
    return max(0.0, math.floor(round(below * 100, 6)) / 100)


def q3_daily_series(rows: list[dict]) -> list[tuple[date, int]]:
    """Q3 by day as (day, users) for every day from the first to the last; a day without a row
    had no listener with 3+ episodes, so it is 0 rather than a line drawn across the gap."""
    users = {_day(row["day"]): int(row["users"] or 0) for row in rows}
    if not users:
        return []
    first, last = min(users), max(users)
    days = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    return [(day, users.get(day, 0)) for day in days]


def _draw_q1(plt, rows: list[dict], as_of: str):
    rows = rows[::-1]  # rank 1 on top
    figure, axis = plt.subplots(figsize=(8, 0.45 * max(len(rows), 4) + 1.2))
    axis.barh([str(r["episode_id"]) for r in rows], [int(r["completions"] or 0) for r in rows], color=BAR)
    axis.set_title(f"Top completed episodes, 7 days to {as_of}")
    axis.set_xlabel("completions")
    _no_rows(axis, rows)
    figure.tight_layout()
    return figure


def _draw_q2(plt, rows: list[dict], as_of: str):
    rows = q2_chart_rows(rows)[::-1]  # highest rate on top
    rates = [_rate(r) for r in rows]
    start = rate_axis_start(rates)
    figure, axis = plt.subplots(figsize=(8, 0.45 * max(len(rows), 4) + 1.2))
    bars = axis.barh([str(r["country"]) for r in rows], rates, color=BAR)
    axis.bar_label(
        bars,
        labels=[f"{_rate(r):.3f} · {int(r['completions'] or 0):,} completions" for r in rows],
        padding=3,
        fontsize=8,
    )
    if rates:
        high = max(rates)
        axis.set_xlim(start, high + (high - start) * 0.6)  # room for the labels right of the bars
    axis.set_title(f"Average listen-through rate by country, to {as_of}")
    axis.set_xlabel(f"average listen-through rate (axis starts at {start:.2f})")
    _no_rows(axis, rows)
    figure.tight_layout()
    return figure


def _draw_q3_by_day(plt, rows: list[dict], as_of: str):
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import MaxNLocator

    series = q3_daily_series(rows)
    figure, axis = plt.subplots(figsize=(8, 3.6))
    marker = "." if len(series) <= 62 else None  # a dot per day while they can be told apart
    axis.plot([day for day, _ in series], [users for _, users in series], color=BAR, marker=marker, lw=1.2)
    if series:
        locator = AutoDateLocator()
        axis.xaxis.set_major_locator(locator)
        axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlim(series[0][0] - timedelta(days=1), series[-1][0] + timedelta(days=1))
        axis.set_ylim(bottom=0)
    axis.set_title(f"Listeners with 3+ different episodes in a UTC day, to {as_of}")
    axis.set_ylabel("listeners")
    _no_rows(axis, series)
    figure.tight_layout()
    return figure


def _no_rows(axis, rows: list) -> None:
    if not rows:
        axis.set_xticks([])
        axis.set_yticks([])
        axis.text(0.5, 0.5, "no rows", transform=axis.transAxes, ha="center", va="center", color="grey")


def _rate(row: dict) -> float:
    return float(row["avg_listen_through_rate"] or 0)


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def write_summary(summary: dict, exports_dir: Path) -> Path:
    text = json.dumps(summary, indent=2, default=str) + "\n"
    return write_atomically(exports_dir / "run_summary.json", lambda path: path.write_text(text))


def sql_path(path: Path) -> str:
    """A path as the text of a SQL string literal (quotes doubled)."""
    return str(path).replace("'", "''")
