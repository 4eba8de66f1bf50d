"""The build warehouse: where ingestion writes the raw layer and dbt builds the models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pandas as pd
import pyarrow as pa

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
    ingested_at timestamp default current_timestamp,
    file_size bigint,
    file_mtime_ns bigint
)
"""
# Columns added after the first release; a warehouse made before them gets them on connect.
LOG_COLUMNS_ADDED = {"file_size": "bigint", "file_mtime_ns": "bigint"}
#: Not tried on what is written (as in dbt's profile): FSST's analysis made writing the raw rows and
#: the facts 10-15 % slower and reading them back about 8 % slower, for some 15 % less space.
DISABLED_COMPRESSION = "fsst"
#: DuckDB's allocator hands memory freed after a task back sooner than by default (as in dbt's
#: profile): the five national facts rebuilt together in one dbt process peaked at 3.16-3.40 GiB
#: without (a model starting on what the one before had freed), 2.79 GiB with, in the same time.
ALLOCATOR_FLUSH = {"allocator_flush_threshold": "32MB", "allocator_bulk_deallocation_flush_threshold": "128MB"}
#: The storage format a new build warehouse is made in (as in dbt's profile). DuckDB otherwise
#: writes the format DuckDB 0.10 can read, in which a text column took 1.3-1.6 times as long to
#: write, for the same size (the 3.9 M raw rows of a national Wmo year: 6.0 s instead of 4.6 s). The
#: format is the file's own: a warehouse made before keeps its format, and every connection writes
#: the format of its file.
STORAGE_VERSION = "v1.5.0"
#: The raw columns that hold pseudonyms: numbers, and hexadecimal text in what was written before
#: ingestion made them numbers (docs/architecture.md, "Keys").
PSEUDONYM_COLUMNS = ("bsn_pseudoniem", "huishouden_pseudoniem")


def pseudonym_number(column: str) -> str:
    """SQL for the number a pseudonym written as hexadecimal text stands for: its first 15 hex
    digits, as ingestion makes it now."""
    return f"cast('0x' || substr({column}, 1, 15) as bigint)"


def numbered_pseudonyms(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """` replace (...)` for a `select *` of `relation` that turns its text pseudonyms into
    numbers ('' when it has none)."""
    kinds = dict(con.execute(f"select column_name, column_type from (describe select * from {relation})").fetchall())
    text = [c for c in PSEUDONYM_COLUMNS if kinds.get(c) == "VARCHAR"]
    return f" replace ({', '.join(f'{pseudonym_number(c)} as {c}' for c in text)})" if text else ""


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    if not read_only and not settings.build_db.exists():
        duckdb.connect(str(settings.build_db), config={"storage_compatibility_version": STORAGE_VERSION}).close()
    con = duckdb.connect(str(settings.build_db), read_only=read_only)
    try:
        con.execute("set memory_limit = ?", [settings.duckdb_memory_limit])
        for name, value in ALLOCATOR_FLUSH.items():
            con.execute(f"set {name} = ?", [value])
        if not read_only:
            con.execute("set enable_progress_bar = false")
            con.execute("set disabled_compression_methods = ?", [DISABLED_COMPRESSION])
            con.execute("create schema if not exists raw")
            con.execute(INGESTION_LOG_DDL)
            for column, kind in LOG_COLUMNS_ADDED.items():
                con.execute(f"alter table raw.ingestion_log add column if not exists {column} {kind}")
        yield con
    finally:
        con.close()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
        ).fetchone()[0]
    )


def ensure_table(con: duckdb.DuckDBPyConnection, table: str, relation: str) -> None:
    """Create `raw.<table>` with the columns of `relation`, or add the columns it lacks.

    A raw table thus exists (empty) before its first delivery, and a contract that gains a column
    keeps the rows delivered before it (null in the new column). Pseudonyms written as text
    become the numbers they stand for, once.
    """
    if not table_exists(con, "raw", table):
        con.execute(f"create table raw.{table} as select * from {relation} limit 0")
        return
    present = dict(con.execute(f"select column_name, column_type from (describe raw.{table})").fetchall())
    for name, kind, *_ in con.execute(f"describe select * from {relation}").fetchall():
        if name not in present:
            con.execute(f'alter table raw.{table} add column "{name}" {kind}')
        elif name in PSEUDONYM_COLUMNS and present[name] == "VARCHAR" and kind == "BIGINT":
            con.execute(f'alter table raw.{table} alter "{name}" type bigint using {pseudonym_number(name)}')


def replace_period(con: duckdb.DuckDBPyConnection, table: str, period: str, frame: pd.DataFrame | pa.Table) -> None:
    """Write one delivered period of a raw table; a re-delivery of the period supersedes the old rows."""
    con.register("incoming", frame)
    try:
        con.execute("begin")
        ensure_table(con, table, "incoming")
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


def record_batches(con: duckdb.DuckDBPyConnection, batches: list[dict]) -> None:
    """Many ingestion log rows in one insert."""
    if not batches:
        return
    con.register("incoming_log", pa.Table.from_pylist(batches))
    try:
        con.execute("insert into raw.ingestion_log by name select * from incoming_log")
    finally:
        con.unregister("incoming_log")


def ingested_files(con: duckdb.DuckDBPyConnection, source: str) -> tuple[set[str], set[tuple[str, int, int]]]:
    """Content hashes of the batches of `source` that hold their file's period now (the latest of
    that file name and period not rejected or withdrawn), and the (file name, size, modification
    time) those files had when they were read, where that identifies them safely. An earlier
    version delivered again after a correction is new: it supersedes the correction."""
    rows = con.execute(
        "select content_hash, file_name, file_size, file_mtime_ns from ("
        "select *, row_number() over (partition by period, file_name order by ingested_at desc) as recency "
        "from raw.ingestion_log where source = ? and status not in ('rejected', 'withdrawn')"
        ") as batches where recency = 1",
        [source],
    ).fetchall()
    hashes = {row[0] for row in rows}
    stats = {(name, size, mtime) for _, name, size, mtime in rows if size is not None and mtime is not None}
    return hashes, stats


def periods_of(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    if not table_exists(con, "raw", table):
        return set()
    return {period for (period,) in con.execute(f"select distinct _period from raw.{table}").fetchall()}


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    schema, name = table.split(".")
    return int(con.execute(f"select count(*) from {table}").fetchone()[0]) if table_exists(con, schema, name) else 0


def log_position(con: duckdb.DuckDBPyConnection) -> int:
    """Where the ingestion log ends now (it is only appended to): rows after it are this run's."""
    return int(con.execute("select coalesce(max(rowid), -1) from raw.ingestion_log").fetchone()[0])


def log_since(con: duckdb.DuckDBPyConnection, position: int) -> duckdb.DuckDBPyRelation:
    return con.sql(f"select * from raw.ingestion_log where rowid > {int(position)} order by rowid")
