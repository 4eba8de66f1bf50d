"""The warehouse as one Dagster resource with two implementations (see docs/architecture.md).

`DuckDBWarehouse` is the embedded mode: the build and serving databases are DuckDB files under
`var/warehouse/`, a publish replaces the serving file. `PostgresWarehouse` is the shared regional
mode: ingestion still checks contracts and keeps the raw layer in the embedded DuckDB build
database, then writes each accepted period into the gemeente's partition on PostgreSQL, where dbt,
the statistics, the audit and the publish (a schema swap) run. Assets, checks, the publish, a
withdrawal and the CLI ask the resource; none of them tests which mode is on. `warehouse_for`
chooses the mode, once.

Paths and the DSN are read from the settings when used, not when the resource is built, so one
resource serves every run of a process (and a test that points `MMR_HOME` elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
from pydantic import PrivateAttr

from dagster_project.lib import postgres, warehouse
from dagster_project.publish import file_swap, schema_swap
from dagster_project.settings import Settings, get_settings

BUILD_SERVING_SCHEMA = "serving"
_PERIODS_SQL = (
    "select distinct source || ':' || period as p from raw.ingestion_log "
    "where status not in ('rejected', 'withdrawn', 'held_back') order by 1"
)


class Warehouse(dg.ConfigurableResource):
    """Where the raw layer, dbt's models, the statistics and what is published live."""

    _settings: Settings | None = PrivateAttr(default=None)

    @property
    def settings(self) -> Settings:
        """The settings it was made for (`warehouse_for`), else those of the process."""
        return self._settings or get_settings()

    @property
    def loader(self) -> str | None:
        """The gemeente this installation only ingests for (see `PostgresWarehouse.loader`)."""
        return None

    @property
    def holds_back_deliveries(self) -> bool:
        """Whether a delivery whose rows fail a dbt test can be taken out of the raw layer and the
        build repeated without it (today only where the raw layer is the build database)."""
        return False

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """The embedded build database, where contracts are checked and the raw layer is kept."""
        with warehouse.connect(self.settings, read_only=read_only) as con:
            yield con

    def share_raw(self, con: duckdb.DuckDBPyConnection, table: str, periods: set[str]) -> int:
        """Write the raw rows of `periods` where the models are built; returns the rows written."""
        raise NotImplementedError

    def share_ingestion_log(self, con: duckdb.DuckDBPyConnection, since: int) -> None:
        """Write the ingestion log rows after position `since` where the models are built."""
        raise NotImplementedError

    def share_withdrawal(
        self, con: duckdb.DuckDBPyConnection, tables: list[str], periods: list[str], batches: list[str], message: str
    ) -> None:
        """After a withdrawal from the local raw layer: the periods of `tables` where the models are
        built become what the local raw layer holds of them now, and `batches` are marked withdrawn."""
        raise NotImplementedError

    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        """A query on the warehouse the models are built in."""
        raise NotImplementedError

    def write_tables(self, tables: dict[str, pd.DataFrame], schema: str) -> None:
        """Replace each table in `schema` of the warehouse the models are built in."""
        raise NotImplementedError

    def execute(self, statements: list[str]) -> None:
        """Statements on the warehouse the models are built in, in one transaction."""
        raise NotImplementedError

    def has_table(self, schema: str, name: str) -> bool:
        found = self.query(
            "select count(*) as n from information_schema.tables "
            f"where table_schema = '{schema}' and table_name = '{name}'"
        )
        return bool(found["n"].iloc[0])

    def published_periods(self) -> list[str]:
        """Every delivered `<source>:<period>` not rejected (in the shared mode: of every gemeente)."""
        raise NotImplementedError

    def dbt_env(self) -> dict[str, str]:
        """The environment dbt's profile (`dbt/profiles.yml`) reads: the target and where it is."""
        settings = self.settings
        return {
            "MMR_HOME": str(settings.home),
            "MMR_SUPPRESSION_THRESHOLD": str(settings.suppression_threshold),
            "MMR_ROUNDING_BASE": str(settings.rounding_base),
            "MMR_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        }

    def audited(self) -> tuple[Path | str, Path | str | None]:
        """Where the audit reads the build, and what is published now (the volume baseline)."""
        raise NotImplementedError

    @property
    def dialect(self) -> Literal["duckdb", "postgres"]:
        """The SQL the models are built in: how the audit opens what `audited` returns."""
        raise NotImplementedError

    def publish(self, run_id: str, metadata: dict, published_at: datetime) -> list[str]:
        """Publish the build's serving schema atomically; returns the tables."""
        raise NotImplementedError

    def restore_previous(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Put the previous publish back: (what was served, what is served now)."""
        raise NotImplementedError

    def served_run(self) -> dict[str, Any] | None:
        """Which run is published now (run id, time, metadata), or None."""
        raise NotImplementedError

    @property
    def published_location(self) -> str:
        """Where dashboards read what is published, for messages (no credentials)."""
        raise NotImplementedError

    @property
    def serving(self) -> Path | str:
        """What dashboards connect to: the serving file, or the shared warehouse's DSN."""
        raise NotImplementedError

    @contextmanager
    def published(self) -> Iterator[Published]:
        """What is published, opened for reading with DuckDB's SQL (`?`, tables in `main.`)."""
        raise NotImplementedError
        yield

    def dagster_storage_dsn(self) -> str | None:
        """The PostgreSQL database Dagster keeps runs and events in; None: SQLite under `var/dagster/`."""
        return None

    def superset_env(self, metadata_uri: str | None = None) -> dict[str, str]:
        """What Superset needs besides its own settings to reach what is published."""
        return {}


class Published:
    """What is published, read with DuckDB's SQL in both modes."""

    def __init__(self, con: Any, schema: str, published_at: datetime | None, translate: bool) -> None:
        self.con, self.schema, self.published_at, self._translate = con, schema, published_at, translate

    def execute(self, sql: str, params: list | None = None):  # a DB-API cursor
        if self._translate:
            return self.con.execute(sql.replace("?", "%s").replace("main.", f"{self.schema}."), params)
        return self.con.execute(sql, params or [])

    def has_table(self, table: str) -> bool:
        query = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
        return bool(self.execute(query, [self.schema, table]).fetchone()[0])

    def tables(self) -> list[str]:
        """The tables a dashboard user can read (not the publish bookkeeping, `_`-prefixed)."""
        query = "select table_name from information_schema.tables where table_schema = ? order by 1"
        return [name for (name,) in self.execute(query, [self.schema]).fetchall() if not name.startswith("_")]

    def frame(self, table: str) -> pd.DataFrame:
        """A published table whole, typed as DuckDB types it in both modes."""
        if self._translate:
            return postgres.frame_of(self.con, f'select * from {self.schema}."{table}"')
        return self.con.execute(f'select * from main."{table}"').df()


class DuckDBWarehouse(Warehouse):
    """The embedded mode: DuckDB files under `var/warehouse/`."""

    @property
    def holds_back_deliveries(self) -> bool:
        return True

    def share_raw(self, con: duckdb.DuckDBPyConnection, table: str, periods: set[str]) -> int:
        return 0

    def share_ingestion_log(self, con: duckdb.DuckDBPyConnection, since: int) -> None:
        return None

    def share_withdrawal(
        self, con: duckdb.DuckDBPyConnection, tables: list[str], periods: list[str], batches: list[str], message: str
    ) -> None:
        return None

    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        with self.connect(read_only=True) as con:
            return con.execute(sql, params or []).df()

    def write_tables(self, tables: dict[str, pd.DataFrame], schema: str) -> None:
        """In one transaction."""
        with self.connect() as con:
            con.execute(f"create schema if not exists {schema}")
            con.execute("begin")
            try:
                for name, frame in tables.items():
                    con.register("frame", frame)
                    con.execute(f"create or replace table {schema}.{name} as select * from frame")
                    con.unregister("frame")
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise

    def execute(self, statements: list[str]) -> None:
        with self.connect() as con:
            con.execute("begin")
            for statement in statements:
                con.execute(statement)
            con.execute("commit")

    def published_periods(self) -> list[str]:
        with duckdb.connect(str(self.settings.build_db), read_only=True) as con:
            if not warehouse.table_exists(con, "raw", "ingestion_log"):
                return []
            return [p for (p,) in con.execute(_PERIODS_SQL).fetchall()]

    def dbt_env(self) -> dict[str, str]:
        return {**super().dbt_env(), **postgres.dbt_target_env(build_db=self.settings.build_db)}

    def audited(self) -> tuple[Path | str, Path | str | None]:
        settings = self.settings
        return settings.build_db, settings.serving_db if settings.serving_db.exists() else None

    @property
    def dialect(self) -> Literal["duckdb", "postgres"]:
        return "duckdb"

    def publish(self, run_id: str, metadata: dict, published_at: datetime) -> list[str]:
        return file_swap.publish(self.settings, run_id, metadata, published_at)

    def restore_previous(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return file_swap.rollback(self.settings)

    def served_run(self) -> dict[str, Any] | None:
        return file_swap.served_run(self.settings)

    @property
    def published_location(self) -> str:
        return str(self.settings.serving_db)

    @property
    def serving(self) -> Path | str:
        return self.settings.serving_db

    @contextmanager
    def published(self) -> Iterator[Published]:
        serving = self.settings.serving_db
        if not serving.exists():
            raise FileNotFoundError(f"nothing is published yet ({serving} does not exist): run `mmr run` first")
        with duckdb.connect(str(serving), read_only=True) as con:
            (published_at,) = con.execute("select published_at from main._publish").fetchone()
            yield Published(con, "main", published_at, translate=False)


class PostgresWarehouse(Warehouse):
    """The shared regional mode: the models, the statistics and what is published on PostgreSQL."""

    _loader: str | None | bool = PrivateAttr(default=False)

    @property
    def dsn(self) -> str:
        return self.settings.require_postgres_dsn()

    @property
    def loader(self) -> str | None:
        """The gemeente this installation ingests for through that gemeente's ingest role; None
        when it connects as the region (see `lib/ingest_roles.py`)."""
        if self._loader is False:
            from dagster_project.lib.ingest_roles import loader_gemeente

            self._loader = loader_gemeente(self.dsn)
        return self._loader

    def _own(self, periods: Iterable[str]) -> set[str]:
        """The periods this installation shares: all for the region, a loader's own gemeente's only."""
        return {p for p in periods if self.loader is None or postgres.tenant_of(p) == self.loader}

    def share_raw(self, con: duckdb.DuckDBPyConnection, table: str, periods: set[str]) -> int:
        own = self._own(periods)
        if self.loader is not None and not own:
            return 0
        return postgres.sync_raw_periods(con, self.dsn, table, own)

    def share_ingestion_log(self, con: duckdb.DuckDBPyConnection, since: int) -> None:
        rows = warehouse.log_since(con, since)
        if self.loader is not None:
            rows = rows.filter(f"split_part(period, ':', 1) = '{self.loader}'")
        postgres.append_rows(self.dsn, "raw.ingestion_log", rows)

    def share_withdrawal(
        self, con: duckdb.DuckDBPyConnection, tables: list[str], periods: list[str], batches: list[str], message: str
    ) -> None:
        import psycopg

        for table in tables:
            self.share_raw(con, table, set(periods))
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                "update raw.ingestion_log set status = 'withdrawn', message = %s where batch_id = any(%s)",
                [message, batches],
            )

    def query(self, sql: str, params: Sequence | None = None) -> pd.DataFrame:
        return postgres.read_frame(self.dsn, sql, params)

    def write_tables(self, tables: dict[str, pd.DataFrame], schema: str) -> None:
        """Each table atomically."""
        for name, frame in tables.items():
            postgres.write_raw_table(self.dsn, f"{schema}.{name}", pa.Table.from_pandas(frame, preserve_index=False))

    def execute(self, statements: list[str]) -> None:
        import psycopg

        with psycopg.connect(self.dsn) as conn:
            for statement in statements:
                conn.execute(statement)

    def published_periods(self) -> list[str]:
        return list(self.query(_PERIODS_SQL)["p"])

    def dbt_env(self) -> dict[str, str]:
        return {**super().dbt_env(), **postgres.dbt_target_env(dsn=self.dsn)}

    def audited(self) -> tuple[Path | str, Path | str | None]:
        return self.dsn, self.dsn

    @property
    def dialect(self) -> Literal["duckdb", "postgres"]:
        return "postgres"

    def publish(self, run_id: str, metadata: dict, published_at: datetime) -> list[str]:
        return schema_swap.publish_region(self.dsn, run_id, metadata, published_at, BUILD_SERVING_SCHEMA)

    def restore_previous(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        replaced = self.served_run()
        try:
            schema_swap.rollback(self.dsn)
        except schema_swap.PublishRefused as refused:
            raise FileNotFoundError(str(refused)) from None
        return replaced, self.served_run()

    def served_run(self) -> dict[str, Any] | None:
        return schema_swap.served_run(self.dsn)

    @property
    def published_location(self) -> str:
        from psycopg.conninfo import conninfo_to_dict

        database = conninfo_to_dict(self.dsn).get("dbname", "")
        return f"schema {schema_swap.PUBLISHED_SCHEMA} of {postgres.server_address(self.dsn)}/{database}"

    @property
    def serving(self) -> Path | str:
        return self.dsn

    @contextmanager
    def published(self) -> Iterator[Published]:
        import psycopg

        served = self.served_run()
        with psycopg.connect(self.dsn) as con:
            yield Published(con, schema_swap.PUBLISHED_SCHEMA, served["published_at"] if served else None, True)

    def dagster_storage_dsn(self) -> str | None:
        """The region's runs on the shared server; a gemeente's loader keeps its own locally (its
        ingest role may not create Dagster's tables, nor should it read the region's runs)."""
        return None if self.loader else self.dsn

    def superset_env(self, metadata_uri: str | None = None) -> dict[str, str]:
        from dagster_project.ops.superset import shared_mode_env

        return shared_mode_env(self.dsn, metadata_uri)


def warehouse_for(settings: Settings | None = None) -> Warehouse:
    """The one place the mode is chosen (`MMR_WAREHOUSE`); bound to `settings` when given."""
    chosen = PostgresWarehouse() if (settings or get_settings()).warehouse == "postgres" else DuckDBWarehouse()
    chosen._settings = settings
    return chosen
