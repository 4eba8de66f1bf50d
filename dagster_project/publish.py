"""Publish: replace the serving database atomically with the audited serving schema of the build.

Readers (Superset) open `serving.duckdb` read-only. A new version is written to a temporary
file next to it and moved into place with one `rename`, so a reader sees the old file or the
new one, never a mix; a reader that still holds the old file keeps reading it. The previous
version is kept beside it for `mmr rollback`.
"""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.dbt import serving_model_keys
from dagster_project.settings import Settings, get_settings

SERVING_SCHEMA = "serving"
PUBLISH_LOG_DDL = """
create table if not exists audit.publish_log (
    run_id varchar,
    published_at timestamp,
    status varchar,
    periods varchar,
    tables varchar,
    checks varchar,
    message varchar
)
"""


def previous_path(settings: Settings) -> Path:
    return settings.serving_db.with_name("serving.previous.duckdb")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def serving_tables(settings: Settings) -> list[str]:
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        rows = con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1",
            [SERVING_SCHEMA],
        ).fetchall()
    return [r[0] for r in rows]


def write_serving_copy(settings: Settings, target: Path, run_id: str, metadata: dict) -> list[str]:
    """Copy every table of the build's serving schema into a fresh file (tables in `main`)."""
    tables = serving_tables(settings)
    target.unlink(missing_ok=True)
    with duckdb.connect(str(target)) as con:
        con.execute(f"attach '{settings.build_db}' as build (read_only)")
        for table in tables:
            con.execute(f'create table main."{table}" as select * from build.{SERVING_SCHEMA}."{table}"')
        con.execute(
            "create table main._publish as select ? as run_id, ? as published_at, ? as metadata",
            [run_id, datetime.now(UTC).replace(tzinfo=None), json.dumps(metadata)],
        )
        con.execute("detach build")
        con.execute("checkpoint")
    _fsync(target)
    return tables


def swap_into_place(settings: Settings, new_file: Path) -> None:
    """Keep the current version as the previous one, then rename the new file over it."""
    serving = settings.serving_db
    if serving.exists():
        keep = serving.with_name(".serving.previous.tmp")
        keep.unlink(missing_ok=True)
        os.link(serving, keep)
        os.replace(keep, previous_path(settings))
    os.replace(new_file, serving)
    _fsync(serving.parent)


def publish(settings: Settings, run_id: str, metadata: dict) -> list[str]:
    staging = settings.warehouse_dir / f".serving-{run_id}.duckdb.tmp"
    try:
        tables = write_serving_copy(settings, staging, run_id, metadata)
        swap_into_place(settings, staging)
    finally:
        staging.unlink(missing_ok=True)
    return tables


def rollback(settings: Settings) -> None:
    """Swap the serving database with the previously published version."""
    previous = previous_path(settings)
    if not previous.exists():
        raise FileNotFoundError("there is no previous publish to roll back to")
    current = settings.serving_db
    hold = current.with_name(".serving.rollback.tmp")
    hold.unlink(missing_ok=True)
    os.link(current, hold)
    os.replace(previous, current)
    os.replace(hold, previous)
    _fsync(current.parent)


def record_publish(settings: Settings, **entry: object) -> None:
    with duckdb.connect(str(settings.build_db)) as con:
        con.execute("create schema if not exists audit")
        con.execute(PUBLISH_LOG_DDL)
        columns = ", ".join(entry)
        con.execute(
            f"insert into audit.publish_log ({columns}) values ({', '.join('?' for _ in entry)})",
            list(entry.values()),
        )


def published_periods(settings: Settings) -> list[str]:
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'ingestion_log'"
        ).fetchone()[0]
        if not exists:
            return []
        rows = con.execute(
            "select distinct source || ':' || period from raw.ingestion_log where status <> 'rejected' order by 1"
        ).fetchall()
    return [r[0] for r in rows]


@dg.asset(
    key=["publish", "serving_database"],
    group_name="publish",
    deps=serving_model_keys(),
    kinds={"duckdb"},
)
def serving_database(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The database dashboards read, replaced atomically once every blocking audit has passed."""
    settings = get_settings()
    periods = published_periods(settings)
    metadata = {"periods": periods, "dagster_run_id": context.run_id}
    try:
        tables = publish(settings, context.run_id, metadata)
    except Exception as exc:
        record_publish(
            settings,
            run_id=context.run_id,
            published_at=datetime.now(UTC).replace(tzinfo=None),
            status="failed",
            periods=json.dumps(periods),
            tables="[]",
            checks="{}",
            message=str(exc),
        )
        raise
    record_publish(
        settings,
        run_id=context.run_id,
        published_at=datetime.now(UTC).replace(tzinfo=None),
        status="published",
        periods=json.dumps(periods),
        tables=json.dumps(tables),
        checks="{}",
        message="",
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.serving_db)),
            "tables": dg.MetadataValue.json(tables),
            "periods": dg.MetadataValue.json(periods),
        }
    )


defs = dg.Definitions(assets=[serving_database])
