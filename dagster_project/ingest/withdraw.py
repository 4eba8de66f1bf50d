"""Take back a delivery: `mmr withdraw <source> <file or batch>`.

The rows a delivered file brought into the raw layer are deleted (on the shared warehouse too,
from its gemeente's partition), its ingestion log entries and its archive are marked withdrawn,
and the file, if it still lies in the landing folder, moves to `var/withdrawn/<source>/` so it is
not ingested again; delivering the same bytes again later ingests them again. Partitions of
incremental models built from the delivery are deleted as well, so the next run rebuilds
everything without it and its publish no longer shows it.

It runs as a Dagster run (`withdraw_job`) tagged as a warehouse writer, so it waits in the same
queue as every other run and shows in the run list.
"""

import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import dagster as dg
import duckdb

from dagster_project.ingest.reading import content_hash
from dagster_project.ingest.sensor import WRITERS
from dagster_project.lib import warehouse
from dagster_project.ops import runlog
from dagster_project.resources import warehouse_for
from dagster_project.settings import Settings, get_settings


class NothingToWithdraw(Exception):
    """No delivery of that source with that file name or batch id is in the raw layer."""


@dataclass
class Withdrawal:
    source: str
    batches: list[str]
    files: list[str]
    periods: list[str]
    raw_rows: dict[str, int] = field(default_factory=dict)
    built_rows: dict[str, int] = field(default_factory=dict)
    moved: list[str] = field(default_factory=list)


def _tables_with(con: duckdb.DuckDBPyConnection, column: str, raw: bool) -> list[str]:
    """Base tables that have `column`: of schema raw, or (raw=False) of every other schema."""
    rows = con.execute(
        "select c.table_schema, c.table_name from information_schema.columns c "
        "join information_schema.tables t using (table_catalog, table_schema, table_name) "
        "where t.table_type = 'BASE TABLE' and c.column_name = ? and (c.table_schema = 'raw') = ? "
        "order by 1, 2",
        [column, raw],
    ).fetchall()
    return [f'"{schema}"."{name}"' for schema, name in rows]


def _delete(con: duckdb.DuckDBPyConnection, tables: list[str], column: str, batches: list[str]) -> dict[str, int]:
    listed = ", ".join("?" for _ in batches)
    deleted = {}
    for table in tables:
        (count,) = con.execute(f"select count(*) from {table} where {column} in ({listed})", batches).fetchone()
        if count:
            con.execute(f"delete from {table} where {column} in ({listed})", batches)
            deleted[table.replace('"', "")] = int(count)
    return deleted


def withdraw(settings: Settings, source: str, target: str) -> Withdrawal:
    """Withdraw every ingested batch of `source` whose file name or batch id is `target`."""
    withdrawn_at = datetime.now(UTC).replace(tzinfo=None)
    message = f"withdrawn at {withdrawn_at:%Y-%m-%d %H:%M:%S} UTC"
    with warehouse.connect(settings) as con:
        found = con.execute(
            "select batch_id, file_name, period, content_hash from raw.ingestion_log "
            "where source = ? and (file_name = ? or batch_id = ?) and status not in ('rejected', 'withdrawn') "
            "order by rowid",
            [source, target, target],
        ).fetchall()
        if not found:
            known = con.execute(
                "select count(*) from raw.ingestion_log where source = ? and (file_name = ? or batch_id = ?)",
                [source, target, target],
            ).fetchone()[0]
            reason = "was rejected or withdrawn before" if known else "is not in the ingestion log"
            raise NothingToWithdraw(f"{source}: {target} {reason} (`mmr status` lists the batches)")
        batches = sorted({row[0] for row in found})
        result = Withdrawal(source, batches, sorted({row[1] for row in found}), sorted({row[2] for row in found}))
        con.execute("begin")
        try:
            result.raw_rows = _delete(con, _tables_with(con, "_batch_id", raw=True), "_batch_id", batches)
            result.built_rows = _delete(con, _tables_with(con, "batch_id", raw=False), "batch_id", batches)
            listed = ", ".join("?" for _ in batches)
            con.execute(
                f"update raw.ingestion_log set status = 'withdrawn', message = ? where batch_id in ({listed})",
                [message, *batches],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        warehouse_for(settings).share_withdrawal(
            con, [table.split(".", 1)[1] for table in result.raw_rows], result.periods, result.batches, message
        )
        runlog.sync_sources(settings, con, [source])
    _mark_archive(settings, result, withdrawn_at)
    hashes = {row[3] for row in found}
    for name in result.files:
        landed = settings.landing_dir / source / name
        if landed.is_file() and content_hash(landed) in hashes:
            folder = settings.home / "withdrawn" / source
            folder.mkdir(parents=True, exist_ok=True)
            shutil.move(landed, folder / name)
            result.moved.append(str(folder / name))
    return result


def _mark_archive(settings: Settings, result: Withdrawal, withdrawn_at: datetime) -> None:
    """The archive is immutable: a withdrawn batch gets a note beside it, `withdrawn/<batch>.json`."""
    folder = settings.archive_dir / result.source / "withdrawn"
    folder.mkdir(parents=True, exist_ok=True)
    for batch in result.batches:
        note = {**asdict(result), "batch_id": batch, "withdrawn_at": f"{withdrawn_at:%Y-%m-%d %H:%M:%S} UTC"}
        (folder / f"{batch}.json").write_text(json.dumps(note, indent=2))


@dg.op(config_schema={"source": str, "target": str})
def withdraw_delivery(context: dg.OpExecutionContext) -> dict:
    """Remove one delivery's rows from the raw layer; the next run builds and publishes without it."""
    result = withdraw(get_settings(), context.op_config["source"], context.op_config["target"])
    context.log.info(f"withdrew {result.source} {', '.join(result.files)}: {result.raw_rows}")
    return asdict(result)


@dg.job(tags=WRITERS, description="Withdraw a delivery from the raw layer (`mmr withdraw`).")
def withdraw_job():
    withdraw_delivery()


defs = dg.Definitions(jobs=[withdraw_job])
