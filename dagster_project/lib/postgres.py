"""The raw layer on PostgreSQL (shared regional mode, DESIGN §3).

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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dagster_project.settings import PROJECT_ROOT

DBT_DIR = PROJECT_ROOT / "dbt"
RAW_SCHEMA = "raw"
PERIOD_COLUMN = "_period"
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


def _create(cur: psycopg.Cursor, target: sql.Composed, columns: dict[str, str]) -> None:
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind)) for name, kind in columns.items()
    )
    cur.execute(sql.SQL("create table {} ({})").format(target, definition))


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


def write_raw_table(dsn: str, table: str, data: ArrowLike, period: str | None = None) -> int:
    """Write rows into a raw table on PostgreSQL with COPY; returns the number of rows written.

    `table` is `name` (schema `raw`) or `schema.name`. With `period`, only the rows whose
    `_period` equals it are replaced (a corrected re-delivery supersedes its period, other periods
    stay) and columns new in this delivery are added; without, the whole table is replaced. The
    table is created from the Arrow schema when it does not exist. One transaction, ending with
    fresh planner statistics (dbt's joins on the raw layer are planned from them).
    """
    reader = _reader(data)
    columns = {field.name: postgres_type(field) for field in reader.schema}
    if period is not None and PERIOD_COLUMN not in columns:
        raise ValueError(f"{table}: a period write needs a {PERIOD_COLUMN} column in the rows")
    schema, name = _qualified(table)
    target = sql.Identifier(schema, name)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        existing = {column: _normalised(kind) for column, kind in _existing_columns(cur, schema, name).items()}
        if not existing:
            _create(cur, target, columns)
        elif period is None:
            if existing == columns:
                cur.execute(sql.SQL("truncate table {}").format(target))
            else:
                # a different shape: views on the table (dbt staging) go with it; dbt recreates them
                cur.execute(sql.SQL("drop table {} cascade").format(target))
                _create(cur, target, columns)
        else:
            for column, kind in columns.items():
                if column not in existing:
                    cur.execute(
                        sql.SQL("alter table {} add column {} {}").format(target, sql.Identifier(column), sql.SQL(kind))
                    )
            cur.execute(sql.SQL("delete from {} where {} = %s").format(target, sql.Identifier(PERIOD_COLUMN)), [period])
        rows = _copy(cur, target, reader)
        cur.execute(sql.SQL("analyze {}").format(target))
        return rows


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
    if dsn is not None:
        env.update(dbt_env_vars(dsn), MMR_WAREHOUSE="postgres")
    else:
        env.update(MMR_WAREHOUSE="duckdb", MMR_BUILD_DB=str(build_db))
    target = env["MMR_WAREHOUSE"]
    command = [str(Path(sys.executable).parent / "dbt"), *args, "--target", target]
    return subprocess.run(command, cwd=DBT_DIR, env=env, capture_output=True, text=True, timeout=timeout)


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
