"""What the contract sees of each bronze table, and what silver keeps of the rows that pass.

The suites judge each bronze row as raw text plus typed columns; the typed columns are derived
from the suites' own entries (an entry on a typed column says which raw column it types, and
how: gx/suites.py `typed=`), and the engine writes their SQL (gx/typings.py). The rows
that pass are written to silver with exactly these values. A typed column is NULL when its text
names no value (an impossible date, hour 24, a number that is not one), and a rule on that
column quarantines the row, so a row that passes can always be typed.

No Great Expectations import here: gx/ledger.py reads these without loading GX.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.files import REFERENCE_COLUMNS


@dataclass(frozen=True)
class TableContract:
    """How one bronze table is split, and typed for silver."""

    table: str
    suite: str
    raw_columns: tuple[str, ...]  # judged and kept in quarantine, as received
    silver_columns: str  # the silver row, selected from the batch table of prepared rows
    stops_run: bool  # a failing row makes the run untrustworthy (reference data)


KEYS = ("_dlt_load_id", "_source_file", "_line_number")

# The in-memory database holding the rows under validation, one table per suite, which GX reads
# (the data source of this name, gx/build.py) and the split writes from.
BATCH_DATABASE = "contract_batch"

EVENTS = TableContract(
    table="events",
    suite="events",
    raw_columns=("event_type", "user_id", "episode_id", "timestamp", "duration", "_raw_line", "_parse_error"),
    silver_columns="""
        _dlt_load_id, _source_file, _line_number,
        event_type_norm AS event_type, user_id, episode_id,
        event_ts,
        CAST(duration_value AS INTEGER) AS duration
    """,
    stops_run=False,
)

USERS = TableContract(
    table="users",
    suite="users",
    raw_columns=REFERENCE_COLUMNS["users"],
    silver_columns="""
        _dlt_load_id, _source_file, _line_number, user_id,
        signup_date_parsed AS signup_date, country
    """,
    stops_run=True,
)

EPISODES = TableContract(
    table="episodes",
    suite="episodes",
    raw_columns=REFERENCE_COLUMNS["episodes"],
    silver_columns="""
        _dlt_load_id, _source_file, _line_number, episode_id, podcast_id, title,
        release_date_parsed AS release_date,
        CAST(duration_seconds_value AS INTEGER) AS duration_seconds
    """,
    stops_run=True,
)

# Reference data first: the coverage check of events reads the current reference rows.
CONTRACTS = (USERS, EPISODES, EVENTS)

# Warning level: valid events against the latest valid reference rows, two booleans per event.
# A run judges the events of the loads it validated (gx/engine.py), never the whole history.
REFERENCE_COVERAGE_SQL = """
    SELECT
        e.user_id IN (SELECT user_id FROM silver.users) AS user_in_reference,
        e.episode_id IN (SELECT episode_id FROM silver.episodes) AS episode_in_reference
    FROM silver.events AS e
"""
