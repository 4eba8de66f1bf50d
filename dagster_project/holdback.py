"""Hold back a delivery whose rows break a dbt test, so everything else still builds and publishes.

When `dbt build` fails on tests, each failing test is traced to the deliveries it may come from:
the raw tables upstream of the tested model, minus those the region's core stands on (the
sources of `dim_area`: the area maps). A failing test on a dimension, on a seed, or on a model
with no such raw table blocks the run as before: only the region's own core may stop a publish.

Of those raw tables, the batches delivered since the last publish (every batch when nothing was
ever published) are held back: their rows leave the raw table for
`var/quarantine/<source>/<batch>/` (`held_back_rows.csv` and `reasons.csv` with the test as the
rule), the batch it superseded for the same period comes back from the archive, and
`raw.ingestion_log` marks the batch `held_back` with a message `mmr status` shows. The file stays
known by its content hash, so it is not ingested again; a corrected file replaces it as any
re-delivery does. dbt then builds once more without it.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from dagster_project.lib import warehouse as raw_layer
from dagster_project.ops import runlog
from dagster_project.settings import Settings

#: The dimension that makes the region: the sources it is built from are never held back.
CORE_MODEL = "model.mmr.dim_area"
HELD_BACK = "held_back"


@dataclass(frozen=True)
class FailedTest:
    """One dbt test of the run that found rows breaking it, as dbt reported it."""

    unique_id: str
    name: str
    failures: int | None
    message: str


@dataclass(frozen=True)
class HeldBack:
    source: str
    table: str
    batch_id: str
    file_name: str
    period: str
    rows: int
    message: str


def failed_tests(run_results: dict[str, Any], manifest: dict[str, Any]) -> list[FailedTest]:
    """The tests that found rows breaking them; none when anything errored (a model or a test
    that could not run is no delivery's rows, so it blocks)."""
    results = run_results.get("results", [])
    if any(result["status"] == "error" for result in results):
        return []
    failed = []
    for result in results:
        unique_id = result["unique_id"]
        if unique_id.startswith("test.") and result["status"] == "fail":
            node = manifest["nodes"].get(unique_id, {})
            failed.append(FailedTest(unique_id, node.get("name", unique_id), result.get("failures"), result["message"]))
    return failed


def _ancestors(manifest: dict[str, Any], node_id: str) -> set[str]:
    parents = manifest["parent_map"]
    seen: set[str] = set()
    todo = [node_id]
    while todo:
        for parent in parents.get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _tested(manifest: dict[str, Any], test_id: str) -> list[str]:
    node = manifest["nodes"][test_id]
    attached = node.get("attached_node")
    return [attached] if attached else [n for n in node["depends_on"]["nodes"] if n.startswith(("model.", "source."))]


def is_core(manifest: dict[str, Any], node_id: str) -> bool:
    """A dimension, a seed, or a model the area dimension is built from."""
    if node_id.startswith("seed."):
        return True
    name = node_id.rsplit(".", 1)[-1]
    return name.startswith("dim_") or node_id in _ancestors(manifest, CORE_MODEL)


def raw_tables(manifest: dict[str, Any], test_id: str) -> list[str] | None:
    """The raw tables a failing test may owe its rows to; None when the failure is the core's own."""
    tested = _tested(manifest, test_id)
    if not tested or any(is_core(manifest, node) for node in tested):
        return None
    core = _ancestors(manifest, CORE_MODEL)
    upstream = set(tested).union(*(_ancestors(manifest, node) for node in tested))
    sources = sorted(n for n in upstream if n.startswith("source.") and n not in core)
    tables = [manifest["sources"][n]["identifier"] for n in sources if manifest["sources"][n]["schema"] == "raw"]
    return tables or None


def _last_publish(con: duckdb.DuckDBPyConnection) -> datetime | None:
    try:
        row = con.execute("select max(published_at) from audit.publish_log where status = 'published'").fetchone()
    except duckdb.CatalogException:
        return None
    return row[0] if row else None


def _candidates(con: duckdb.DuckDBPyConnection, table: str, since: datetime | None) -> list[tuple]:
    """(batch, source, file, period, rows) of the batches in `raw.<table>` delivered after `since`."""
    return con.execute(
        f"""
        select raw._batch_id, log.source, log.file_name, log.period, count(*)
        from raw.{table} as raw
        inner join raw.ingestion_log as log on raw._batch_id = log.batch_id
        where ? is null or log.ingested_at > ?
        group by all
        order by 1
        """,
        [since, since],
    ).fetchall()


def _restore_superseded(con: duckdb.DuckDBPyConnection, settings: Settings, table: str, held: HeldBack) -> None:
    """Put back the batch the held-back one replaced for its period (its archived raw rows)."""
    previous = con.execute(
        """
        select batch_id from raw.ingestion_log
        where source = ? and period = ? and file_name = ? and batch_id <> ?
          and status in ('accepted', 'partial')
        order by ingested_at desc
        limit 1
        """,
        [held.source, held.period, held.file_name, held.batch_id],
    ).fetchone()
    archive = settings.archive_dir / held.source
    if not previous or not any(archive.glob("*.parquet")):
        return
    files = str(archive / "*.parquet").replace("'", "''")
    # A batch delivered again after a correction is archived again under the same id: one copy.
    (found,) = con.execute(
        f"select max(filename) from read_parquet('{files}', union_by_name = true, filename = true) where _batch_id = ?",
        [previous[0]],
    ).fetchone()
    if found is None:
        return
    batch = "read_parquet('{}')".format(found.replace("'", "''"))
    con.execute(
        f"insert into raw.{table} by name select *{raw_layer.numbered_pseudonyms(con, batch)} from {batch} "
        "where _batch_id = ?",
        [previous[0]],
    )


def _quarantine(settings: Settings, con: duckdb.DuckDBPyConnection, table: str, held: HeldBack, why: list) -> Path:
    folder = settings.quarantine_dir / held.source / held.batch_id
    folder.mkdir(parents=True, exist_ok=True)
    rows = con.execute(f"select * from raw.{table} where _batch_id = ?", [held.batch_id]).df()
    rows.to_csv(folder / "held_back_rows.csv", sep=";", index=False)
    reasons = pd.DataFrame(
        [{"row": "", "column": "", "rule": f"dbt:{test.name}", "message": held.message} for test in why]
    )
    earlier = folder / "reasons.csv"
    if earlier.exists():
        reasons = pd.concat([pd.read_csv(earlier, dtype=str, keep_default_na=False), reasons], ignore_index=True)
    reasons.to_csv(earlier, index=False)
    (folder / "held_back.json").write_text(
        json.dumps({"tests": [test.__dict__ for test in why], "message": held.message}, indent=1)
    )
    return folder


def hold_back(settings: Settings, manifest: dict[str, Any], failed: list[FailedTest]) -> list[HeldBack]:
    """Hold back the deliveries behind ``failed``; returns them (empty: the failure blocks)."""
    tables: dict[str, list[FailedTest]] = {}
    for test in failed:
        found = raw_tables(manifest, test.unique_id)
        if found is None:
            return []
        for table in found:
            tables.setdefault(table, []).append(test)
    held: list[HeldBack] = []
    with duckdb.connect(str(settings.build_db)) as con:
        since = _last_publish(con)
        for table, why in sorted(tables.items()):
            for batch_id, source, file_name, period, rows in _candidates(con, table, since):
                tests = ", ".join(f"{t.name} ({t.message})" for t in why)
                message = (
                    f"{file_name}: held back with its {rows} rows: dbt tests failed on raw.{table} "
                    f"as delivered since the last publish: {tests}. The rest of the run was built and "
                    "published without it; deliver a corrected file to replace it."
                )
                item = HeldBack(source, table, batch_id, file_name, period, int(rows), message)
                con.execute("begin")
                _quarantine(settings, con, table, item, why)
                con.execute(f"delete from raw.{table} where _batch_id = ?", [batch_id])
                _restore_superseded(con, settings, table, item)
                con.execute(
                    "update raw.ingestion_log set status = ?, message = ? where batch_id = ?",
                    [HELD_BACK, message, batch_id],
                )
                con.execute("commit")
                held.append(item)
        runlog.sync_sources(settings, con, {item.source for item in held})
    return held
