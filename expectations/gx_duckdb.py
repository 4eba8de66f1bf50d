"""A Great Expectations SQL datasource for DuckDB files that returns correct results.

Why this exists: with the generic ``context.data_sources.add_sql("duckdb:///...")`` every
expectation fails with ``MetricResolutionError: list index out of range``. GX's
``SqlAlchemyExecutionEngine.execute_query`` runs a query inside ``with engine.connect()`` and
returns the result object; the caller only calls ``fetchall()`` after that block has closed the
connection. Closing a SQLAlchemy connection issues a ROLLBACK, and any statement on a DuckDB
connection (even a ROLLBACK that fails for lack of a transaction) discards its pending result
set; duckdb-engine's cursor *is* the DuckDB connection, so ``fetchall()`` returns ``[]``. A
``StaticPool`` (with or without ``pool_reset_on_return=None``) does not help: the rollback comes
from ``Connection.close()``, not from the pool. GX avoids this for sqlite, SQL Server, BigQuery
and Databricks by keeping one connection open and never closing it between queries
(``_PERSISTED_CONNECTION_DIALECTS`` / ``get_connection`` in ``sqlalchemy_execution_engine.py``);
DuckDB is not in that list.

The fix, owned here: ``DuckDBExecutionEngine`` keeps one connection open for its whole life
(the same thing GX does for the persisted dialects), and ``close()`` closes that connection
and disposes the engine, so no file lock outlives a validation run. ``DuckDBDatasource``
(fluent type ``"duckdb"``, registered with GX when this module is imported, so import it before
loading a GX project that stores such a datasource) uses that engine and points every
connection at one schema (the runner also passes ``connect_args={"read_only": True}``): duckdb-engine's table
reflection does not work against DuckDB's catalog, and GX's fallback column query does not
qualify the table with its schema, so the schema is made the connection's ``search_path``.

Every query still runs in DuckDB; GX only receives aggregates and a few unexpected rows.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

from great_expectations.datasource.fluent.sql_datasource import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from sqlalchemy import Connection, Engine, event

__all__ = ["DuckDBDatasource", "DuckDBExecutionEngine", "close_all_engines", "duckdb_url"]


def duckdb_url(db_path: str) -> str:
    """SQLAlchemy URL for a DuckDB file (duckdb-engine)."""
    return f"duckdb:///{db_path}"


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DuckDBExecutionEngine(SqlAlchemyExecutionEngine):
    """SqlAlchemyExecutionEngine that keeps one DuckDB connection open until ``close()``."""

    _live: ClassVar[weakref.WeakSet[DuckDBExecutionEngine]] = weakref.WeakSet()

    def __init__(self, *args: Any, search_path: str | None = None, **kwargs: Any) -> None:
        # Consumed here: everything else in kwargs goes on to sqlalchemy.create_engine().
        self._search_path = search_path
        super().__init__(*args, **kwargs)
        if search_path:
            # Every connection this engine opens (GX also opens short-lived ones, e.g. for its
            # column-type fallback query) resolves unqualified table names in this schema.
            event.listen(self.engine, "connect", self._set_search_path)
        DuckDBExecutionEngine._live.add(self)

    def _set_search_path(self, dbapi_connection: Any, _connection_record: Any) -> None:
        dbapi_connection.execute(f"SET search_path = {_quote_literal(self._search_path or '')}")

    def _persistent_connection(self) -> Connection:
        if self._connection is None or self._connection.closed:
            self._connection = self.engine.connect()
        return self._connection

    @contextmanager
    def get_connection(self) -> Generator[Connection, None, None]:
        # Never closed between queries: closing would roll back and drop the pending result
        # that GX fetches after this context exits.
        yield self._persistent_connection()

    def close(self) -> None:
        """Close the persistent connection and dispose the engine (releases the file)."""
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
        self._inspector = None
        self.engine.dispose()


class DuckDBDatasource(SQLDatasource):
    """A SQL datasource on one schema of a DuckDB file.

    Args:
        name: datasource name.
        connection_string: ``duckdb:///path/to/file.duckdb``.
        search_path: the schema whose tables the assets name (e.g. ``marts``).
        kwargs: passed to ``sqlalchemy.create_engine``; open the file read-only with
            ``{"connect_args": {"read_only": True}}``.
    """

    type: Literal["duckdb"] = "duckdb"  # type: ignore[assignment]
    search_path: str | None = None

    @property
    def execution_engine_type(self) -> type[SqlAlchemyExecutionEngine]:
        return DuckDBExecutionEngine

    @property
    def schema_(self) -> str | None:
        return self.search_path

    def _create_engine(self) -> Engine:
        # The datasource's own engine (used for connection tests when assets are added).
        engine = super()._create_engine()
        _datasource_engines.add(engine)
        return engine


_datasource_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def close_all_engines() -> int:
    """Close every DuckDBExecutionEngine still alive in this process; returns how many."""
    engines = list(DuckDBExecutionEngine._live)
    for engine in engines:
        engine.close()
    for sa_engine in list(_datasource_engines):
        sa_engine.dispose()
    return len(engines)
