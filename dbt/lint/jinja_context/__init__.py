"""What dbt's Jinja has and sqlfluff's dbt builtins lack, for the jinja templater (.sqlfluff).

sqlfluff renders each file of dbt/ without dbt: it stubs ref, source, config, this and
is_incremental, and this package adds the rest our SQL calls: the project's vars (read from
dbt_project.yml), the cross-database macros as dbt-duckdb renders them, `adapter.dispatch` (it
picks the `default__` macro: the DuckDB SQL), `modules` and a parse-time `execute` (macros take
their no-database branch, as when dbt parses the project).
"""

from __future__ import annotations

import datetime as _datetime
import re as _re
from pathlib import Path as _Path
from types import SimpleNamespace as _Namespace

import yaml as _yaml
from jinja2 import pass_context as _pass_context

_VARS = _yaml.safe_load((_Path(__file__).resolve().parents[2] / "dbt_project.yml").read_text())["vars"]

execute = False


def var(name: str, default: object = None) -> object:
    """The project's value of a var, else the default."""
    return _VARS.get(name, default)


def _dateadd(datepart: str, interval: object, from_date: object) -> str:
    return f"({from_date} + cast({interval} as bigint) * interval 1 {datepart})"


def _datediff(first_date: object, second_date: object, datepart: str) -> str:
    return f"(date_diff('{datepart}', {first_date}::timestamp, {second_date}::timestamp))"


class _Adapter:
    @_pass_context
    def dispatch(self, context, macro_name: str, macro_namespace: str | None = None):
        """The project's `default__<macro_name>` macro, as dbt-duckdb dispatches it."""
        return context.resolve(f"default__{macro_name}")


adapter = _Adapter()

dbt = _Namespace(dateadd=_dateadd, datediff=_datediff, type_string=lambda: "varchar")

modules = _Namespace(re=_re, datetime=_datetime)
