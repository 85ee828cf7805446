"""GX data docs, as a reviewer sees them: rendered by headless Chromium with no network at all.

python -m pytest tests/test_data_docs.py    # needs Debian's chromium (make test installs it)
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import great_expectations
import pytest

from gx.data_docs import ASSETS
from gx.report import DOCS_SITE_DIR
from gx.validate import validate
from pipelines.ingest import ingest
from pipelines.settings import Settings, SettingsError
from tests.conftest import event, write_lines

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # No network: every request goes through a closed local port, every host name is unknown.
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=10000",  # let the scripts run before the DOM is dumped
    "--enable-logging=stderr",  # script errors come out as CONSOLE lines
    "--v=0",
]
# How the CDNs that GX's templates link to name a package and its version.
CDN_URLS = [
    r"cdn\.jsdelivr\.net/npm/(?P<package>(@[\w-]+/)?[\w-]+)@(?P<version>[\d.]+)",
    r"unpkg\.com/(?P<package>[\w-]+)@(?P<version>[\d.]+)/",
    r"cdnjs\.cloudflare\.com/ajax/libs/(?P<package>[\w.-]+)/(?P<version>[\d.]+)/",
    r"(maxcdn|stackpath)\.bootstrapcdn\.com/(?P<package>bootstrap)/(?P<version>[\d.]+)/",
    r"code\.jquery\.com/(?P<package>jquery)-(?P<version>[\d.]+)\.min\.js",
]
NPM_NAMES = {"font-awesome": "@fortawesome/fontawesome-free"}  # where npm's name differs
GX_TEMPLATES = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
# What a page loads: scripts, stylesheets (and icons) and images.
RESOURCE = re.compile(r"<(?:script|link|img)\b[^>]*?\b(?:src|href)=\"([^\"]*)\"", re.S)


@dataclass
class Rendered:
    text: str  # the DOM's text, without scripts and styles
    console: list[str]  # what the page's scripts logged (errors such as "Uncaught ReferenceError")


def render_offline(page: Path) -> Rendered:
    """The page after Chromium ran its scripts with all network access blocked."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is required (make test installs it)"
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", run.stdout, flags=re.S)
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))
    return Rendered(text, [line for line in run.stderr.splitlines() if ":CONSOLE" in line])


def site_of(settings: Settings) -> Path:
    return settings.gx_dir / DOCS_SITE_DIR


def test_data_docs_render_offline_with_runs_failures_and_counts(settings: Settings, data_dir: Path) -> None:
    lines = [event(user=f"user_{i}") for i in range(8)] + [
        event(user=None),
        event(kind="rewind", duration=None),
    ]
    write_lines(data_dir / "events" / "a.jsonl", lines)
    ingest(settings)
    report = validate(settings)
    assert report.data_docs == site_of(settings) / "index.html"

    index = render_offline(report.data_docs)
    assert index.console == []
    # bootstrap-table drew the runs (5 checkpoint runs: users, episodes, events and the two checks).
    assert "Showing 1 to 5 of 5 rows" in index.text
    for run in ("users-load-", "episodes-load-", "events-load-", "reference-coverage", "load-quality"):
        assert run in index.text
    assert "Each expectation suite keeps its last 50 validation runs" in index.text

    (page,) = (site_of(settings) / "validations" / "events").rglob("*.html")
    assert page.relative_to(site_of(settings)).as_posix() in report.data_docs.read_text()
    events = render_offline(page)
    assert events.console == []
    assert "Expectation Suite: events" in events.text and "Status: Failed" in events.text
    for rule in (r"`user_id` is present", "is a known type"):
        assert re.search(rf"{rule}\. 1 unexpected values found\. ≈?10% of 10 total rows", events.text), rule
    assert "Unsuccessful Expectations 2" in events.text

    # Every page loads its scripts, styles and images from the site itself, and they are there.
    pages = list(site_of(settings).rglob("*.html"))
    assert len(pages) == 11  # the index, 5 suites, 5 validation results
    for built in pages:
        resources = RESOURCE.findall(built.read_text())
        assert len(resources) >= 15, built
        for resource in resources:
            assert not re.match(r"(https?:)?//", resource), f"{built}: {resource}"
            assert (built.parent / unquote(resource)).resolve().is_file(), f"{built}: {resource}"


def test_the_tests_browser_has_no_network(tmp_path: Path) -> None:
    """A control for the test above: the same page with GX's CDN script gets nothing."""
    page = tmp_path / "cdn.html"
    page.write_text(
        '<html><body><script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
        "<p>jQuery: <script>document.write(typeof jQuery)</script></p></body></html>"
    )
    assert "jQuery: undefined" in render_offline(page).text


def test_data_docs_keep_the_last_runs_of_each_suite(
    settings: Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep, more = 2, 2
    monkeypatch.setenv("PODCAST_DATA_DOCS_KEEP_RUNS", str(keep))
    results = settings.gx_dir / "uncommitted" / "validations"
    site = site_of(settings)
    for load in range(keep + more):
        write_lines(data_dir / "events" / f"{load}.jsonl", [event(user=f"user_{load}")])
        ingest(settings)
        report = validate(settings)
        if load == 0:  # a result whose page is gone (a failed build) is pruned all the same
            shutil.rmtree(next((site / "validations" / "events").iterdir()))
    latest = [run.split(" @ ")[0] for run in report.run_ids]

    kept = {"events": keep, "reference_coverage": keep, "load_quality": keep, "users": 1, "episodes": 1}
    for suite, runs in kept.items():
        assert len(list((results / suite).rglob("*.json"))) == runs, suite
        assert len(list((site / "validations" / suite).rglob("*.html"))) == runs, suite
    # The latest run of each suite is kept; no folder of a deleted run is left behind.
    (events_run,) = [run for run in latest if run.startswith("events-load-")]
    assert events_run in {path.name for path in (results / "events").iterdir()}
    for root in (results, site / "validations"):
        assert all(any(folder.iterdir()) for folder in root.rglob("*") if folder.is_dir())

    index_html = (site / "index.html").read_text()
    assert len(set(re.findall(r"validations/events/[^\"]*?\.html", index_html))) == keep
    index = render_offline(site / "index.html")
    assert "Showing 1 to 8 of 8 rows" in index.text  # 2 events, 2 coverage, 2 load quality, users, episodes
    assert f"Each expectation suite keeps its last {keep} validation runs" in index.text


def test_installed_assets_are_the_ones_gx_loads_from_cdns() -> None:
    """gx/assets installs each package GX's templates link to, at the version in the link."""
    installed = {
        (meta["name"], meta["version"])
        for meta in (json.loads(path.read_text()) for path in ASSETS.glob("**/package.json"))
        if "name" in meta and "version" in meta
    }
    links = set()
    for name in ("js_script_imports.j2", "page.j2", "index_page.j2"):
        links |= set(re.findall(r"(?:src|href)=\"(https://[^\"]+)\"", (GX_TEMPLATES / name).read_text()))
    assert len(links) == 16
    for link in links:
        match = next(filter(None, (re.search(pattern, link) for pattern in CDN_URLS)), None)
        assert match, f"a CDN link the test does not know: {link}"
        package, version = NPM_NAMES.get(match["package"], match["package"]), match["version"]
        # vega@5 and friends are ranges: gx/assets pins the version they resolve to.
        assert any(
            name == package and (found == version or found.startswith(f"{version}."))
            for name, found in installed
        ), link
    # The files are the ones the CDNs serve: GX gives the hashes of two of them.
    imports = (GX_TEMPLATES / "js_script_imports.j2").read_text()
    local = {
        "popper.min.js": "popper.js/dist/umd/popper.min.js",
        "bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    }
    hashes = re.findall(r"/([\w.-]+\.js)\" integrity=\"sha384-([^\"]+)\"", imports)
    assert {name for name, _ in hashes} == set(local)
    for name, expected in hashes:
        digest = hashlib.sha384((ASSETS / local[name]).read_bytes()).digest()
        assert base64.b64encode(digest).decode() == expected, name


@pytest.mark.parametrize(("value", "valid"), [("3", True), ("0", False), ("-1", False), ("ten", False)])
def test_keep_runs_setting_is_a_count(value: str, valid: bool) -> None:
    if valid:
        assert Settings.from_env({"PODCAST_DATA_DOCS_KEEP_RUNS": value}).data_docs_keep_runs == int(value)
    else:
        with pytest.raises(SettingsError, match="PODCAST_DATA_DOCS_KEEP_RUNS"):
            Settings.from_env({"PODCAST_DATA_DOCS_KEEP_RUNS": value})
