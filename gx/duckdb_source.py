"""Great Expectations on DuckDB: a GX data source whose expectations run as SQL inside DuckDB.

GX 1.24 has no DuckDB support (GX #10738; a native engine is still an open pull request, #12084).
Its generic SQL engine works over duckdb_engine with two changes, made here and nowhere else:

- One persistent connection. GX fetches a query's rows after handing its connection back to the
  pool, and the pool's rollback makes DuckDB drop them: every metric failed with "list index out
  of range". GX keeps one connection open for SQLite and SQL Server for a like reason.
- Regexes. GX picks the regex operator by the dialect's module and knows none for DuckDB. DuckDB
  implements PostgreSQL's `~` and `!~` (as RE2's `regexp_matches`), and duckdb_engine's dialect is
  PostgreSQL's, so GX is given PostgreSQL's module.

The data source runs on a DuckDB connection the caller binds (`bind`, usually a cursor of its own
connection): GX then reads exactly the tables the caller prepared, in the caller's DuckDB instance.
"""

from __future__ import annotations

import atexit
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FunctionType
from typing import Literal

import duckdb
import sqlalchemy as sa
from duckdb_engine import ConnectionWrapper
from great_expectations.compatibility import pydantic
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from sqlalchemy.dialects import postgresql
from sqlalchemy.pool import StaticPool


@atexit.register
def _release_duckdb_engine() -> None:
    """At exit, clear duckdb_engine's annotations and module namespaces, as shutdown would later.

    Python's shutdown clears the globals of modules still alive after its last garbage collection,
    and the cycles that this frees are never collected. With GX and dlt loaded, duckdb_engine's
    modules are among them, and their classes and functions (their annotations name
    `duckdb.DuckDBPyConnection`) keep DuckDB's types alive: nanobind then prints dozens of "leaked
    instance" lines at exit. Released here, before that collection, they go with it. This is the one
    guard against that noise: every process (the CLI, a Prefect worker's flow run, pytest) exits
    normally, since dbt's and the contract's connections are closed where they are opened."""
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "duckdb_engine":
            continue
        for owner in vars(module).values():
            if getattr(owner, "__module__", None) == name and isinstance(owner, type | FunctionType):
                members = vars(owner).values() if isinstance(owner, type) else ()
                for holder in (owner, *members):
                    if isinstance(holder, type | FunctionType):
                        holder.__annotations__.clear()
        vars(module).clear()


class DuckDBExecutionEngine(SqlAlchemyExecutionEngine):
    """GX's SQL engine on one persistent DuckDB connection, with PostgreSQL's regex operators."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dialect_module = postgresql

    @contextmanager
    def get_connection(self) -> Iterator[sa.Connection]:
        if self._connection is None:
            self._connection = self.engine.connect()
        yield self._connection


class DuckDBDatasource(SQLDatasource):
    """A GX data source over a DuckDB connection bound at run time (`type: duckdb` in the yml)."""

    type: Literal["duckdb"] = "duckdb"  # type: ignore[assignment]
    create_temp_table: bool = False

    _bound: DuckDBExecutionEngine | None = pydantic.PrivateAttr(None)

    @property
    def execution_engine_type(self) -> type[SqlAlchemyExecutionEngine]:
        return DuckDBExecutionEngine

    def bind(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Run every later validation of this data source on `connection`, which closes with it."""
        self.unbind()
        engine = sa.create_engine(
            "duckdb://", creator=lambda: ConnectionWrapper(connection), poolclass=StaticPool
        )
        self._bound = DuckDBExecutionEngine(engine=engine, create_temp_table=False)

    def unbind(self) -> None:
        if self._bound is not None:
            self._bound.close()
            self._bound = None

    def get_engine(self) -> sa.Engine:
        return self._bound.engine if self._bound is not None else super().get_engine()

    def get_execution_engine(self) -> SqlAlchemyExecutionEngine:
        return self._bound if self._bound is not None else super().get_execution_engine()
