"""The answers as charts: Q1 and Q2 as horizontal bars, Q3 by day as a line, SVG files beside
the answers' CSV and Parquet (`<answer name>.svg`), which report.html shows.

Written as SVG text here: a chart is a few dozen shapes, and a plotting library costs a run
more to import and start than the drawing itself (README, "Measured figures"). Charts are drawn
again only when the answers they show changed (`charts_current`).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, timedelta
from html import escape
from pathlib import Path

from flows.exports import write_atomically

CHARTS = (
    "q1_top_completed_episodes",
    "q2_listen_through_rate_by_country",
    "q3_multi_episode_listeners_by_day",
)
BAR = "#3b6ea5"
WIDTH = 800
ROW = 26  # height of one bar's row
CHAR_WIDTH = 7.2  # a 12px character at most, on average: room for labels
MARKED_DAYS = 62  # a dot per day while they can be told apart
MOST_DAY_LABELS = 8


def answers_digest(answers: dict[str, list[dict]], as_of: str | None) -> str:
    """What the charts are drawn from: equal digests, equal charts."""
    return hashlib.sha256(json.dumps([answers, as_of], sort_keys=True, default=str).encode()).hexdigest()


def charts_current(exports_dir: Path, digest: str) -> bool:
    """Whether the charts on disk were drawn from answers with this digest (the last summary's)."""
    try:
        previous = json.loads((exports_dir / "run_summary.json").read_text()).get("answers_digest")
    except (OSError, ValueError):
        return False
    return previous == digest and all(chart_path(exports_dir, name).exists() for name in CHARTS)


def chart_path(exports_dir: Path, name: str) -> Path:
    return exports_dir / f"{name}.svg"


def write_charts(answers: dict[str, list[dict]], exports_dir: Path, as_of: str) -> list[Path]:
    """Each chart of CHARTS drawn from its answer's rows, written atomically; their paths."""
    charts = []
    for name, draw in zip(CHARTS, (q1_chart, q2_chart, q3_by_day_chart), strict=True):
        svg = draw(answers.get(name, []), as_of)
        charts.append(write_atomically(chart_path(exports_dir, name), lambda path, s=svg: path.write_text(s)))
        # the PNG an earlier version drew of this chart: stale beside the SVG, and linked nowhere
        chart_path(exports_dir, name).with_suffix(".png").unlink(missing_ok=True)
    return charts


# ---------------------------------------------------------------------------- the three charts
def q1_chart(rows: list[dict], as_of: str) -> str:
    """Completions per episode, rank 1 on top."""
    values = [int(row["completions"] or 0) for row in rows]
    high, ticks = _axis(0, max(max(values, default=0), 1), integer=True)
    return _bars(
        f"Top completed episodes, 7 days to {as_of}",
        [str(row["episode_id"]) for row in rows],
        values,
        (0, high, ticks),
        "completions",
        [f"{value:,}" for value in values],
    )


def q2_chart(rows: list[dict], as_of: str) -> str:
    """Listen-through rate per country, highest on top, on an axis where differences show."""
    rows = q2_chart_rows(rows)
    rates = [_rate(row) for row in rows]
    start = rate_axis_start(rates)
    high = max(rates, default=start + 0.01)
    stop = high + max(high - start, 0.01) * 0.6  # room for the labels right of the bars
    return _bars(
        f"Average listen-through rate by country, to {as_of}",
        [str(row["country"]) for row in rows],
        rates,
        (start, stop, _ticks(start, stop, integer=False)),
        f"average listen-through rate (axis starts at {start:.2f})",
        [f"{_rate(row):.3f} · {int(row['completions'] or 0):,} completions" for row in rows],
    )


def q3_by_day_chart(rows: list[dict], as_of: str) -> str:
    """Listeners with 3+ episodes per day, every day from the first to the last."""
    title = f"Listeners with 3+ different episodes in a UTC day, to {as_of}"
    series = q3_daily_series(rows)
    height, left, right, top, bottom = 360, 64, WIDTH - 24, 44, 360 - 48
    if not series:
        return _svg(height, title, _no_rows(height))
    high, ticks = _axis(0, max(users for _, users in series) or 1, integer=True)
    days = len(series)

    def x(index: float) -> float:  # a day of margin either side
        return left + (index + 1) / (days + 1) * (right - left)

    def y(value: float) -> float:
        return bottom - value / high * (bottom - top)

    shapes = _value_grid(ticks, y, left, right)
    shapes.append(_text(left - 48, (top + bottom) / 2, "listeners", rotate=True))
    step = next(s for s in (1, 2, 7, 14, 28, 56, 91, 182, 364, days) if days / s <= MOST_DAY_LABELS)
    for index in range(0, days, step):
        shapes.append(
            f'<line x1="{x(index):.1f}" y1="{bottom}" x2="{x(index):.1f}" y2="{bottom + 4}" stroke="#444"/>'
        )
        shapes.append(_text(x(index), bottom + 18, series[index][0].isoformat(), anchor="middle"))
    points = " ".join(f"{x(i):.1f},{y(users):.1f}" for i, (_, users) in enumerate(series))
    shapes.append(
        f'<polyline class="series" points="{points}" fill="none" stroke="{BAR}" stroke-width="1.5"/>'
    )
    if days <= MARKED_DAYS:
        shapes += [
            f'<circle cx="{x(i):.1f}" cy="{y(u):.1f}" r="2.5" fill="{BAR}"/>'
            for i, (_, u) in enumerate(series)
        ]
    return _svg(height, title, shapes)


# ---------------------------------------------------------------------------- chart data
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


def _ticks(low: float, high: float, integer: bool, most: int = 6) -> list[float]:
    """Round values from `low` to `high` to mark an axis: a step of 1, 2 or 5 times a power of
    ten (at least 1 when `integer`), at most `most` steps."""
    span = max(high - low, 1e-9)
    step = 10 ** math.floor(math.log10(span / most))
    step *= next(factor for factor in (1, 2, 5, 10) if span / (step * factor) <= most)
    step = max(step, 1) if integer else step
    first = math.ceil(round(low / step, 9)) * step
    return [round(first + i * step, 9) for i in range(int(round((high - first) / step, 9)) + 1)]


def _axis(low: float, high: float, integer: bool) -> tuple[float, list[float]]:
    """An axis from `low` up to its first tick at or above `high`: (its end, its ticks)."""
    ticks = _ticks(low, high, integer)
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + _step(ticks), 9))
    return ticks[-1], ticks


def _step(ticks: list[float]) -> float:
    return ticks[1] - ticks[0] if len(ticks) > 1 else 1


# ---------------------------------------------------------------------------- SVG
def _bars(title: str, labels: list[str], values: list[float], axis, axis_label: str, value_labels) -> str:
    """Horizontal bars, the first row on top, each with its value's label right of it."""
    start, stop, ticks = axis
    shown = max(len(labels), 4)
    height = 44 + ROW * shown + 52
    if not labels:
        return _svg(height, title, _no_rows(height))
    left = 16 + CHAR_WIDTH * max(len(label) for label in labels)
    right, top, bottom = WIDTH - 24, 44, 44 + ROW * shown

    def x(value: float) -> float:
        return left + (value - start) / (stop - start) * (right - left)

    shapes = []
    for tick in ticks:
        shapes.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{bottom}" stroke="#ddd"/>')
        shapes.append(_text(x(tick), bottom + 16, _tick_label(tick, ticks), anchor="middle"))
    shapes.append(_text((left + right) / 2, bottom + 38, axis_label, anchor="middle"))
    for index, (label, value, value_label) in enumerate(zip(labels, values, value_labels, strict=True)):
        y = top + index * ROW
        width = max(x(value) - x(start), 0)
        shapes.append(
            f'<rect class="bar" x="{x(start):.1f}" y="{y + 4}" width="{width:.1f}" height="{ROW - 8}" '
            f'fill="{BAR}">'
            f"<title>{escape(label)}: {escape(value_label)}</title></rect>"
        )
        shapes.append(_text(left - 6, y + ROW / 2 + 4, label, anchor="end"))
        shapes.append(_text(x(start) + width + 4, y + ROW / 2 + 4, value_label, size=11))
    shapes.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#444"/>')
    return _svg(height, title, shapes)


def _value_grid(ticks: list[float], position, left: float, right: float) -> list[str]:
    """Horizontal grid lines at the ticks of a vertical axis, labelled left of it."""
    shapes = []
    for tick in ticks:
        y = position(tick)
        shapes.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ddd"/>')
        shapes.append(_text(left - 6, y + 4, _tick_label(tick, ticks), anchor="end"))
    return shapes


def _tick_label(value: float, ticks: list[float]) -> str:
    """A tick's value: whole numbers with thousands separators, else the decimals its step needs."""
    if all(float(tick).is_integer() for tick in ticks):
        return f"{int(value):,}"
    return f"{value:.{max(0, -math.floor(math.log10(_step(ticks))))}f}"


def _no_rows(height: int) -> list[str]:
    return [_text(WIDTH / 2, height / 2, "no rows", anchor="middle", fill="grey")]


def _text(
    x: float, y: float, text: str, anchor: str = "start", size: int = 12, fill: str = "#222", rotate=False
) -> str:
    turn = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{turn}>'
        f"{escape(text)}</text>"
    )


def _svg(height: int, title: str, shapes: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">\n'
        f"<title>{escape(title)}</title>\n"
        '<rect width="100%" height="100%" fill="white"/>\n'
        f"{_text(WIDTH / 2, 24, title, anchor='middle', size=14)}\n" + "\n".join(shapes) + "\n</svg>\n"
    )


def _rate(row: dict) -> float:
    return float(row["avg_listen_through_rate"] or 0)


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
