"""One self-contained HTML page of a run: the three answers, its data quality, warnings and links.

Standard library only. The charts are the SVG files write_charts left in the exports directory,
embedded as data URIs, and the CSS is inline, so the page opens offline, with nothing to fetch.
Every value from the data or the summary is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from urllib.parse import quote

from flows.charts import chart_path, q2_chart_rows, rate_axis_start
from flows.exports import ANSWERS, write_atomically

REPORT_NAME = "report.html"
ARTIFACT_KEY = "report"  # Prefect artifact keys: lowercase letters, digits and dashes
FILE_STATUS_CLASS = {"loaded": "ok", "partial": "warn", "unreadable": "bad"}

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2733;
       max-width: 60rem; margin: 0 auto; padding: 1.5rem; background: #fbfbfd; }
h1 { margin-bottom: 0; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d9dee5; }
nav a { margin-right: 1rem; } .muted { color: #67727e; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1.2rem 0; }
.card { flex: 1 1 10rem; background: #fff; border: 1px solid #d9dee5; border-radius: 6px;
        padding: .7rem 1rem; }
.card b { display: block; font-size: 1.6rem; color: #3b6ea5; }
table { border-collapse: collapse; margin: .6rem 0 1rem; background: #fff; }
th, td { border-bottom: 1px solid #e4e8ee; padding: .3rem .8rem; text-align: left; vertical-align: top; }
th { background: #eef2f7; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #e4e8ee; background: #fff; }
.status { padding: 0 .4rem; border-radius: 4px; background: #e4e8ee; }
.ok { background: #dcf2e3; } .warn { background: #fff1c2; } .bad { background: #fbd9d9; }
.warnings { padding: 0; }
.warnings li { background: #fff1c2; margin: .2rem 0; padding: .2rem .5rem; list-style: none; }
"""


class _Html(str):
    """Markup built here from escaped parts: a table cell that is not escaped again."""


def write_report(summary: dict, answers: dict[str, list[dict]], exports_dir: Path) -> Path:
    """Render the report and write it atomically as `report.html` in the exports directory."""
    page = render_report(summary, answers, exports_dir)
    return write_atomically(exports_dir / REPORT_NAME, lambda path: path.write_text(page, encoding="utf-8"))


def publish_report_link(report: Path) -> None:
    """Link the report from the flow run as a Prefect link artifact (key `report`)."""
    from prefect.artifacts import create_link_artifact

    create_link_artifact(
        key=ARTIFACT_KEY,
        link=Path(report).absolute().as_uri(),
        link_text="Podcast listening report",
        description="The answers, data quality and warnings of this run, as one HTML page",
    )


def render_report(summary: dict, answers: dict[str, list[dict]], exports_dir: Path) -> str:
    """The page as a string; the charts are read from `exports_dir`."""
    as_of = summary.get("as_of") or "—"
    sections = [
        _headline(summary, answers),
        _q1(answers.get("q1_top_completed_episodes", [])),
        _q2(answers.get("q2_listen_through_rate_by_country", []), exports_dir),
        _q3(answers, exports_dir),
        _quality(summary),
        _warnings(summary.get("warnings") or []),
        _links(summary),
    ]
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Podcast listening report, as of {_e(as_of)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Podcast listening report</h1>
<p class="muted">As of {_e(as_of)}{_seconds(summary.get("seconds") or {})}</p>
<nav><a href="#q1">Q1 episodes</a><a href="#q2">Q2 countries</a><a href="#q3">Q3 listeners</a>
<a href="#quality">Data quality</a><a href="#warnings">Warnings</a>
<a href="#links">Data docs and exports</a></nav>
{"".join(sections)}
</body>
</html>
"""


# ---------------------------------------------------------------------------- answers
def _headline(summary: dict, answers: dict[str, list[dict]]) -> str:
    events = (summary.get("this_run") or {}).get("events") or {}
    q1 = answers.get("q1_top_completed_episodes", [])
    q2 = q2_chart_rows(answers.get("q2_listen_through_rate_by_country", []))
    cards = [
        (_q3_total(answers), "listeners with 3+ episodes in a day"),
        (
            _n(q1[0]["completions"]) if q1 else "—",
            f"completions of the top episode ({_title(q1[0])})" if q1 else "top episode",
        ),
        (
            _rate(q2[0]["avg_listen_through_rate"]) if q2 else "—",
            f"highest listen-through rate ({q2[0]['country']})" if q2 else "listen-through rate",
        ),
        (_n(events.get("valid")), "valid events this run"),
        (_n(events.get("quarantined")), "quarantined events this run"),
        (_n(len(summary.get("warnings") or [])), "warnings"),
    ]
    return (
        '<div class="cards">'
        + "".join(f"<div class=card><b>{_e(v)}</b>{_e(label)}</div>" for v, label in cards)
        + "</div>\n"
    )


def _q1(rows: list[dict]) -> str:
    table = _table(
        ["Rank", "Episode", "Podcast", "Completions"],
        [
            [
                r["rank"],
                _Html(f"{_e(_title(r))} <span class=muted>{_e(r['episode_id'])}</span>"),
                r["podcast_id"],
                r["completions"],
            ]
            for r in rows
        ],
        numeric={0, 3},
    )
    return f'<h2 id="q1">Q1 · Top completed episodes, the 7 days to the as-of date</h2>\n{table}'


def _q2(rows: list[dict], exports_dir: Path) -> str:
    table = _table(
        ["Country", "Avg listen-through rate", "Completions"],
        [[r["country"], _rate(r["avg_listen_through_rate"]), r["completions"]] for r in q2_chart_rows(rows)],
        numeric={1, 2},
    )
    start = rate_axis_start([float(r["avg_listen_through_rate"] or 0) for r in rows])
    return (
        '<h2 id="q2">Q2 · Average listen-through rate by country</h2>\n'
        "<p class=muted>Completed plays: listened duration / episode duration, averaged per listener"
        f" country, highest first. The chart's axis starts at {start:.2f}.</p>\n"
        + _chart(exports_dir, "q2_listen_through_rate_by_country", "Listen-through rate by country")
        + table
    )


def _q3(answers: dict[str, list[dict]], exports_dir: Path) -> str:
    by_day = answers.get("q3_multi_episode_listeners_by_day", [])
    peak = max(by_day, key=lambda r: r["users"] or 0, default=None)
    peak_text = f"; the busiest day was {_e(peak['day'])} with {_e(_n(peak['users']))}" if peak else ""
    return (
        '<h2 id="q3">Q3 · Listeners with 3 or more different episodes in one day</h2>\n'
        f'<div class="cards"><div class=card><b>{_e(_q3_total(answers))}</b>distinct listeners who,'
        " on at least one UTC day, played or completed 3+ different episodes</div></div>\n"
        f"<p class=muted>By day: {_n(len(by_day))} days with such listeners{peak_text}.</p>\n"
        + _chart(exports_dir, "q3_multi_episode_listeners_by_day", "Listeners with 3+ episodes, by day")
    )


def _q3_total(answers: dict[str, list[dict]]) -> str:
    rows = answers.get("q3_multi_episode_listeners", [])
    return _n(rows[0]["users_with_3plus_episodes_in_a_day"]) if rows else "—"


# ---------------------------------------------------------------------------- data quality
def _quality(summary: dict) -> str:
    run = summary.get("this_run") or {}
    events = run.get("events") or {}
    loaded = events.get("loaded") or 0
    reasons = run.get("quarantine_reasons") or {}
    revalidated = ((run.get("revalidated") or {}).get("events")) or {}
    stored = (summary.get("warehouse") or {}).get("events") or {}
    parts = [
        '<h2 id="quality">Data quality</h2>\n<h3>This run</h3>\n',
        _table(
            ["Files", "Lines read", "Events loaded", "Valid", "Quarantined", "New", "Duplicates"],
            [
                [
                    run.get("files"),
                    run.get("lines_read"),
                    *(events.get(k) for k in ("loaded", "valid", "quarantined", "new", "duplicates")),
                ]
            ],
            numeric=set(range(7)),
        ),
        "<h3>Quarantined, by rule</h3>\n",
        _table(
            ["Rule", "Rows", "Share of loaded events"],
            [
                [rule, rows, f"{rows / loaded:.2%}" if loaded else "—"]
                for rule, rows in sorted(reasons.items(), key=lambda kv: -kv[1])
            ],
            numeric={1, 2},
            empty="No row was quarantined.",
        ),
        "<p class=muted>A row failing several rules counts under each.</p>\n" if reasons else "",
    ]
    if revalidated.get("rows"):
        parts.append(
            f"<p>Quarantined rows revalidated: {_e(_n(revalidated['rows']))};"
            f" {_e(_n(revalidated.get('to_silver')))} now pass,"
            f" {_e(_n(revalidated.get('to_quarantine')))} stay quarantined.</p>\n"
        )
    parts += [
        "<h3>Warehouse, all runs</h3>\n",
        _table(
            ["Events in bronze", "Valid", "Quarantined", "Distinct", "Duplicates removed"],
            [[stored.get(k) for k in ("bronze", "valid", "quarantined", "distinct", "duplicates_removed")]]
            if stored
            else [],
            numeric=set(range(5)),
        ),
        "<h3>Files</h3>\n",
        _table(
            ["File", "Status", "Lines read", "Rows loaded", "Error"],
            [
                [
                    f["source_file"],
                    _status(f.get("status")),
                    f.get("lines_read"),
                    f.get("rows_loaded"),
                    f.get("error") or "",
                ]
                for f in summary.get("files") or []
            ],
            numeric={2, 3},
            empty="No new file in this run.",
        ),
    ]
    return "".join(parts)


def _warnings(warnings: list[str]) -> str:
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    body = f'<ul class="warnings">{items}</ul>' if warnings else "<p>No warnings.</p>"
    return f'<h2 id="warnings">Warnings</h2>\n{body}\n'


# ---------------------------------------------------------------------------- links
def _links(summary: dict) -> str:
    docs = summary.get("data_docs")
    docs_link = (
        f'<a href="{_e(Path(docs).absolute().as_uri())}">Data docs</a>'
        " (validation results of every contract rule)"
        if docs
        else "Data docs: not in the run summary."
    )
    rows = [
        [
            name,
            _Html(
                " · ".join(
                    f'<a href="{_e(quote(f"{name}.{fmt}"))}">{fmt.upper()}</a>' for fmt in ("csv", "parquet")
                )
            ),
        ]
        for name in ANSWERS
    ]
    return (
        '<h2 id="links">Data docs and exports</h2>\n'
        f"<p>{docs_link}</p>\n"
        + _table(["Answer", "Files"], rows)
        + '<p>Run summary: <a href="run_summary.json">run_summary.json</a></p>\n'
    )


# ---------------------------------------------------------------------------- helpers
def _chart(exports_dir: Path, name: str, alt: str) -> str:
    path = chart_path(exports_dir, name)
    if not path.is_file():
        return f"<p class=muted>Chart not written ({_e(path.name)} is missing).</p>\n"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<p><img src="data:image/svg+xml;base64,{data}" alt="{_e(alt)}"></p>\n'


def _table(
    headers: list[str],
    rows: list[list],
    numeric: frozenset[int] | set[int] = frozenset(),
    empty: str = "No rows.",
) -> str:
    if not rows:
        return f"<p class=muted>{_e(empty)}</p>\n"

    def cell(tag: str, index: int, value) -> str:
        attribute = ' class="n"' if index in numeric else ""
        text = value if isinstance(value, _Html) else _e(_n(value))
        return f"<{tag}{attribute}>{text}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>\n" for row in rows)
    return f"<table>\n<tr>{head}</tr>\n{body}</table>\n"


def _status(status) -> _Html:
    return _Html(f'<span class="status {FILE_STATUS_CLASS.get(status, "")}">{_e(status)}</span>')


def _seconds(seconds: dict) -> str:
    if not seconds:
        return ""
    stages = ", ".join(f"{stage} {value:.1f}" for stage, value in seconds.items())
    return f" · run took {sum(seconds.values()):.1f} s ({_e(stages)})"


def _title(row: dict) -> str:
    return row.get("title") or f"{row['episode_id']} (not in episodes.csv)"


def _rate(value) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def _n(value) -> str:
    """Counts with thousands separators; anything else as text, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _e(value) -> str:
    return html.escape(str(value), quote=True)
