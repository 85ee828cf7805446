"""The hand-written alternative: one bare DuckDB SQL script from the raw files to Q1-Q3.

It applies the same contract rules as gx/suites.py, keeps the latest valid reference row per key,
deduplicates events on (user, episode, type, UTC timestamp) and answers Q1-Q3 as the dbt models
in dbt/models/answers define them, with the reporting date defaulting to the latest valid event.
No lineage, quarantine, load ids or data docs: that is what the pipeline adds, and what the
benchmark prices. The harness checks its answers equal the pipeline's.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

# The shape, with any offset under 24 hours; the date and time of day are checked by strptime.
ISO_8601 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?\z"
)
NOT_BLANK = r"[^ \t\n\r\f\v]"
INTEGER = r"^-?[0-9]+\z"

SCRIPT = f"""
SET TimeZone = 'UTC';

CREATE TEMP TABLE raw_events AS
SELECT * FROM read_json($events, format = 'newline_delimited', ignore_errors = true, filename = true,
    columns = {{event_type: 'VARCHAR', user_id: 'VARCHAR', episode_id: 'VARCHAR',
               "timestamp": 'VARCHAR', duration: 'VARCHAR'}});

CREATE TEMP TABLE events AS
WITH typed AS (
    SELECT user_id, episode_id, lower(trim(event_type)) AS event_type, "timestamp", duration,
        try_cast("timestamp" AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS event_at,
        try_cast(duration AS BIGINT) AS duration_int, filename, rowid AS position
    FROM raw_events
)
SELECT user_id, episode_id, event_type, event_at, CAST(event_at AS DATE) AS event_date,
    CAST(duration_int AS INTEGER) AS duration_seconds
FROM typed
WHERE regexp_matches(user_id, '{NOT_BLANK}') AND regexp_matches(episode_id, '{NOT_BLANK}')
    AND event_type IN ('play', 'pause', 'seek', 'complete')
    AND regexp_matches("timestamp", '{ISO_8601}')
    AND try_strptime(left("timestamp", 19), '%Y-%m-%dT%H:%M:%S') IS NOT NULL
    AND event_at >= TIMESTAMP '2000-01-01' AND event_at <= $now
    AND CASE WHEN event_type IN ('play', 'complete')
        THEN regexp_matches(duration, '{INTEGER}') AND duration_int BETWEEN 1 AND 86400
        ELSE duration IS NULL END
-- one row per (user, episode, type, instant): the last line of the last file wins
QUALIFY row_number() OVER (
    PARTITION BY user_id, episode_id, event_type, event_at ORDER BY filename DESC, position DESC) = 1;

CREATE TEMP TABLE users AS
SELECT user_id, country FROM (
    SELECT *, count(*) OVER (PARTITION BY user_id) AS copies
    FROM read_csv($users, all_varchar = true, header = true)
)
WHERE regexp_matches(user_id, '{NOT_BLANK}') AND copies = 1
    AND try_strptime(signup_date, '%Y-%m-%d') IS NOT NULL AND regexp_matches(country, '^[A-Z]{{2}}\\z');

CREATE TEMP TABLE episodes AS
SELECT episode_id, podcast_id, title, CAST(duration_seconds AS INTEGER) AS duration_seconds FROM (
    SELECT *, count(*) OVER (PARTITION BY episode_id) AS copies
    FROM read_csv($episodes, all_varchar = true, header = true)
)
WHERE regexp_matches(episode_id, '{NOT_BLANK}') AND copies = 1
    AND regexp_matches(podcast_id, '{NOT_BLANK}')
    AND regexp_matches(duration_seconds, '{INTEGER}') AND try_cast(duration_seconds AS INTEGER) > 0
    AND try_strptime(release_date, '%Y-%m-%d') IS NOT NULL;

CREATE TEMP TABLE as_of AS SELECT max(event_date) AS day FROM events;
"""

ANSWERS = {
    "q1_top_completed_episodes": """
        WITH counted AS (
            SELECT episode_id, count(*) AS completions FROM events, as_of
            WHERE event_type = 'complete' AND event_date BETWEEN as_of.day - 6 AND as_of.day
            GROUP BY episode_id
        ), ranked AS (
            SELECT row_number() OVER (ORDER BY completions DESC, episode_id) AS rank, * FROM counted
        )
        SELECT rank, r.episode_id, e.title, e.podcast_id, completions
        FROM ranked AS r LEFT JOIN episodes AS e USING (episode_id) WHERE rank <= 10 ORDER BY 1
    """,
    "q2_listen_through_rate_by_country": """
        SELECT coalesce(u.country, 'unknown') AS country,
            round(avg(CAST(ev.duration_seconds AS DOUBLE) / ep.duration_seconds), 6)
                AS avg_listen_through_rate,
            count(*) AS completions
        FROM events AS ev JOIN episodes AS ep USING (episode_id)
        LEFT JOIN users AS u USING (user_id), as_of
        WHERE ev.event_type = 'complete' AND ev.event_date <= as_of.day
        GROUP BY 1 ORDER BY 1
    """,
    "q3_multi_episode_listeners": """
        SELECT count(DISTINCT user_id) AS users_with_3plus_episodes_in_a_day FROM (
            SELECT user_id FROM events, as_of
            WHERE event_type IN ('play', 'complete') AND event_date <= as_of.day
            GROUP BY event_date, user_id HAVING count(DISTINCT episode_id) >= 3
        )
    """,
    "q3_multi_episode_listeners_by_day": """
        SELECT event_date AS day, count(*) AS users FROM (
            SELECT event_date FROM events, as_of
            WHERE event_type IN ('play', 'complete') AND event_date <= as_of.day
            GROUP BY event_date, user_id HAVING count(DISTINCT episode_id) >= 3
        ) GROUP BY 1 ORDER BY 1
    """,
}


def run_baseline(data_dir: Path, now: datetime) -> dict[str, list[tuple]]:
    """Run the script on a fresh in-memory database; the answers as rows, by export name."""
    with duckdb.connect() as con:
        params = {
            "events": [str(p) for p in sorted((data_dir / "events").rglob("*.jsonl"))],
            "users": str(data_dir / "users" / "*.csv"),
            "episodes": str(data_dir / "episodes" / "*.csv"),
            "now": now.replace(tzinfo=None),
        }
        for statement in filter(str.strip, SCRIPT.split(";")):
            used = {name: value for name, value in params.items() if f"${name}" in statement}
            con.execute(statement, used)
        return {name: con.execute(sql).fetchall() for name, sql in ANSWERS.items()}
