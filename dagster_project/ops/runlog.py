"""The run log: a small SQLite file beside the build warehouse that readers use instead of it.

A run holds `build.duckdb` exclusively, and DuckDB refuses every other connection to it, even a
read-only one, for as long as the run lasts. What `mmr status`, the landing sensor and the waiting
CLI need to know (which files were ingested, the audits, the publishes) is therefore also written
here, as it is recorded in the build database. SQLite lets many readers and one short writer share
the file, so they answer during a run. The build database stays the record; this is its mirror.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.settings import Settings

INGESTION_COLUMNS = [
    "batch_id",
    "source",
    "file_name",
    "content_hash",
    "period",
    "rows_read",
    "rows_accepted",
    "rows_rejected",
    "status",
    "message",
    "ingested_at",
    "file_size",
    "file_mtime_ns",
]
CHECK_COLUMNS = ["run_id", "checked_at", "asset", "suite", "success", "failures"]
PUBLISH_COLUMNS = ["run_id", "published_at", "status", "periods", "tables", "checks", "message"]
TABLES = {
    "ingestion_log": ("raw.ingestion_log", INGESTION_COLUMNS),
    "check_results": ("audit.check_results", CHECK_COLUMNS),
    "publish_log": ("audit.publish_log", PUBLISH_COLUMNS),
}
#: Statuses of an ingestion log entry whose rows are not (or no longer) in the raw layer: rejected
#: whole, withdrawn by a user, or held back after a failing dbt test.
NOT_IN_RAW = ("rejected", "withdrawn", "held_back")


def path(settings: Settings) -> Path:
    return settings.warehouse_dir / "runlog.sqlite"


@contextmanager
def connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    """A connection that waits for a writer instead of failing; the tables exist afterwards."""
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path(settings), timeout=30, isolation_level=None)) as con:
        con.execute("pragma journal_mode = wal")
        for name, (_, columns) in TABLES.items():
            con.execute(f"create table if not exists {name} ({', '.join(columns)})")
        con.execute("create index if not exists ingestion_source on ingestion_log (source)")
        yield con


def _value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return value


def _insert(con: sqlite3.Connection, table: str, rows: Iterable[Iterable[object]]) -> None:
    columns = TABLES[table][1]
    con.executemany(
        f"insert into {table} ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
        ([_value(v) for v in row] for row in rows),
    )


def append(settings: Settings, table: str, entry: dict[str, object]) -> None:
    """One audit or publish log row, as it was written to the build database."""
    with connect(settings) as con:
        _insert(con, table, [[entry.get(column) for column in TABLES[table][1]]])


def sync_sources(
    settings: Settings, build: duckdb.DuckDBPyConnection, sources: Iterable[str], since: int | None = None
) -> None:
    """Replace the mirrored ingestion log of `sources` with what the build database holds now.

    With `since` (a `log_position` before rows were only appended), the rows after it are added
    when the mirror holds as many rows of `sources` as the build database did up to it, instead of
    copying the whole log of a source again (tens of thousands of rows nationally, every run).
    """
    sources = sorted(set(sources))
    if not sources:
        return
    listed = ", ".join("?" for _ in sources)
    query = f"select {', '.join(INGESTION_COLUMNS)} from raw.ingestion_log where source in ({listed})"
    with connect(settings) as con:
        con.execute("begin immediate")
        appended = since is not None and _mirrored(con, listed, sources) == _logged(build, listed, sources, since)
        if appended:
            rows = build.execute(f"{query} and rowid > ? order by rowid", [*sources, since]).fetchall()
        else:
            rows = build.execute(f"{query} order by rowid", sources).fetchall()
            con.execute(f"delete from ingestion_log where source in ({listed})", sources)
        _insert(con, "ingestion_log", rows)
        con.execute("commit")


def _mirrored(con: sqlite3.Connection, listed: str, sources: list[str]) -> int:
    return con.execute(f"select count(*) from ingestion_log where source in ({listed})", sources).fetchone()[0]


def _logged(build: duckdb.DuckDBPyConnection, listed: str, sources: list[str], since: int) -> int:
    query = f"select count(*) from raw.ingestion_log where source in ({listed}) and rowid <= ?"
    return build.execute(query, [*sources, since]).fetchone()[0]


def ensure(settings: Settings) -> bool:
    """Mirror a build database made before the run log existed; False while a run holds it.

    The copy is taken once: afterwards every writer keeps the mirror up to date itself.
    """
    if path(settings).exists() or not settings.build_db.exists():
        return True
    try:
        build = duckdb.connect(str(settings.build_db), read_only=True)
    except duckdb.Error:
        return False
    with closing(build), connect(settings) as con:
        con.execute("begin immediate")
        for name, (table, columns) in TABLES.items():
            with suppress(duckdb.CatalogException):
                _insert(con, name, build.execute(f"select {', '.join(columns)} from {table}").fetchall())
        con.execute("commit")
    return True


def query(settings: Settings, sql: str, parameters: Iterable[object] = ()) -> list[tuple]:
    """Rows of the mirror; none when nothing was built yet."""
    if not path(settings).exists():
        return []
    with connect(settings) as con:
        return con.execute(sql, list(parameters)).fetchall()


def known_files(settings: Settings) -> tuple[set[tuple[str, str]], set[tuple[str, str, int, int]]]:
    """What ingestion already read, per source: content hashes, and (name, size, modification
    time) where the log recorded them. Rejected files count too, so a bad file that stays in the
    landing folder does not start run after run; a withdrawn delivery does not, nor a batch a later
    one superseded (an earlier version delivered again after a correction is new)."""
    rows = query(
        settings,
        "select source, content_hash, file_name, file_size, file_mtime_ns from ("
        "select *, row_number() over (partition by source, period, file_name, status = 'rejected' "
        "order by ingested_at desc) as recency from ingestion_log where status <> ?"
        ") where status = 'rejected' or recency = 1",
        ["withdrawn"],
    )
    hashes = {(source, digest) for source, digest, *_ in rows}
    stats = {(s, name, size, mtime) for s, _, name, size, mtime in rows if size is not None and mtime is not None}
    return hashes, stats


def timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
