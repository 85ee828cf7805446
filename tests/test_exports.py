"""Exports: file modes, chart data and the HTML report, from answers and a summary built by hand."""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import stat
import subprocess
import tempfile
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import duckdb
import pytest

from flows.charts import q2_chart_rows, q3_daily_series, rate_axis_start, write_charts
from flows.exports import ANSWERS, export_answers, write_summary
from flows.report import ARTIFACT_KEY, publish_report_link, write_report

AS_OF = "2024-06-23"
SVG = "http://www.w3.org/2000/svg"
TITLE_WITH_MARKUP = "<script>alert('x')</script> & more"
CHROMIUM_OFFLINE = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--proxy-server=127.0.0.1:9",  # nothing listens there: any request would fail
    "--host-resolver-rules=MAP * ~NOTFOUND",
]

# answer model -> (columns, rows): a few rows of each answer, a title with markup in it
WAREHOUSE_TABLES = {
    "q1_top_completed_episodes": (
        "rank BIGINT, episode_id VARCHAR, title VARCHAR, podcast_id VARCHAR, completions BIGINT",
        [
            (1, "ep_9", 'Show 3, episode 9: "The long game"', "pod_3", 32),
            (2, "ep_5", TITLE_WITH_MARKUP, "pod_2", 26),
            (3, "ep_404", None, "unknown", 3),
        ],
    ),
    "q2_listen_through_rate_by_country": (
        "country VARCHAR, avg_listen_through_rate DOUBLE, completions BIGINT",
        [("AU", 0.930956, 235), ("GB", 0.940474, 586), ("US", 0.937532, 1551), ("unknown", 0.923565, 12)],
    ),
    "q3_multi_episode_listeners": ("users_with_3plus_episodes_in_a_day BIGINT", [(19,)]),
    "q3_multi_episode_listeners_by_day": (
        "day DATE, users BIGINT",
        [("2024-06-18", 1), ("2024-06-20", 3), ("2024-06-21", 2)],
    ),
}


def make_warehouse(path: Path) -> Path:
    """A DuckDB file holding only the answer tables export_answers reads."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA answers")
        for name, (columns, rows) in WAREHOUSE_TABLES.items():
            con.execute(f"CREATE TABLE answers.{name} ({columns})")
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO answers.{name} VALUES ({marks})", rows)
    return path


def summary_for(exports_dir: Path) -> dict:
    """A run summary in the shape the pipeline writes."""
    return {
        "as_of": AS_OF,
        "this_run": {
            "files": 2,
            "lines_read": 10_002,
            "events": {"loaded": 10_000, "valid": 9_719, "quarantined": 281, "new": 9_590, "duplicates": 129},
            "quarantine_reasons": {"duration_present": 44, "timestamp_real_instant": 6},
            "revalidated": {"events": {"rows": 0, "to_quarantine": 0, "to_silver": 0}},
        },
        "warehouse": {
            "events": {
                "bronze": 20_000,
                "valid": 19_719,
                "quarantined": 281,
                "distinct": 19_590,
                "duplicates_removed": 129,
            }
        },
        "warnings": ["user_in_reference: 1.20 % of rows"],
        "files": [
            {
                "source_file": "events/part-00001.jsonl",
                "status": "loaded",
                "lines_read": 5_001,
                "rows_loaded": 5_000,
                "error": None,
            },
            {
                "source_file": "events/part-00002.jsonl",
                "status": "failed",
                "lines_read": 0,
                "rows_loaded": 0,
                "error": "not UTF-8 <at byte 7>",
            },
        ],
        "seconds": {"startup": 1.2, "ingest": 1.4, "validate": 2.4, "transform": 3.1, "export": 0.8},
        "exports_dir": str(exports_dir),
        "data_docs": str(exports_dir.parent / "gx/uncommitted/data_docs/local_site/index.html"),
    }


def write_all_exports(warehouse: Path, exports_dir: Path) -> dict[str, list[dict]]:
    """Everything the export stage writes, in the pipeline's order."""
    answers = export_answers(warehouse, exports_dir)
    write_charts(answers, exports_dir, AS_OF)
    summary = summary_for(exports_dir)
    write_summary(summary, exports_dir)
    write_report(summary, answers, exports_dir)
    return answers


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return make_warehouse(tmp_path / "warehouse.duckdb")


# ---------------------------------------------------------------------------- file modes
@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask-022", "umask-027"])
def test_every_export_follows_the_umask(warehouse: Path, tmp_path: Path, umask: int) -> None:
    exports_dir = tmp_path / "exports"
    exports_dir.mkdir()
    # an old export left 0600 by an earlier version is replaced by a file with the umask's mode
    (exports_dir / "run_summary.json").write_text("{}")
    (exports_dir / "run_summary.json").chmod(0o600)
    previous = os.umask(umask)
    try:
        write_all_exports(warehouse, exports_dir)
    finally:
        os.umask(previous)

    expected = {f"{name}.{fmt}" for name in ANSWERS for fmt in ("csv", "parquet")} | {
        "q1_top_completed_episodes.svg",
        "q2_listen_through_rate_by_country.svg",
        "q3_multi_episode_listeners_by_day.svg",
        "run_summary.json",
        "report.html",
    }
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in exports_dir.iterdir()}
    assert set(modes) == expected  # every file the directory gets, and no temporary left behind
    assert modes == dict.fromkeys(expected, 0o666 & ~umask)


# ---------------------------------------------------------------------------- charts
def test_q2_chart_is_sorted_by_rate_on_an_axis_where_differences_show() -> None:
    rows = [
        {"country": "AU", "avg_listen_through_rate": 0.930956, "completions": 235},
        {"country": "BR", "avg_listen_through_rate": 0.936771, "completions": 392},
        {"country": "GB", "avg_listen_through_rate": 0.940474, "completions": 586},
        {"country": "IN", "avg_listen_through_rate": 0.936771, "completions": 274},
        {"country": "unknown", "avg_listen_through_rate": 0.923565, "completions": 12},
    ]
    assert [row["country"] for row in q2_chart_rows(rows)] == ["GB", "BR", "IN", "AU", "unknown"]
    assert q2_chart_rows([]) == []

    # spread 0.017: the axis starts at 0.91, half the spread below the lowest, on a hundredth
    assert rate_axis_start([row["avg_listen_through_rate"] for row in rows]) == 0.91
    assert rate_axis_start([0.5]) == 0.49
    assert rate_axis_start([0.2, 0.95]) == 0.0
    assert rate_axis_start([]) == 0.0


def test_q3_by_day_fills_days_without_a_row_with_zero() -> None:
    rows = [{"day": date(2024, 6, 18), "users": 1}, {"day": "2024-06-21", "users": 2}]
    assert q3_daily_series(rows) == [
        (date(2024, 6, 18), 1),
        (date(2024, 6, 19), 0),
        (date(2024, 6, 20), 0),
        (date(2024, 6, 21), 2),
    ]
    assert q3_daily_series([]) == []


def svg_of(path: Path) -> ElementTree.Element:
    """A chart's SVG document, parsed (it fails on a file that is not well-formed XML)."""
    root = ElementTree.fromstring(path.read_text())
    assert root.tag == f"{{{SVG}}}svg"
    return root


def texts_of(svg: ElementTree.Element) -> list[str]:
    return [element.text for element in svg.iter(f"{{{SVG}}}text")]


def bars_of(svg: ElementTree.Element) -> list[tuple[float, float]]:
    """(top, width) of each bar, top to bottom as drawn."""
    bars = [e for e in svg.iter(f"{{{SVG}}}rect") if e.get("class") == "bar"]
    return [(float(bar.get("y")), float(bar.get("width"))) for bar in bars]


def test_charts_draw_a_bar_per_row_in_order_with_its_label(tmp_path: Path) -> None:
    answers = {
        "q1_top_completed_episodes": [
            {"rank": 1, "episode_id": "ep_0007", "completions": 1_250},
            {"rank": 2, "episode_id": "ep_0003", "completions": 500},
        ],
        "q2_listen_through_rate_by_country": [
            {"country": "US", "avg_listen_through_rate": 0.91, "completions": 40},
            {"country": "GB", "avg_listen_through_rate": 0.95, "completions": 30},
            {"country": "<b>", "avg_listen_through_rate": 0.93, "completions": 7},
        ],
        "q3_multi_episode_listeners_by_day": [
            {"day": date(2024, 6, 18), "users": 3},
            {"day": date(2024, 6, 20), "users": 1},
        ],
    }
    q1, q2, q3 = (svg_of(path) for path in write_charts(answers, tmp_path, AS_OF))

    (first_top, first_width), (second_top, second_width) = bars_of(q1)
    assert first_top < second_top  # rank 1 on top
    assert second_width / first_width == pytest.approx(500 / 1_250, abs=0.01)  # the axis starts at 0
    assert {"ep_0007", "1,250", "ep_0003", "500", f"Top completed episodes, 7 days to {AS_OF}"} <= set(
        texts_of(q1)
    )

    widths = [width for _, width in bars_of(q2)]
    assert widths == sorted(widths, reverse=True)  # highest rate on top
    labels = texts_of(q2)
    assert labels.index("GB") < labels.index("<b>") < labels.index("US")  # escaped, read back as text
    assert "0.950 · 30 completions" in labels
    assert "average listen-through rate (axis starts at 0.89)" in labels

    (line,) = [e for e in q3.iter(f"{{{SVG}}}polyline")]
    points = [tuple(map(float, point.split(","))) for point in line.get("points").split()]
    assert len(points) == 3  # the day without a row is drawn as 0
    assert points[1][1] > points[2][1] > points[0][1]  # 0 lowest, then 1, then 3 (y grows down)
    assert "2024-06-18" in texts_of(q3)


def test_charts_are_drawn_for_answers_without_rows(tmp_path: Path) -> None:
    (tmp_path / "q1_top_completed_episodes.png").write_bytes(b"a chart of an earlier version")
    (tmp_path / "q1_top_completed_episodes.csv").write_text("rank\n")
    charts = write_charts(dict.fromkeys(ANSWERS, []), tmp_path, AS_OF)
    assert [path.name for path in charts] == [
        "q1_top_completed_episodes.svg",
        "q2_listen_through_rate_by_country.svg",
        "q3_multi_episode_listeners_by_day.svg",
    ]
    # the PNG an earlier version drew is gone; the other files stay
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*(p.name for p in charts), "q1_top_completed_episodes.csv"]
    )
    for path in charts:
        svg = svg_of(path)
        assert "no rows" in texts_of(svg) and not bars_of(svg)

    zeros = {
        "q1_top_completed_episodes": [{"episode_id": "ep_1", "completions": 0}],
        "q2_listen_through_rate_by_country": [
            {"country": "US", "avg_listen_through_rate": 0, "completions": 0}
        ],
        "q3_multi_episode_listeners_by_day": [{"day": "2024-06-18", "users": 0}],
    }
    q1, q2, _ = (svg_of(path) for path in write_charts(zeros, tmp_path, AS_OF))
    assert bars_of(q1) == [(bars_of(q1)[0][0], 0.0)] and bars_of(q2) == [(bars_of(q2)[0][0], 0.0)]


# ---------------------------------------------------------------------------- report
class _Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(page: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def test_report_is_self_contained_and_escapes_the_data(warehouse: Path, tmp_path: Path) -> None:
    exports_dir = tmp_path / "exports"
    write_all_exports(warehouse, exports_dir)
    page = (exports_dir / "report.html").read_text()

    tags = tags_of(page)
    assert not [tag for tag, _ in tags if tag in {"script", "link", "iframe", "object", "embed"}]
    assert not re.search(r"https?:|@import|url\(", page)
    images = [attrs["src"] for tag, attrs in tags if tag == "img"]
    assert len(images) == 2  # the Q2 and Q3 charts
    for src in images:
        assert src.startswith("data:image/svg+xml;base64,")
        assert ElementTree.fromstring(base64.b64decode(src.split(",", 1)[1])).tag == f"{{{SVG}}}svg"
    links = [attrs["href"] for tag, attrs in tags if tag == "a"]
    assert (exports_dir.parent / "gx/uncommitted/data_docs/local_site/index.html").as_uri() in links
    files = [link for link in links if not link.startswith(("#", "file:"))]
    assert {f"{name}.{fmt}" for name in ANSWERS for fmt in ("csv", "parquet")} <= set(files)
    assert all((exports_dir / link).is_file() for link in files)  # relative, beside the report

    assert "<script>alert" not in page and html.escape(TITLE_WITH_MARKUP) in page
    assert html.escape('Show 3, episode 9: "The long game"') in page
    assert "not UTF-8 &lt;at byte 7&gt;" in page
    # Q2 in the table as in the chart: highest rate first
    q2 = page[page.index('id="q2"') : page.index('id="q3"')]
    assert re.findall(r"<tr><td>(\w+)</td>", q2) == ["GB", "US", "AU", "unknown"]


def test_report_of_answers_without_rows_and_a_sparse_summary(tmp_path: Path) -> None:
    page = write_report({"as_of": AS_OF}, dict.fromkeys(ANSWERS, []), tmp_path).read_text()
    assert "No rows." in page and "No row was quarantined." in page and "No warnings." in page
    assert "Chart not written (q2_listen_through_rate_by_country.svg is missing)" in page
    assert "Data docs: not in the run summary." in page


def test_report_link_is_published_as_a_link_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect.artifacts

    published = []
    monkeypatch.setattr(prefect.artifacts, "create_link_artifact", lambda **kwargs: published.append(kwargs))
    publish_report_link(tmp_path / "report.html")
    (artifact,) = published
    assert re.fullmatch(r"[a-z0-9-]+", artifact["key"]) and artifact["key"] == ARTIFACT_KEY
    assert artifact["link"] == (tmp_path / "report.html").as_uri() and artifact["link_text"]


def rendered_offline(page: Path) -> tuple[str, str]:
    """The DOM Chromium built from `page` with every network request failing, and its text."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is required (.ci/run installs it)"
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [chromium, *CHROMIUM_OFFLINE, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return dom, html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)))


@pytest.mark.slow
def test_report_renders_offline_with_the_answers_and_quality(warehouse: Path, tmp_path: Path) -> None:
    exports_dir = tmp_path / "exports"
    write_all_exports(warehouse, exports_dir)
    dom, text = rendered_offline(exports_dir / "report.html")

    assert 'Show 3, episode 9: "The long game" ep_9 pod_3 32' in text  # Q1, top episode
    assert "GB 0.940 586" in text  # Q2, a country's rate and completions
    assert "19 distinct listeners who" in text  # Q3
    assert "duration_present 44" in text and "timestamp_real_instant 6" in text
    assert "user_in_reference: 1.20 % of rows" in text
    assert "events/part-00002.jsonl failed 0 0 not UTF-8 <at byte 7>" in text
    # the title with markup is text on the page, not an element
    assert TITLE_WITH_MARKUP in text and "<script" not in dom
    assert dom.count('<img src="data:image/svg+xml;base64,') == 2
