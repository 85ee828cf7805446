"""One typed settings object for the whole pipeline: CLI flags > environment variables > defaults.

Every path, threshold and switch the pipeline reads lives here. Environment variables use the
`PODCAST_` prefix (`PODCAST_WAREHOUSE` is also what `dbt/profiles.yml` reads).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
GX_DIR = PROJECT_DIR / "gx"
DBT_DIR = PROJECT_DIR / "dbt"
SAMPLE_DATA_DIR = PROJECT_DIR / "data" / "sample"

ENV_PREFIX = "PODCAST_"


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use; the message is one line for the user."""


def parse_date(text: str) -> date:
    """Parse a strict ISO date (YYYY-MM-DD); anything else is a SettingsError."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"not a date (expected YYYY-MM-DD): {text!r}") from None


def parse_datetime(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a naive one is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"not an ISO-8601 timestamp: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"not a boolean: {text!r}")


def parse_memory_limit(text: str) -> str:
    """A DuckDB memory size such as 1GB or 512MB (it reaches SQL as a literal, so it is checked)."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text.strip()):
        raise SettingsError(f"not a memory size like 1GB or 512MB: {text!r}")
    return text.strip()


def parse_count(text: str) -> int:
    """A whole number of at least 1, such as how many validation runs the data docs keep."""
    if not re.fullmatch(r"[0-9]+", text.strip()) or int(text) < 1:
        raise SettingsError(f"not a whole number of at least 1: {text!r}")
    return int(text)


def _parse_urls(text: str) -> tuple[str, ...]:
    return tuple(url.strip() for url in text.replace("\n", ",").split(",") if url.strip())


# Keyed by the field annotations as written (strings, under `from __future__ import annotations`).
_PARSERS = {
    "Path": lambda text: Path(text).expanduser(),
    "date | None": parse_date,
    "datetime | None": parse_datetime,
    "bool": _parse_bool,
    "tuple[str, ...]": _parse_urls,
    "str": parse_memory_limit,
    "int": parse_count,
}


@dataclass(frozen=True)
class Settings:
    """Where the data is, where results go, and how strict the run is."""

    data_dir: Path = SAMPLE_DATA_DIR
    warehouse: Path = PROJECT_DIR / "warehouse" / "podcast.duckdb"
    exports_dir: Path = PROJECT_DIR / "exports"
    gx_dir: Path = GX_DIR  # the GX file context: the contract, its results and data docs
    as_of: date | None = None
    full_refresh: bool = False
    replay_quarantine: bool = False
    # "Now" for the contract's no-future-timestamps rule; None means the wall clock.
    reference_time: datetime | None = None
    # DuckDB's memory cap for the contract and the dbt build; beyond it DuckDB spills to disk.
    duckdb_memory_limit: str = "1GB"
    # Validation runs of each suite kept in gx/uncommitted (results and data docs pages); older
    # ones are deleted after each data docs build (gx/data_docs.py), so the site stays fast.
    data_docs_keep_runs: int = 50
    # Apprise URLs that receive failure and data-quality notifications (secrets: never logged).
    notify_urls: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then `PODCAST_*` environment variables, then explicit overrides (CLI flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for spec in fields(cls):
            raw = environ.get(ENV_PREFIX + spec.name.upper())
            if raw is not None and raw != "":
                parser = _PARSERS[spec.type]
                try:
                    values[spec.name] = parser(raw)
                except SettingsError as error:
                    raise SettingsError(f"{ENV_PREFIX}{spec.name.upper()}: {error}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_overrides(self, **overrides: object) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def now(self) -> datetime:
        return self.reference_time or datetime.now(UTC)

    @property
    def run_log(self) -> Path:
        """The full log of the latest run from the command line, beside the warehouse."""
        return self.warehouse.with_suffix(".log")

    @property
    def dlt_pipelines_dir(self) -> Path:
        """dlt's local working state sits beside the warehouse it belongs to."""
        return self.warehouse.parent / f".{self.warehouse.stem}.dlt"

    @property
    def dbt_work_dir(self) -> Path:
        """dbt's target (compiled SQL, partial-parse state, docs) and logs for this warehouse: its
        partial parse stays valid from one run to the next, and warehouses never share it."""
        return self.warehouse.parent / f".{self.warehouse.stem}.dbt"

    @property
    def ingest_scratch_dir(self) -> Path:
        """Event Parquet parts wait here until dlt links them into its load package (same disk)."""
        return self.dlt_pipelines_dir / "scratch"
