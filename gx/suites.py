"""The data contract: every validation rule of the pipeline, as Great Expectations suites.

This module is the one place a rule is written. `python -m gx.build` writes these suites into
the GX file context beside it (gx/expectations/*.json), and a test fails if the committed JSON
drifts from this code. Each expectation's `meta.rule` names the rule in quarantine reasons.

Suites validate each bronze row as raw text plus typed columns (`event_type_norm`, `event_ts`,
`duration_value`, ...) that silver keeps. A typed column is declared by the entry that first
judges it, `typed=(raw column, kind)`: the kinds are the typings of gx/typings.py,
and the prepared rows carry every typed column their suite declares. So a new rule is one entry
here: its typed column (if any), GX's check and the SQL judge (gx/sql_rules.py) all follow from
it, and `python -m gx.build` writes it into the JSON. A row passes only if
every typed column the models need is derived from it: the shape rules (regexes) explain why a
text is wrong, and a rule on each typed column (`timestamp_real_instant`, the range rules) makes
sure no row reaches silver with a value its typing could not produce.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

EVENT_TYPES = ["play", "pause", "seek", "complete"]
# Regexes are searched in RE2 on DuckDB (for GX, gx/duckdb_source.py, and the split) and in Java's
# regex on Spark (gx/spark_rules.py), so they are written in what both read alike: `\z` ends the
# text (Java's `$` also matches before a final line break), `\x0B` is the vertical tab (Java's
# `\v` is any vertical space), and no `\s`, `\d`, `\w`, `\b` or `.`, whose classes differ
# (tests/test_rules.py holds every regex to this).
# ISO-8601 with seconds, optional fraction, optional Z or ±HH:MM offset.
ISO_8601 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})?\z"
)
INTEGER = r"^-?[0-9]+\z"
NOT_BLANK = r"[^ \t\n\r\f\x0B]"
MAX_DURATION_SECONDS = 86_400
MAX_EPISODE_SECONDS = 2_147_483_647  # silver keeps it as a 32-bit integer
EARLIEST_EVENT = "2000-01-01T00:00:00"
ORPHAN_SHARE_TOLERATED = 0.01
QUARANTINE_SHARE_TOLERATED = 0.05

_PARSED = Column("_parse_error").is_null()
_WITH_DURATION = Column("event_type_norm").is_in(["play", "complete"])
_WITHOUT_DURATION = Column("event_type_norm").is_in(["pause", "seek"])


def _rule(name: str, description: str, typed: tuple[str, str] | None = None) -> dict:
    """An entry's name (`meta.rule`), its description and, for the entry declaring a typed
    column, the raw column it is typed from and how (`meta.typed`)."""
    meta: dict = {"rule": name}
    if typed is not None:
        meta["typed"] = {"from": typed[0], "as": typed[1]}
    return {"meta": meta, "description": description}


def _present_and_not_blank(column: str, condition=None) -> list:
    when = {"row_condition": condition} if condition is not None else {}
    return [
        gxe.ExpectColumnValuesToNotBeNull(
            column=column, **when, **_rule(f"{column}_present", f"`{column}` is present.")
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column=column,
            regex=NOT_BLANK,
            **when,
            **_rule(f"{column}_not_blank", f"`{column}` is not blank."),
        ),
    ]


def event_expectations() -> list:
    """One row per bronze event line; failing any rule quarantines the row."""
    return [
        gxe.ExpectColumnValuesToBeNull(
            column="_parse_error", **_rule("line_is_json_object", "The line parsed as a JSON object.")
        ),
        *_present_and_not_blank("user_id", _PARSED),
        *_present_and_not_blank("episode_id", _PARSED),
        gxe.ExpectColumnValuesToNotBeNull(
            column="event_type_norm",
            row_condition=_PARSED,
            **_rule("event_type_present", "`event_type` is present.", typed=("event_type", "lower_trim")),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="event_type_norm",
            value_set=EVENT_TYPES,
            **_rule("event_type_known", "`event_type`, trimmed and lower-cased, is a known type."),
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="timestamp", row_condition=_PARSED, **_rule("timestamp_present", "`timestamp` is present.")
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="timestamp",
            regex=ISO_8601,
            **_rule(
                "timestamp_iso8601", "`timestamp` is ISO-8601 with seconds (optional fraction, Z/offset)."
            ),
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="event_ts",
            row_condition=Column("timestamp").is_not_null(),
            **_rule(
                "timestamp_real_instant",
                "`timestamp` names a real instant (a real calendar day, hour < 24, minute and second "
                "< 60, offset < 24 h).",
                typed=("timestamp", "instant"),
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="event_ts",
            min_value=EARLIEST_EVENT,
            max_value={"$PARAMETER": "reference_time"},
            **_rule(
                "timestamp_in_range", "The UTC timestamp is on or after 2000-01-01 and not in the future."
            ),
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="duration",
            row_condition=_WITH_DURATION,
            **_rule("duration_present", "play and complete events carry a `duration`."),
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="duration",
            regex=INTEGER,
            row_condition=_WITH_DURATION,
            **_rule("duration_integer", "`duration` is an integer number of seconds."),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="duration_value",
            min_value=1,
            max_value=MAX_DURATION_SECONDS,
            row_condition=_WITH_DURATION,
            **_rule(
                "duration_in_range",
                "`duration` is > 0 and at most 86,400 seconds.",
                typed=("duration", "number"),
            ),
        ),
        gxe.ExpectColumnValuesToBeNull(
            column="duration",
            row_condition=_WITHOUT_DURATION,
            **_rule("duration_absent", "pause and seek events carry no `duration`."),
        ),
    ]


def user_expectations() -> list:
    """One row per line of a new users.csv version; a failure stops the run."""
    return [
        *_present_and_not_blank("user_id"),
        gxe.ExpectColumnValuesToBeUnique(
            column="user_id", **_rule("user_id_unique", "`user_id` appears once per file version.")
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="signup_date_parsed",
            **_rule(
                "signup_date_valid",
                "`signup_date` is a valid YYYY-MM-DD date.",
                typed=("signup_date", "date"),
            ),
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="country", **_rule("country_present", "`country` is present.")
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="country", regex=r"^[A-Z]{2}\z", **_rule("country_code", "`country` is a 2-letter code.")
        ),
    ]


def episode_expectations() -> list:
    """One row per line of a new episodes.csv version; a failure stops the run."""
    return [
        *_present_and_not_blank("episode_id"),
        *_present_and_not_blank("podcast_id"),
        gxe.ExpectColumnValuesToBeUnique(
            column="episode_id", **_rule("episode_id_unique", "`episode_id` appears once per file version.")
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="duration_seconds", **_rule("duration_seconds_present", "`duration_seconds` is present.")
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="duration_seconds",
            regex=INTEGER,
            **_rule("duration_seconds_integer", "`duration_seconds` is an integer."),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="duration_seconds_value",
            min_value=1,
            max_value=MAX_EPISODE_SECONDS,
            **_rule(
                "duration_seconds_in_range",
                "`duration_seconds` is greater than 0 and fits a 32-bit integer.",
                typed=("duration_seconds", "number"),
            ),
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="release_date_parsed",
            **_rule(
                "release_date_valid",
                "`release_date` is a valid YYYY-MM-DD date.",
                typed=("release_date", "date"),
            ),
        ),
    ]


def reference_coverage_expectations() -> list:
    """Warning level: share of a run's valid events whose user or episode is missing from reference
    data (gx/frames.py REFERENCE_COVERAGE_SQL)."""
    return [
        gxe.ExpectColumnValuesToBeInSet(
            column=f"{entity}_in_reference",
            value_set=[True],
            mostly=1 - ORPHAN_SHARE_TOLERATED,
            severity="warning",
            **_rule(
                f"{entity}_in_reference", f"At most 1 % of events have a {entity} missing from {entity}s.csv."
            ),
        )
        for entity in ("user", "episode")
    ]


def load_quality_expectations() -> list:
    """Warning level: the share of quarantined rows of each load."""
    return [
        gxe.ExpectColumnValuesToBeBetween(
            column="quarantined_share",
            min_value=0,
            max_value=QUARANTINE_SHARE_TOLERATED,
            severity="warning",
            **_rule("quarantined_share", "At most 5 % of a load's rows are quarantined."),
        )
    ]


SUITES = {
    "events": event_expectations,
    "users": user_expectations,
    "episodes": episode_expectations,
    "reference_coverage": reference_coverage_expectations,
    "load_quality": load_quality_expectations,
}
