"""bench_results.json: every benchmark merges its figures in under its own section."""

from __future__ import annotations

import json

from pipelines.settings import PROJECT_DIR

RESULTS = PROJECT_DIR / "bench_results.json"


def record(section: str, figures: dict) -> None:
    """Store `figures` under results[section][events], keeping other sections and sizes."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault(section, {})[str(figures["events"])] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
