"""What the contract sees of each bronze table: raw text plus the typed columns silver keeps.

The typing here (trim/lower-case event types, ISO timestamps to UTC instants, numbers) is the one
interpretation of the raw text: the suites judge these typed columns, and the rows that pass are
written to silver with exactly these values. A typed column is NULL when its text names no value
(an impossible date, hour 24, a number that is not one), and a rule on that column quarantines
the row, so a row that passes can always be typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.files import REFERENCE_COLUMNS


@dataclass(frozen=True)
class TableContract:
    """How one bronze table is prepared, split and typed for silver."""

    table: str
    suite: str
    key_columns: tuple[str, ...]
    prepared_sql: str  # SELECT over bronze.<table> AS b; callers append a WHERE clause
    silver_columns: str  # the silver row, selected from the batch table of prepared rows
    raw_columns: tuple[str, ...]  # kept in quarantine, as received
    stops_run: bool  # a failing row makes the run untrustworthy (reference data)


KEYS = ("_dlt_load_id", "_source_file", "_line_number")


def utc_instant(text: str) -> str:
    """SQL for the UTC instant an ISO-8601 text names, NULL when it names none.

    DuckDB's cast alone accepts hour 24 (as the next midnight) and offsets such as +99:99, so the
    date and time of day are also parsed strictly, and an offset must be under 24 hours."""
    has_offset = f"(substr({text}, -6, 1) IN ('+', '-') AND substr({text}, -3, 1) = ':')"
    return f"""CASE
            WHEN try_strptime(left({text}, 19), '%Y-%m-%dT%H:%M:%S') IS NOT NULL
                AND (NOT {has_offset} OR (
                    try_cast(substr({text}, -5, 2) AS INTEGER) < 24
                    AND try_cast(substr({text}, -2, 2) AS INTEGER) < 60))
            THEN try_cast({text} AS TIMESTAMPTZ) AT TIME ZONE 'UTC'
        END"""


def number(text: str) -> str:
    """SQL for the number a text names: a DOUBLE, so that any run of digits has a value (a huge one
    is out of range rather than NULL); the shape rules say whether it is an integer."""
    return f"try_cast({text} AS DOUBLE)"


# The in-memory DuckDB database holding the rows under validation, one table per suite, which GX
# reads through gx/duckdb_source.py and the split writes from.
BATCH_DATABASE = "contract_batch"

EVENTS = TableContract(
    table="events",
    suite="events",
    key_columns=KEYS,
    prepared_sql=f"""
        SELECT b._dlt_load_id, b._source_file, b._line_number,
            b.event_type, b.user_id, b.episode_id, b."timestamp", b.duration, b._raw_line, b._parse_error,
            lower(trim(b.event_type)) AS event_type_norm,
            {utc_instant('b."timestamp"')} AS event_ts,
            {number("b.duration")} AS duration_value
        FROM bronze.events AS b
    """,
    silver_columns="""
        _dlt_load_id, _source_file, _line_number,
        event_type_norm AS event_type, user_id, episode_id,
        event_ts,
        CAST(duration_value AS INTEGER) AS duration
    """,
    raw_columns=("event_type", "user_id", "episode_id", "timestamp", "duration", "_raw_line", "_parse_error"),
    stops_run=False,
)

USERS = TableContract(
    table="users",
    suite="users",
    key_columns=KEYS,
    prepared_sql="""
        SELECT b._dlt_load_id, b._source_file, b._line_number, b.user_id, b.signup_date, b.country,
            CAST(try_strptime(b.signup_date, '%Y-%m-%d') AS DATE) AS signup_date_parsed
        FROM bronze.users AS b
    """,
    silver_columns="""
        _dlt_load_id, _source_file, _line_number, user_id,
        signup_date_parsed AS signup_date, country
    """,
    raw_columns=REFERENCE_COLUMNS["users"],
    stops_run=True,
)

EPISODES = TableContract(
    table="episodes",
    suite="episodes",
    key_columns=KEYS,
    prepared_sql=f"""
        SELECT b._dlt_load_id, b._source_file, b._line_number,
            b.episode_id, b.podcast_id, b.title, b.release_date, b.duration_seconds,
            CAST(try_strptime(b.release_date, '%Y-%m-%d') AS DATE) AS release_date_parsed,
            {number("b.duration_seconds")} AS duration_seconds_value
        FROM bronze.episodes AS b
    """,
    silver_columns="""
        _dlt_load_id, _source_file, _line_number, episode_id, podcast_id, title,
        release_date_parsed AS release_date,
        CAST(duration_seconds_value AS INTEGER) AS duration_seconds
    """,
    raw_columns=REFERENCE_COLUMNS["episodes"],
    stops_run=True,
)

# Reference data first: the coverage check of events reads the current reference rows.
CONTRACTS = (USERS, EPISODES, EVENTS)

# Warning level: valid events against the latest valid reference rows, two booleans per event.
REFERENCE_COVERAGE_SQL = """
    SELECT
        e.user_id IN (SELECT user_id FROM silver.users) AS user_in_reference,
        e.episode_id IN (SELECT episode_id FROM silver.episodes) AS episode_in_reference
    FROM silver.events AS e
"""
