"""GX data docs, as a reviewer sees them: rendered by headless Chromium."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from gx.validate import validate
from pipelines.ingest import ingest
from pipelines.settings import Settings
from tests.conftest import event, write_lines

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def rendered_text(page: Path) -> str:
    """The page's text after Chromium ran its scripts (fails if Chromium is missing)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is required (make test installs it)"
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))


def test_data_docs_show_the_events_suite_with_failures_and_counts(settings: Settings, data_dir: Path) -> None:
    lines = [event(user=f"user_{i}") for i in range(8)] + [
        event(user=None),
        event(kind="rewind", duration=None),
    ]
    write_lines(data_dir / "events" / "a.jsonl", lines)
    ingest(settings)
    report = validate(settings.warehouse, settings.gx_dir, settings.now)
    assert report.data_docs == settings.gx_dir / "uncommitted" / "data_docs" / "local_site" / "index.html"

    # The index draws its table with CDN scripts (none offline), so follow its link statically.
    (page,) = (report.data_docs.parent / "validations" / "events").rglob("*.html")
    assert page.relative_to(report.data_docs.parent).as_posix() in report.data_docs.read_text()
    text = rendered_text(page)
    assert "Expectation Suite: events" in text and "Status: Failed" in text
    assert re.search(r"`user_id` is present\. 1 unexpected values found\. ≈?10% of 10 total rows", text)
    assert re.search(r"is a known type\. 1 unexpected values found\. ≈?10% of 10 total rows", text)
    assert "Unsuccessful Expectations 2" in text
