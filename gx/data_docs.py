"""The GX data docs as a site that opens offline and stays small: call finish_data_docs() after
every `build_data_docs()`.

GX 1.24.1's templates load jQuery, Bootstrap, bootstrap-table, Vega, Font Awesome... from public
CDNs: offline, the index lists no validation runs and the pages show unstyled. So:

- `make install` installs the same files at the same versions from npm into gx/assets/node_modules
  (pinned by gx/assets/package-lock.json); finish_data_docs() copies them to the site's
  static/vendor/<package>/, where the templates in gx/plugins/custom_data_docs/views load them.
- GX searches that views folder *after* its own templates, so a template of the same name never
  wins there; the site config (gx/build.py) names the views below, which search it first.
- Each suite keeps its last `keep_runs` validation runs (Settings.data_docs_keep_runs): older
  validation results and their pages are deleted, and the index page says so. Sites with
  thousands of validations freeze the browser (GX #11542).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections import defaultdict
from pathlib import Path

from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier
from great_expectations.data_context.util import instantiate_class_from_config
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import ChoiceLoader, FileSystemLoader

from gx.report import DOCS_SITE
from pipelines.settings import Settings

ASSETS = Path(__file__).resolve().parent / "assets" / "node_modules"
# What GX's templates load, by npm package: files (or globs) inside the package.
VENDOR_FILES = {
    "vega": ["build/vega.min.js"],
    "vega-lite": ["build/vega-lite.min.js"],
    "vega-embed": ["build/vega-embed.min.js"],
    "@fortawesome/fontawesome-free": ["css/all.min.css", "webfonts/*"],
    "jquery": ["dist/jquery.min.js"],
    "popper.js": ["dist/umd/popper.min.js"],
    "bootstrap": ["dist/js/bootstrap.min.js", "dist/css/bootstrap.min.css"],
    "bootstrap-table": [
        "dist/bootstrap-table.min.js",
        "dist/bootstrap-table.min.css",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ],
    # GX takes the filter-control styles from bootstrap-table 1.19.0 (an npm alias in gx/assets).
    "bootstrap-table-1.19.0": ["dist/extensions/filter-control/bootstrap-table-filter-control*.css"],
    "bootstrap-datepicker": ["dist/js/bootstrap-datepicker.min.js", "dist/css/bootstrap-datepicker.min.css"],
    "@forevolve/bootstrap-dark": ["dist/css/bootstrap-prefers-dark.css"],
}
_KEEP_RUNS_NOTE = re.compile(r"(<strong data-keep-runs>)[^<]*(</strong>)")

log = logging.getLogger(__name__)


def build_run_docs(context, results: list) -> None:
    """Render a run's checkpoint results and their suites into the data docs, in one build.

    The checkpoints carry no UpdateDataDocsAction: each build recompiles GX's templates and
    re-renders the index, so one build per run replaces one per checkpoint."""
    identifiers: list = []
    for result in results:
        for identifier, validation in result.run_results.items():
            identifiers += [identifier, ExpectationSuiteIdentifier(name=validation.suite_name)]
    if identifiers:
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=identifiers)
        finish_data_docs(context)


def finish_data_docs(context, keep_runs: int | None = None) -> list:
    """Prune the site to the last `keep_runs` validation runs of each suite (default: the
    setting), note that on the index and copy the assets into the site.

    Returns the identifiers of the validation results deleted."""
    keep_runs = Settings.from_env().data_docs_keep_runs if keep_runs is None else keep_runs
    site_config = context.variables.data_docs_sites[DOCS_SITE]
    site = Path(context.root_directory) / site_config["store_backend"]["base_directory"]
    pruned = _prune(context, site, keep_runs)
    if pruned:  # the index built just before lists them: draw it again
        _site_builder(context, site_config).site_index_builder.build()
    index = site / "index.html"
    if index.exists():
        index.write_text(_KEEP_RUNS_NOTE.sub(rf"\g<1>{keep_runs}\g<2>", index.read_text()))
    _copy_assets(site / "static" / "vendor")
    return pruned


def _prune(context, site: Path, keep_runs: int) -> list:
    """Delete all but the last `keep_runs` validation results of each suite, and their pages."""
    store = context.validation_results_store
    by_suite = defaultdict(list)
    for key in store.list_keys():
        by_suite[key.expectation_suite_identifier.name].append(key)
    pruned = []
    for keys in by_suite.values():
        keys.sort(key=lambda key: (key.run_id.run_time, key.run_id.run_name), reverse=True)
        pruned += keys[keep_runs:]
    results = Path(store.store_backend.full_base_directory)
    for key in pruned:
        store.remove_key(key)  # which leaves its folders behind
        *folders, name = key.to_tuple()
        _remove(results, results.joinpath(*folders, f"{name}.json"))
        _remove(site / "validations", site.joinpath("validations", *folders, f"{name}.html"))
    return pruned


def _remove(root: Path, file: Path) -> None:
    """Remove `file` and the folders it leaves empty, up to `root`."""
    file.unlink(missing_ok=True)
    for folder in file.parents:
        if folder == root or not folder.is_relative_to(root):
            break
        if folder.is_dir():  # a result may have no page yet
            if any(folder.iterdir()):
                break
            folder.rmdir()


def _site_builder(context, site_config: dict):
    """The site's SiteBuilder, as `build_data_docs()` makes it."""
    return instantiate_class_from_config(
        config=site_config,
        runtime_environment={
            "data_context": context,
            "root_directory": context.root_directory,
            "site_name": DOCS_SITE,
        },
        config_defaults={"module_name": "great_expectations.render.renderer.site_builder"},
    )


def _copy_assets(vendor: Path) -> None:
    """Copy VENDOR_FILES from gx/assets/node_modules to `vendor`, skipping unchanged files."""
    if not ASSETS.is_dir():
        log.warning("data docs assets missing (%s): run `make install`; offline pages render bare", ASSETS)
        return
    for package, patterns in VENDOR_FILES.items():
        for pattern in patterns:
            files = sorted((ASSETS / package).glob(pattern))
            if not files:
                log.warning("data docs asset missing: %s/%s (run `make install`)", package, pattern)
            for source in files:
                target = vendor / package / source.relative_to(ASSETS / package)
                stat = source.stat()
                if target.exists() and (target.stat().st_size, target.stat().st_mtime_ns) == (
                    stat.st_size,
                    stat.st_mtime_ns,
                ):
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)


# ---------------------------------------------------------------------------- views
class _ProjectViewsFirst:
    """Search gx/plugins/custom_data_docs/views before GX's own templates (GX appends it)."""

    def __init__(self, custom_styles_directory=None, custom_views_directory=None) -> None:
        super().__init__(custom_styles_directory, custom_views_directory)
        if custom_views_directory:
            self.env.loader = ChoiceLoader([FileSystemLoader(custom_views_directory), self.env.loader])


class PageView(_ProjectViewsFirst, DefaultJinjaPageView):
    """Validation result and expectation suite pages."""


class IndexPageView(_ProjectViewsFirst, DefaultJinjaIndexPageView):
    """The index page."""
