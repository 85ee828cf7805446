"""The typed columns the suites judge and silver keeps: how each kind is derived from raw text, in
any engine's dialect (gx/sql_rules.py `Dialect`: DuckDB's there, Spark's in gx/spark_rules.py).

A suite entry names a kind (gx/suites.py `typed=`); the rows that pass keep exactly these values in
silver. A typed column is NULL when its text names no value. Each kind is typed only from texts of
one shape, a regex both engines read alike, because the engines' own parsers differ at the edges
(a trailing line break, a one-digit month, `1d`, `1_000`, offsets beyond ±18:00, zone names):
within the shape, both parse the same fields strictly (tests/test_spark_rules.py). Years run from
0001: year 0000 is a day of both engines' calendars, but not of Python's, and GX on Spark fails
on it when it samples failing values.
"""

from __future__ import annotations

from collections.abc import Iterable

from gx.frames import KEYS, TableContract
from gx.sql_rules import DUCKDB, Dialect

# A plain decimal: not `1e3`, `inf`, `1_000` nor `1d`.
NUMBER_SHAPE = r"^[+-]?[0-9]+(?:[.][0-9]+)?\z"
DATE_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\z"
# A date, T, a time of day with seconds and an optional fraction, then Z or an offset as ±HH,
# ±HHMM or ±HH:MM: wider than the ISO_8601 rule of the events suite, so that a real instant spelled
# otherwise breaks that rule only.
INSTANT_SHAPE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.][0-9]+)?"  # date, time of day
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?\z"  # zone
)
NO_YEAR = "0000"
LOCAL_TIME = r"^[^T]*T[0-9:]{8}(?:[.][0-9]+)?"
OFFSET = r"([+-])([0-9]{2}):?([0-9]{2})?\z"


def utc_instant(text: str, d: Dialect) -> str:
    """The UTC instant an ISO-8601 text names: its date and time of day parsed strictly (a real
    calendar day, hour < 24, minute and second < 60), less its offset, which must be under 24 h."""
    offset = [f"regexp_extract({text}, {d.literal(OFFSET)}, {group})" for group in (1, 2, 3)]
    hours, minutes = (f"coalesce(try_cast({part} AS INT), 0)" for part in offset[1:])
    east = f"CASE {offset[0]} WHEN '-' THEN -1 ELSE 1 END"
    local = d.timestamp.format(text=f"regexp_extract({text}, {d.literal(LOCAL_TIME)}, 0)")
    return f"""CASE
            WHEN {d.regex_search.format(column=text, regex=d.literal(INSTANT_SHAPE))}
                AND left({text}, 4) <> '{NO_YEAR}'
                AND {d.strict_datetime.format(text=f"left({text}, 19)")} IS NOT NULL
                AND {hours} < 24 AND {minutes} < 60
            THEN {local} - {d.minutes.format(minutes=f"{east} * ({hours} * 60 + {minutes})")}
        END"""


def shaped(text: str, d: Dialect, shape: str, typed: str) -> str:
    """`typed` when `text` has the shape (a regex), else NULL."""
    return f"CASE WHEN {d.regex_search.format(column=text, regex=d.literal(shape))} THEN {typed} END"


def real_date(text: str, d: Dialect) -> str:
    """The date a yyyy-mm-dd text names: a real calendar day from year 0001."""
    return shaped(
        text,
        d,
        DATE_SHAPE,
        f"CASE WHEN left({text}, 4) <> '{NO_YEAR}' THEN {d.strict_date.format(text=text)} END",
    )


TYPINGS = {
    "lower_trim": lambda text, d: f"lower(trim({text}))",
    "instant": utc_instant,
    # A DOUBLE, so that any run of digits has a value (a huge one is out of range rather than
    # NULL); the shape rules say whether it is an integer.
    "number": lambda text, d: shaped(text, d, NUMBER_SHAPE, f"try_cast({text} AS DOUBLE)"),
    "date": real_date,
}


def typed_columns(expectations: Iterable) -> dict[str, tuple[str, str]]:
    """The typed columns a suite's entries declare: column -> (raw column, kind of typing)."""
    typed: dict[str, tuple[str, str]] = {}
    for expectation in expectations:
        declared = (expectation.meta or {}).get("typed")
        if declared:
            source = (declared["from"], declared["as"])
            if typed.setdefault(expectation.column, source) != source:
                raise ValueError(
                    f"{expectation.column} is typed two ways: {typed[expectation.column]}, {source}"
                )
    return typed


def prepared_sql(
    contract: TableContract, expectations: Iterable, dialect: Dialect = DUCKDB, bronze: str | None = None
) -> str:
    """SELECT of a bronze table's rows as its suite sees them (callers append a WHERE clause):
    keys and raw text, then each typed column the suite's entries declare. `bronze` is the
    relation the rows are read from, `bronze.<table>` unless given."""
    q = dialect.quote
    typed = [
        f"{TYPINGS[kind](f'b.{q(raw)}', dialect)} AS {q(column)}"
        for column, (raw, kind) in typed_columns(expectations).items()
    ]
    columns = [f"b.{q(c)}" for c in (*KEYS, *contract.raw_columns)] + typed
    return f"SELECT {', '.join(columns)} FROM {bronze or f'bronze.{contract.table}'} AS b"
