"""One typed settings object for the whole pipeline: CLI flags > environment variables > defaults.

Every path, threshold and switch the pipeline reads lives here. Environment variables use the
`PODCAST_` prefix; dbt gets what it needs of them as vars (flows/dbt_build.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import unquote

from pydantic import SecretStr

PROJECT_DIR = Path(__file__).resolve().parent.parent
GX_DIR = PROJECT_DIR / "gx"
DBT_DIR = PROJECT_DIR / "dbt"
# dbt's parses of the project, one per version of it, shared by every warehouse (flows/dbt_parse.py)
DBT_PARSES_DIR = DBT_DIR / "target" / "parses"
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


def parse_bool(text: str) -> bool:
    """1/true/yes/on or 0/false/no/off (any case); empty is false."""
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


def parse_seconds(text: str) -> float:
    """A duration in seconds, 0 or more (fractions allowed)."""
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text.strip()):
        raise SettingsError(f"not a number of seconds (0 or more): {text!r}")
    return float(text)


ENGINES = ("duckdb", "spark")


def parse_engine(text: str) -> str:
    """Where the models are built: duckdb (the embedded default) or spark (pip extra `spark`)."""
    engine = text.strip().lower()
    if engine not in ENGINES:
        raise SettingsError(f"not an engine ({' or '.join(ENGINES)}): {text!r}")
    return engine


def parse_port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    if not re.fullmatch(r"[0-9]+", text.strip()) or not 1 <= int(text) <= 65535:
        raise SettingsError(f"not a port (1 to 65535): {text!r}")
    return int(text)


def parse_path(text: str) -> Path:
    """A file or folder path; `~` is expanded."""
    return Path(text).expanduser()


def parse_url(text: str) -> str:
    """A storage URL such as file:///data/bronze or s3://bucket/podcast; a folder path becomes a
    file:// URL, empty means none. It reaches SQL as a literal, so a quote in it is refused."""
    text = text.strip()
    if not text:
        return ""
    if text.startswith("file://"):
        text = unquote(text)  # as dlt reads it; DuckDB and fsspec take the path as written
    elif not re.match(r"[a-z][a-z0-9+.-]*://", text):
        text = f"file://{Path(text).expanduser().resolve()}"
    if "'" in text:
        raise SettingsError(f"a storage URL cannot hold a quote: {text!r}")
    return text.rstrip("/")


def parse_secret_urls(text: str) -> tuple[SecretStr, ...]:
    """Comma- or newline-separated URLs, kept secret: they print and serialize as asterisks."""
    return tuple(SecretStr(url.strip()) for url in text.replace("\n", ",").split(",") if url.strip())


def _parse(spec: Field, text: str, label: str) -> object:
    try:
        return spec.metadata["parse"](text)
    except SettingsError as error:
        raise SettingsError(f"{label}: {error}") from None


def setting(default: object, parse: Callable[[str], object], **options: object):
    """A settings field with the parser its environment variable's text goes through."""
    return field(default=default, metadata={"parse": parse}, **options)


@dataclass(frozen=True)
class Settings:
    """Where the data is, where results go, and how strict the run is."""

    data_dir: Path = setting(SAMPLE_DATA_DIR, parse_path)
    warehouse: Path = setting(PROJECT_DIR / "warehouse" / "podcast.duckdb", parse_path)
    exports_dir: Path = setting(PROJECT_DIR / "exports", parse_path)
    # The GX file context: the contract, its results and data docs.
    gx_dir: Path = setting(GX_DIR, parse_path)
    # The reporting date; None means the date of the latest valid event.
    as_of: date | None = setting(None, parse_date)
    # Rebuild every dbt model rather than build the new loads incrementally.
    full_refresh: bool = setting(False, parse_bool)
    # Judge the quarantined rows again (after a contract fix) and move the ones that pass.
    replay_quarantine: bool = setting(False, parse_bool)
    # "Now" for the contract's no-future-timestamps rule; None means the wall clock.
    reference_time: datetime | None = setting(None, parse_datetime)
    # Where dbt builds the models: duckdb (the warehouse file) or spark (README, "When one machine
    # is not enough"); the contract writes the warehouse file either way.
    engine: str = setting("duckdb", parse_engine)
    # Where bronze lands: empty keeps it in the warehouse file; a URL (file://, s3://, gs://, az://)
    # lands it there as Parquet files, which the warehouse reads as views (pipelines/bronze.py).
    bronze_url: str = setting("", parse_url)
    # Spark: its warehouse (Parquet tables) and metastore; None means beside the warehouse file.
    spark_dir: Path | None = setting(None, parse_path)
    # Spark: the master URL of the run's session (local[2]: two cores of this machine).
    spark_master: str = setting("local[2]", str.strip)
    # Spark: a Spark Thrift server that builds the models (a cluster's), instead of the run's
    # session; empty means the session. It must share the spark home (README, "When one machine
    # is not enough").
    spark_thrift_host: str = setting("", str.strip)
    spark_thrift_port: int = setting(10000, parse_port)
    spark_thrift_user: str = setting("podcast", str.strip)
    # DuckDB's memory cap for the contract and the dbt build; beyond it DuckDB spills to disk.
    duckdb_memory_limit: str = setting("1GB", parse_memory_limit)
    # How long a run waits for another run on the same warehouse to finish before giving up.
    lock_wait_seconds: float = setting(0.0, parse_seconds)
    # How long a run may take once it holds the warehouse; past it the run's process ends as a crash
    # would, and the next run takes up its work (flows/watchdog.py). 0 means no limit.
    run_timeout_seconds: float = setting(3 * 3600.0, parse_seconds)
    # Validation runs of each suite kept in gx/uncommitted (results and data docs pages); older
    # ones are deleted after each data docs build (gx/data_docs.py), so the site stays fast.
    data_docs_keep_runs: int = setting(50, parse_count)
    # Apprise URLs that receive failure and data-quality notifications: secrets, never logged,
    # and shown as asterisks wherever the settings are printed or stored (Prefect's parameters).
    notify_urls: tuple[SecretStr, ...] = setting((), parse_secret_urls, repr=False)

    def __post_init__(self) -> None:
        """A relative path is taken from the working directory, once, here: dbt, which runs in its
        project folder, would otherwise read it from there."""
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, Path) and not value.is_absolute():
                object.__setattr__(self, spec.name, value.absolute())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then `PODCAST_*` environment variables, then explicit overrides (CLI flags,
        already typed); an override of None leaves the setting as the environment has it."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for spec in fields(cls):
            raw = environ.get(ENV_PREFIX + spec.name.upper())
            if raw:
                values[spec.name] = _parse(spec, raw, f"{ENV_PREFIX}{spec.name.upper()}")
        unknown = set(overrides) - {spec.name for spec in fields(cls)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @classmethod
    def from_parameters(cls, parameters: Settings | Mapping[str, object] | None) -> Settings:
        """The settings of a flow run: as given, or the environment's with a deployment's
        parameters (JSON values: text, booleans, lists) over it."""
        if parameters is None or isinstance(parameters, Settings):
            return parameters or cls.from_env()
        specs = {spec.name: spec for spec in fields(cls)}
        overrides = {}
        for name, value in parameters.items():
            if name in specs and value is not None:
                text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
                overrides[name] = _parse(specs[name], text, name)
            else:
                overrides[name] = value
        return cls.from_env(**overrides)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type, handler: Callable) -> object:
        """As a Prefect flow parameter: a deployment's JSON object becomes `from_parameters(...)`."""
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(cls.from_parameters, handler(source))

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
        """dbt's target (compiled SQL, docs, run results) and logs for this warehouse; the parse of
        the project they share is kept in DBT_PARSES_DIR (flows/dbt_parse.py)."""
        return self.warehouse.parent / f".{self.warehouse.stem}.dbt"

    @property
    def contract_on_spark(self) -> bool:
        """Whether the contract runs on Spark: with the Spark engine, when bronze is at a URL Spark
        reads (in the warehouse file, only DuckDB reads it)."""
        return self.engine == "spark" and bool(self.bronze_url)

    @property
    def dbt_target(self) -> str:
        """The output of dbt/profiles.yml the models are built with."""
        if self.engine != "spark":
            return "local"
        return "spark_thrift" if self.spark_thrift_host else "spark"

    @property
    def spark_home(self) -> Path:
        """Spark's warehouse (`tables/`) and metastore for this warehouse."""
        return self.spark_dir or self.warehouse.parent / f".{self.warehouse.stem}.spark"

    @property
    def ingest_scratch_dir(self) -> Path:
        """Event Parquet parts wait here until dlt links them into its load package (same disk)."""
        return self.dlt_pipelines_dir / "scratch"
