"""The raw layer on PostgreSQL (shared regional mode, see docs/architecture.md).

Rows travel as Arrow record batches rendered to CSV by Arrow and streamed into one `COPY ... FROM
STDIN` per table (psycopg 3 `cursor.copy()`): no row-by-row inserts, bounded memory. The writer
has the shape ingestion needs: one call replaces one delivered period of a raw table (or the whole
table), in one transaction, so a reader sees the old rows or the new ones, never half.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.numeric import FloatLoader

from dagster_project.lib.warehouse import PSEUDONYM_COLUMNS
from dagster_project.settings import PROJECT_ROOT

DBT_DIR = PROJECT_ROOT / "dbt"
RAW_SCHEMA = "raw"
PERIOD_COLUMN = "_period"
#: A raw table is partitioned by the gemeente its periods belong to (`GM0363:2024-01`).
TENANT_KEY = sql.SQL("(split_part(_period, ':', 1))")
TENANT = re.compile(r"GM\d{4}")
REGIONAL_PARTITION = "regio"
BATCH_ROWS = 200_000
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="needed")

ArrowLike = pa.Table | pa.RecordBatch | pa.RecordBatchReader | duckdb.DuckDBPyRelation


class UnsupportedColumn(TypeError):
    """A column whose Arrow type has no faithful PostgreSQL column in the raw layer."""


def postgres_type(field: pa.Field) -> str:
    """The PostgreSQL column type of an Arrow field (the raw layer holds flat, typed columns)."""
    kind = field.type
    if pa.types.is_dictionary(kind):
        return postgres_type(pa.field(field.name, kind.value_type))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        return "text"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_int8(kind) or pa.types.is_int16(kind) or pa.types.is_uint8(kind):
        return "smallint"
    if pa.types.is_int32(kind) or pa.types.is_uint16(kind):
        return "integer"
    if pa.types.is_int64(kind) or pa.types.is_uint32(kind):
        return "bigint"
    if pa.types.is_uint64(kind):
        return "numeric(20, 0)"
    if pa.types.is_float16(kind) or pa.types.is_float32(kind):
        return "real"
    if pa.types.is_float64(kind):
        return "double precision"
    if pa.types.is_decimal(kind):
        return f"numeric({kind.precision}, {kind.scale})"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "timestamptz" if kind.tz else "timestamp"
    if pa.types.is_time(kind):
        return "time"
    raise UnsupportedColumn(f"column {field.name!r}: Arrow type {kind} has no PostgreSQL raw column type")


def _reader(data: ArrowLike) -> pa.RecordBatchReader:
    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, pa.Table):
        return pa.RecordBatchReader.from_batches(data.schema, data.to_batches())
    if isinstance(data, pa.RecordBatch):
        return pa.RecordBatchReader.from_batches(data.schema, [data])
    if isinstance(data, duckdb.DuckDBPyRelation):
        # batches of a bounded size keep memory flat at national scale (DuckDB < 1.5 lacks to_arrow_reader)
        to_reader = getattr(data, "to_arrow_reader", None) or data.fetch_record_batch
        return to_reader(BATCH_ROWS)
    raise TypeError(f"expected an Arrow table, record batch reader or DuckDB relation, got {type(data).__name__}")


def _qualified(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return schema or RAW_SCHEMA, name


def _existing_columns(cur: psycopg.Cursor, schema: str, name: str) -> dict[str, str]:
    rows = cur.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and c.relkind in ('r', 'p') and a.attnum > 0 "
        "and not a.attisdropped order by a.attnum",
        [schema, name],
    ).fetchall()
    return dict(rows)


def _normalised(kind: str) -> str:
    """A column type as `postgres_type` spells it (`format_type` says `numeric(18,2)`, long names)."""
    kind = kind.replace(",", ", ")
    return {"timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz"}.get(kind, kind)


def tenant_of(period: str) -> str | None:
    """The gemeente a period belongs to (`GM0363:2024-01` → GM0363); None for regional periods."""
    head = period.split(":", 1)[0]
    return head if TENANT.fullmatch(head) else None


def partition_of(name: str, tenant: str | None) -> str:
    """The partition of raw table `name` holding one gemeente's deliveries, or the regional one."""
    return f"{name}__{tenant.lower() if tenant else REGIONAL_PARTITION}"


def ensure_role(con: psycopg.Connection | psycopg.Cursor, role: str) -> None:
    """A NOLOGIN role, created when missing (logins are the operator's to grant)."""
    if not con.execute("select 1 from pg_roles where rolname = %s", [role]).fetchone():
        con.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))


def _lock(cur: psycopg.Cursor, *names: str) -> None:
    """Serialise writers of the same table or partition until the transaction ends (sorted: no deadlock)."""
    for name in sorted(set(names)):
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", [f"mmr:{name}"])


@contextmanager
def dagster_storage_lock(dsn: str) -> Iterator[None]:
    """Held while a process makes Dagster's tables in the shared database: Dagster looks for them,
    then creates them, so two processes starting at once would both create them and one fail."""
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("select pg_advisory_lock(hashtext('mmr:dagster_storage'))")
        try:
            yield
        finally:
            con.execute("select pg_advisory_unlock(hashtext('mmr:dagster_storage'))")


def _create(cur: psycopg.Cursor, schema: str, name: str, columns: dict[str, str]) -> None:
    """A raw table; with a `_period` column it is partitioned per gemeente (docs/architecture.md: each
    gemeente's deliveries in a partition of their own), regional periods in a default partition."""
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(kind)) for column, kind in columns.items()
    )
    target = sql.Identifier(schema, name)
    if PERIOD_COLUMN not in columns:
        cur.execute(sql.SQL("create table {} ({})").format(target, definition))
        return
    cur.execute(sql.SQL("create table {} ({}) partition by list ({})").format(target, definition, TENANT_KEY))
    regional = sql.Identifier(schema, partition_of(name, None))
    cur.execute(sql.SQL("create table {} partition of {} default").format(regional, target))


def partitions(cur: psycopg.Cursor, schema: str, name: str) -> set[str]:
    rows = cur.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "join pg_class p on p.oid = i.inhparent join pg_namespace n on n.oid = p.relnamespace "
        "where n.nspname = %s and p.relname = %s",
        [schema, name],
    ).fetchall()
    return {row[0] for row in rows}


def ensure_partitions(cur: psycopg.Cursor, schema: str, name: str, tenants: Iterable[str | None]) -> None:
    """Create the missing partitions; none when all exist (a gemeente's ingest role may not create)."""
    existing = partitions(cur, schema, name)
    for tenant in sorted(t for t in set(tenants) if t and partition_of(name, t) not in existing):
        cur.execute(
            sql.SQL("create table if not exists {} partition of {} for values in ({})").format(
                sql.Identifier(schema, partition_of(name, tenant)), sql.Identifier(schema, name), sql.Literal(tenant)
            )
        )


def _ensure_table(cur: psycopg.Cursor, schema: str, name: str, columns: dict[str, str]) -> dict[str, str]:
    """Create the table, or add the columns it lacks; returns the columns it had (empty if new).
    No statement changes anything that is already there (a gemeente's ingest role may not), but
    pseudonyms written as text, which become the numbers they stand for once (by the owner)."""
    existing = {column: _normalised(kind) for column, kind in _existing_columns(cur, schema, name).items()}
    if not existing:
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        _create(cur, schema, name, columns)
        return existing
    for column, kind in columns.items():
        if column not in existing:
            cur.execute(
                sql.SQL("alter table {} add column {} {}").format(
                    sql.Identifier(schema, name), sql.Identifier(column), sql.SQL(kind)
                )
            )
        elif column in PSEUDONYM_COLUMNS and existing[column] == "text" and kind == "bigint":
            _number_pseudonyms(cur, schema, name, column)
    return existing


def _number_pseudonyms(cur: psycopg.Cursor, schema: str, name: str, column: str) -> None:
    """A column of pseudonyms written as hexadecimal text made the numbers they stand for (the
    first 15 hex digits, as ingestion makes them now), in every partition. The views on the table
    (dbt's staging views, which its next build makes again) are dropped first: PostgreSQL does not
    retype a column a view reads."""
    views = cur.execute(
        "select distinct v.oid::regclass::text from pg_depend d join pg_rewrite r on r.oid = d.objid "
        "join pg_class v on v.oid = r.ev_class where d.refobjid = %s::regclass and v.oid <> d.refobjid",
        [f"{schema}.{name}"],
    ).fetchall()
    try:
        for (view,) in views:
            cur.execute(sql.SQL("drop view if exists {} cascade").format(sql.SQL(view)))
        cur.execute(
            sql.SQL(
                "alter table {} alter column {} type bigint "
                "using cast(cast('x' || substr({}, 1, 15) as bit(60)) as bigint)"
            ).format(sql.Identifier(schema, name), sql.Identifier(column), sql.Identifier(column))
        )
    except psycopg.errors.InsufficientPrivilege:
        raise PermissionError(
            f"{schema}.{name}.{column} on the shared warehouse still holds pseudonyms as text: "
            "one ingestion by the region's owner role makes them numbers"
        ) from None


def _analyze(cur: psycopg.Cursor, schema: str, name: str) -> None:
    """Fresh planner statistics, where this role may take them (the owner's; a gemeente's ingest
    role leaves them to the region's next build)."""
    owned = cur.execute(
        "select pg_has_role(c.relowner, 'USAGE') from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s",
        [schema, name],
    ).fetchone()
    if owned and owned[0]:
        cur.execute(sql.SQL("analyze {}").format(sql.Identifier(schema, name)))


def _copy(cur: psycopg.Cursor, target: sql.Composed, reader: pa.RecordBatchReader) -> int:
    names = sql.SQL(", ").join(sql.Identifier(name) for name in reader.schema.names)
    statement = sql.SQL("copy {} ({}) from stdin (format csv)").format(target, names)
    rows = 0
    with cur.copy(statement) as copy:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, _CSV)
            copy.write(buffer.getbuffer())
            rows += batch.num_rows
    return rows


def _has_period(data: ArrowLike) -> bool:
    names = data.columns if isinstance(data, duckdb.DuckDBPyRelation) else data.schema.names
    return PERIOD_COLUMN in names


def _periods_in(data: ArrowLike) -> set[str]:
    if isinstance(data, duckdb.DuckDBPyRelation):
        return {row[0] for row in data.unique(PERIOD_COLUMN).fetchall() if row[0] is not None}
    if isinstance(data, pa.Table | pa.RecordBatch):
        return {p for p in pc.unique(data.column(PERIOD_COLUMN)).to_pylist() if p is not None}
    raise TypeError("a whole partitioned raw table is written from an Arrow table or a DuckDB relation")


def write_raw_table(dsn: str, table: str, data: ArrowLike, period: str | None = None) -> int:
    """Write rows into a raw table on PostgreSQL with COPY; returns the number of rows written.

    `table` is `name` (schema `raw`) or `schema.name`. With `period`, only the rows whose
    `_period` equals it are replaced (a corrected re-delivery supersedes its period, other periods
    stay) and columns new in this delivery are added; without, the whole table is replaced. The
    table is created from the Arrow schema when it does not exist, partitioned per gemeente when
    it has a `_period`. One transaction, ending with fresh planner statistics (dbt's joins on the
    raw layer are planned from them).
    """
    periods = {period} if period is not None else _periods_in(data) if _has_period(data) else set()
    schema, name = _qualified(table)
    target = sql.Identifier(schema, name)
    # The reader is closed whatever happens: one left open on a DuckDB relation keeps its database
    # from opening again in this process (a failed share would hang the next ingest step).
    with (
        _reader(data) as reader,
        psycopg.connect(dsn, autocommit=True) as conn,
        conn.transaction(),
        conn.cursor() as cur,
    ):
        columns = {field.name: postgres_type(field) for field in reader.schema}
        if period is not None and PERIOD_COLUMN not in columns:
            raise ValueError(f"{table}: a period write needs a {PERIOD_COLUMN} column in the rows")
        _lock(cur, f"{schema}.{name}")
        existing = _ensure_table(cur, schema, name, columns)
        if period is None and existing:
            if existing == columns:
                cur.execute(sql.SQL("truncate table {}").format(target))
            else:
                # a different shape: views on the table (dbt staging) go with it; dbt recreates them
                cur.execute(sql.SQL("drop table {} cascade").format(target))
                _create(cur, schema, name, columns)
        elif period is not None:
            cur.execute(sql.SQL("delete from {} where {} = %s").format(target, sql.Identifier(PERIOD_COLUMN)), [period])
        if PERIOD_COLUMN in columns:
            ensure_partitions(cur, schema, name, map(tenant_of, periods))
        rows = _copy(cur, target, reader)
        cur.execute(sql.SQL("analyze {}").format(target))
        return rows


def sync_raw_periods(con: duckdb.DuckDBPyConnection, dsn: str, table: str, periods: Iterable[str]) -> int:
    """Replace `periods` of `raw.<table>` on PostgreSQL with the local raw table's rows of them.

    How ingestion writes the shared warehouse: the contract is checked in the local (embedded)
    engine, then each gemeente's periods are copied straight into that gemeente's partition, so
    PostgreSQL itself refuses a row of another gemeente, and a run replaces only the periods it
    ingested. Writers of one partition wait for each other; gemeenten write side by side. Without
    periods the table is only created (typed, empty) or given the columns it lacks.
    """
    schema, name = RAW_SCHEMA, table
    local = con.table(f"{RAW_SCHEMA}.{table}")
    columns = {field.name: postgres_type(field) for field in local.limit(0).arrow().schema}
    by_tenant: dict[str | None, list[str]] = {}
    for period in sorted(set(periods)):
        by_tenant.setdefault(tenant_of(period), []).append(period)
    partitioned = PERIOD_COLUMN in columns
    rows = 0
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        with conn.transaction():
            _lock(cur, f"{schema}.{name}")
            _ensure_table(cur, schema, name, columns)
            if partitioned:
                ensure_partitions(cur, schema, name, by_tenant)
        if not by_tenant:
            return 0
        if not partitioned:
            raise ValueError(f"raw.{table} has no {PERIOD_COLUMN} column: its periods cannot be replaced")
        with conn.transaction():
            parts = {tenant: partition_of(name, tenant) for tenant in by_tenant}
            _lock(cur, *(f"{schema}.{part}" for part in parts.values()))
            for tenant, listed in by_tenant.items():
                target = sql.Identifier(schema, parts[tenant])
                cur.execute(
                    sql.SQL("delete from {} where {} = any(%s)").format(target, sql.Identifier(PERIOD_COLUMN)),
                    [listed],
                )
                quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in listed)
                relation = con.sql(f"select * from {RAW_SCHEMA}.{table} where {PERIOD_COLUMN} in ({quoted})")
                with _reader(relation) as reader:
                    rows += _copy(cur, target, reader)
                _analyze(cur, schema, parts[tenant])
    return rows


def append_rows(dsn: str, table: str, data: ArrowLike) -> int:
    """Add a few rows to a table (created from their schema when missing), e.g. a log; returns the
    rows added. INSERT, not COPY: PostgreSQL refuses COPY into a table under row-level security
    (the ingestion log, as a gemeente's ingest role writes it)."""
    schema, name = _qualified(table)
    with (
        _reader(data) as reader,
        psycopg.connect(dsn, autocommit=True) as conn,
        conn.transaction(),
        conn.cursor() as cur,
    ):
        _lock(cur, f"{schema}.{name}")
        _ensure_table(cur, schema, name, {field.name: postgres_type(field) for field in reader.schema})
        names = reader.schema.names
        statement = sql.SQL("insert into {} ({}) values ({})").format(
            sql.Identifier(schema, name),
            sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder() * len(names)),
        )
        rows = [tuple(row.values()) for batch in reader for row in batch.to_pylist()]
        cur.executemany(statement, rows)
        return len(rows)


_NUMERIC_OIDS = {20, 21, 23, 700, 701, 1700}  # int8, int2, int4, float4, float8, numeric
_TEMPORAL_OIDS = {1082, 1114, 1184}  # date, timestamp, timestamptz


def read_frame(dsn: str, query: str, params: Sequence | None = None) -> pd.DataFrame:
    """A query's result as a DataFrame typed as DuckDB's `.df()` gives it (see `frame_of`)."""
    with psycopg.connect(dsn) as conn:
        return frame_of(conn, query, params)


def frame_of(conn: psycopg.Connection, query: str, params: Sequence | None = None) -> pd.DataFrame:
    """A query's result on an open connection as a DataFrame typed as DuckDB's `.df()` gives it:
    numbers numeric (decimals as floats, integers with nulls as floats), dates and timestamps as
    datetimes."""
    with conn.cursor() as cur:
        cur.adapters.register_loader("numeric", FloatLoader)
        cur.execute(query, params)
        description = cur.description
        frame = pd.DataFrame.from_records(cur.fetchall(), columns=[c.name for c in description])
    for column in description:
        if column.type_code in _NUMERIC_OIDS:
            frame[column.name] = pd.to_numeric(frame[column.name])
        elif column.type_code in _TEMPORAL_OIDS:
            frame[column.name] = pd.to_datetime(frame[column.name])
    return frame


def schema_tables(con: duckdb.DuckDBPyConnection, schema: str = RAW_SCHEMA) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables "
        "where table_schema = ? and table_type = 'BASE TABLE' order by table_name",
        [schema],
    ).fetchall()
    return [row[0] for row in rows]


def copy_schema(duckdb_path: Path | str, dsn: str, schema: str) -> dict[str, int]:
    """Copy every table of one schema of a DuckDB database into the same schema on PostgreSQL,
    replacing what is there. Returns rows written per table."""
    copied: dict[str, int] = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        for name in schema_tables(con, schema):
            relation = con.table(f'"{schema}"."{name}"')
            copied[name] = write_raw_table(dsn, f"{schema}.{name}", relation)
    return copied


def copy_raw_layer(duckdb_path: Path | str, dsn: str) -> dict[str, int]:
    """Copy the raw layer of a DuckDB warehouse (`raw` of `build.duckdb`) into PostgreSQL."""
    return copy_schema(duckdb_path, dsn, RAW_SCHEMA)


def dbt_env_vars(dsn: str) -> dict[str, str]:
    """The connection parts dbt's `postgres` profile target reads (`MMR_POSTGRES_*`), from a DSN."""
    parts = conninfo_to_dict(dsn)
    names = {
        "host": "HOST",
        "port": "PORT",
        "user": "USER",
        "password": "PASSWORD",
        "dbname": "DB",
        "sslmode": "SSLMODE",
    }
    return {f"MMR_POSTGRES_{env}": str(parts[key]) for key, env in names.items() if parts.get(key) not in (None, "")}


def dbt_target_env(dsn: str | None = None, build_db: Path | None = None) -> dict[str, str]:
    """What dbt's profile (`dbt/profiles.yml`) reads to build on one target: the `postgres` target
    at `dsn`, else the `duckdb` target at `build_db`."""
    if dsn is not None:
        return {"MMR_WAREHOUSE": "postgres", **dbt_env_vars(dsn)}
    return {"MMR_WAREHOUSE": "duckdb", "MMR_BUILD_DB": str(build_db)}


def run_dbt(
    args: Sequence[str],
    target_path: Path,
    dsn: str | None = None,
    build_db: Path | None = None,
    timeout: float = 3600,
) -> subprocess.CompletedProcess:
    """dbt outside Dagster on one target: `postgres` when a DSN is given, else DuckDB at `build_db`.

    Artifacts and logs go to `target_path`, never to `dbt/target` (Dagster's manifest), so a
    benchmark or a test can build next to a running pipeline.
    """
    if (dsn is None) == (build_db is None):
        raise ValueError("give either a PostgreSQL DSN or a DuckDB build database")
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(DBT_DIR),
        "DBT_TARGET_PATH": str(target_path),
        "DBT_LOG_PATH": str(target_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.update(dbt_target_env(dsn, build_db))
    target = env["MMR_WAREHOUSE"]
    command = [str(Path(sys.executable).parent / "dbt"), *args, "--target", target]
    return subprocess.run(command, cwd=DBT_DIR, env=env, capture_output=True, text=True, timeout=timeout)


def sqlalchemy_url(dsn: str, **query: str) -> str:
    """A PostgreSQL DSN (URL or key=value) as a SQLAlchemy URL on psycopg2."""
    from sqlalchemy.engine import URL

    parts = conninfo_to_dict(dsn)
    return URL.create(
        "postgresql+psycopg2",
        username=parts.get("user"),
        password=parts.get("password"),
        host=parts.get("host"),
        port=int(parts["port"]) if parts.get("port") else None,
        database=parts.get("dbname"),
        query=query,
    ).render_as_string(hide_password=False)


def server_address(dsn: str) -> str:
    """`host:port` of a DSN, without credentials (for messages and reports)."""
    parts = conninfo_to_dict(dsn)
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}"


def with_database(dsn: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    return make_conninfo(dsn, dbname=dbname)


def create_database(dsn: str, prefix: str = "mmr") -> str:
    """Create a new, uniquely named database on the server of `dsn`; returns its DSN."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", prefix):
        raise ValueError(f"database prefix {prefix!r}: lowercase letters, digits and _ only")
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(dsn, name)


def drop_database(dsn: str) -> None:
    """Drop the database of `dsn` (closing its other sessions first)."""
    name = conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@contextmanager
def scratch_database(dsn: str, prefix: str = "mmr") -> Iterator[str]:
    """A fresh database for one job (a test, a benchmark), dropped afterwards."""
    scratch = create_database(dsn, prefix)
    try:
        yield scratch
    finally:
        drop_database(scratch)
