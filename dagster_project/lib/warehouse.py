"""The build warehouse: where ingestion writes the raw layer and dbt builds the models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pandas as pd

from dagster_project.settings import Settings

INGESTION_LOG_DDL = """
create table if not exists raw.ingestion_log (
    batch_id varchar,
    source varchar,
    file_name varchar,
    content_hash varchar,
    period varchar,
    rows_read bigint,
    rows_accepted bigint,
    rows_rejected bigint,
    status varchar,
    message varchar,
    ingested_at timestamp default current_timestamp
)
"""


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.build_db), read_only=read_only)
    try:
        if not read_only:
            con.execute("create schema if not exists raw")
            con.execute(INGESTION_LOG_DDL)
        yield con
    finally:
        con.close()


def replace_period(con: duckdb.DuckDBPyConnection, table: str, period: str, frame: pd.DataFrame) -> None:
    """Write one delivered period of a raw table; a re-delivery of the period supersedes the old rows."""
    con.register("incoming", frame)
    try:
        con.execute("begin")
        con.execute(f"create table if not exists raw.{table} as select * from incoming limit 0").fetchall()
        con.execute(f"delete from raw.{table} where _period = ?", [period])
        con.execute(f"insert into raw.{table} by name select * from incoming").fetchall()
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("incoming")


def record_batch(con: duckdb.DuckDBPyConnection, **batch: object) -> None:
    columns = ", ".join(batch)
    placeholders = ", ".join("?" for _ in batch)
    con.execute(f"insert into raw.ingestion_log ({columns}) values ({placeholders})", list(batch.values()))


def already_ingested(con: duckdb.DuckDBPyConnection, source: str, content_hash: str) -> bool:
    row = con.execute(
        "select count(*) from raw.ingestion_log where source = ? and content_hash = ? and status <> 'rejected'",
        [source, content_hash],
    ).fetchone()
    return bool(row and row[0])


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    schema, name = table.split(".")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()[0]
    return int(con.execute(f"select count(*) from {table}").fetchone()[0]) if exists else 0
