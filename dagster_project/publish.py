"""Publish: replace the serving database atomically with the audited serving schema of the build.

Write–audit–publish: dbt writes the build database, the Great Expectations checks of the same run
audit it (`dagster_project.audit`), and only then is `serving.duckdb` replaced. The publish waits
for every audit check (it depends on every audited asset, so the blocking checks gate it) and
checks again itself that each audit of this run passed; otherwise it publishes nothing.

Readers (Superset) open `serving.duckdb` read-only. A new version is written to a temporary
file next to it, fsynced, and moved into place with one `rename`, so a reader, and a publish
killed at any point, sees the old file or the new one, never a mix; a reader that still holds
the old file keeps reading it. The previous version is kept beside it for `mmr rollback`.
Temporary files a killed publish leaves behind are removed by the next publish.

Test hook: `MMR_PUBLISH_PAUSE_SECONDS` (with `MMR_PUBLISH_PAUSE_AT`, a comma-separated list of
`copy`, `swap`, `previous`, `renamed`) makes a publish sleep at those points and say so on
stderr, so tests can kill it there. Unset, it costs nothing.
"""

import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from dagster_project.audit import AUDITED_TABLES, audit_checks, audited_asset_keys, check_name
from dagster_project.dbt import serving_model_keys
from dagster_project.lib import pg_publish, postgres
from dagster_project.settings import Settings, get_settings
from dagster_project.status import served_run
from expectations.report import expectation_label

SERVING_SCHEMA = "serving"
#: The role that reads every gemeente of the region on the shared warehouse.
REGION_ROLE = "regio"
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
#: Batch states whose rows are not in the build: rejected whole, or held back after a failing dbt test.
NOT_PUBLISHED = "('rejected', 'held_back')"
#: Where a publish may stop and sleep under the test hook, in the order they are reached.
PAUSE_POINTS = ("copy", "swap", "previous", "renamed")


class AuditNotPassed(Exception):
    """The audit of this run failed or did not run: nothing is published."""


def previous_path(settings: Settings) -> Path:
    return settings.serving_db.with_name("serving.previous.duckdb")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pause(point: str) -> None:
    """Test hook (see the module docstring): sleep at ``point`` when asked to."""
    seconds = os.environ.get("MMR_PUBLISH_PAUSE_SECONDS")
    if not seconds or point not in os.environ.get("MMR_PUBLISH_PAUSE_AT", "").split(","):
        return
    print(f"publish paused at {point}", file=sys.stderr, flush=True)
    time.sleep(float(seconds))


@contextmanager
def _publish_lock(settings: Settings) -> Iterator[None]:
    """One publish or rollback at a time; the lock goes away with its process, even on SIGKILL."""
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.warehouse_dir / ".publish.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def leftover_files(settings: Settings) -> list[Path]:
    """Temporary files of an interrupted publish or rollback (never the serving database itself)."""
    patterns = (".serving-*.duckdb.tmp*", ".serving.previous.tmp", ".serving.rollback.tmp")
    return sorted(path for pattern in patterns for path in settings.warehouse_dir.glob(pattern))


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
            _pause("copy")
        con.execute(
            "create table main._publish as select ? as run_id, ? as published_at, ? as metadata",
            [run_id, _now(), json.dumps(metadata)],
        )
        con.execute("detach build")
        con.execute("checkpoint")
    _fsync(target)
    return tables


def swap_into_place(settings: Settings, new_file: Path) -> None:
    """Keep the current version as the previous one, then rename the new file over it."""
    serving = settings.serving_db
    _pause("swap")
    if serving.exists():
        keep = serving.with_name(".serving.previous.tmp")
        keep.unlink(missing_ok=True)
        os.link(serving, keep)
        _pause("previous")
        os.replace(keep, previous_path(settings))
    os.replace(new_file, serving)
    _pause("renamed")
    _fsync(serving.parent)


def gemeente_role(code: str) -> str:
    """The database role a gemeente reads the shared warehouse with (row-level security)."""
    return f"gemeente_{code.lower()}"


def publish_postgres(settings: Settings, run_id: str, metadata: dict) -> list[str]:
    """Publish on the shared warehouse: roles for every gemeente in the build (and the region),
    then the atomic schema swap with row-level security (`lib/pg_publish.py`)."""
    dsn = settings.require_postgres_dsn()
    frame = postgres.read_frame(dsn, f"select distinct gemeente_code from {SERVING_SCHEMA}.dim_area order by 1")
    gemeenten = [code for code in frame["gemeente_code"] if code]
    pg_publish.sync_roles(dsn, {**{gemeente_role(code): [code] for code in gemeenten}, REGION_ROLE: gemeenten})
    served = {"run_id": run_id, "published_at": _now().isoformat(), "metadata": metadata}
    return pg_publish.publish(dsn, SERVING_SCHEMA, metadata=served)


def publish(settings: Settings, run_id: str, metadata: dict) -> list[str]:
    """Write the serving database for ``run_id`` and swap it into place; returns the tables."""
    if settings.warehouse == "postgres":
        return publish_postgres(settings, run_id, metadata)
    staging = settings.warehouse_dir / f".serving-{run_id}.duckdb.tmp"
    with _publish_lock(settings):
        for leftover in leftover_files(settings):
            leftover.unlink(missing_ok=True)
        try:
            tables = write_serving_copy(settings, staging, run_id, metadata)
            swap_into_place(settings, staging)
        finally:
            for path in (staging, staging.with_name(staging.name + ".wal")):
                path.unlink(missing_ok=True)
    return tables


def rollback(settings: Settings) -> dict[str, Any] | None:
    """Swap the serving database with the previously published version; returns what is served now."""
    if settings.warehouse == "postgres":
        replaced = served_run(settings)
        try:
            pg_publish.rollback(settings.require_postgres_dsn())
        except pg_publish.PublishRefused as refused:
            raise FileNotFoundError(str(refused)) from None
        served = served_run(settings)
    else:
        replaced, served = _rollback_file(settings)
    if settings.build_db.exists() and served:
        record_publish(
            settings,
            run_id=served["run_id"],
            published_at=_now(),
            status="rolled_back",
            periods=json.dumps(served["metadata"].get("periods", [])),
            tables="[]",
            checks="{}",
            message=f"rolled back from run {replaced['run_id'] if replaced else '?'}",
        )
    return served


def _rollback_file(settings: Settings) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Swap `serving.duckdb` and `serving.previous.duckdb`; what was served and what is now."""
    with _publish_lock(settings):
        previous = previous_path(settings)
        if not previous.exists():
            raise FileNotFoundError("there is no previous publish to roll back to")
        replaced = served_run(settings)
        current = settings.serving_db
        hold = current.with_name(".serving.rollback.tmp")
        hold.unlink(missing_ok=True)
        os.link(current, hold)
        os.replace(previous, current)
        os.replace(hold, previous)
        _fsync(current.parent)
        return replaced, served_run(settings)


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
    """Every delivered period not rejected (on the shared warehouse: of every gemeente)."""
    if settings.warehouse == "postgres":
        frame = postgres.read_frame(
            settings.require_postgres_dsn(),
            "select distinct source || ':' || period as p from raw.ingestion_log "
            f"where status not in {NOT_PUBLISHED} order by 1",
        )
        return list(frame["p"])
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'ingestion_log'"
        ).fetchone()[0]
        if not exists:
            return []
        rows = con.execute(
            "select distinct source || ':' || period from raw.ingestion_log "
            f"where status not in {NOT_PUBLISHED} order by 1"
        ).fetchall()
    return [r[0] for r in rows]


def audit_outcome(settings: Settings, run_id: str) -> dict[str, dict[str, Any]]:
    """The audit checks of ``run_id`` from `audit.check_results`: per check, passed/errors/warnings.

    A check that did not run in this run is reported with ``"ran": False``.
    """
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        try:
            rows = con.execute(
                "select asset, suite, success, failures from audit.check_results where run_id = ? order by checked_at",
                [run_id],
            ).fetchall()
        except duckdb.CatalogException:
            rows = []
    outcome: dict[str, dict[str, Any]] = {}
    for asset, suite, success, failures_json in rows:
        failures = json.loads(failures_json or "[]")
        outcome[check_name(suite)] = {
            "asset": asset,
            "suite": suite,
            "ran": True,
            "passed": bool(success),
            "errors": [expectation_label(f) for f in failures if f.get("severity") == "error"],
            "warnings": [expectation_label(f) for f in failures if f.get("severity") == "warning"],
        }
    for asset_key, _schema, _table, suite in AUDITED_TABLES:
        outcome.setdefault(
            check_name(suite),
            {"asset": "/".join(asset_key), "suite": suite, "ran": False, "passed": False, "errors": [], "warnings": []},
        )
    return outcome


def blocking_failures(outcome: dict[str, dict[str, Any]]) -> list[str]:
    """Why the audit blocks a publish (empty when it may go ahead)."""
    reasons = []
    for name, check in sorted(outcome.items()):
        if not check["ran"]:
            reasons.append(f"{name} did not run in this run")
        elif not check["passed"]:
            reasons.append(f"{name} failed: {'; '.join(check['errors']) or 'see the check result'}")
    return reasons


@dg.asset(
    key=["publish", "serving_database"],
    group_name="publish",
    # The serving models are what is copied; the audited assets are listed too, so every blocking
    # audit check (also those on marts upstream of serving) runs before, and gates, the publish.
    deps=sorted({*serving_model_keys(), *audited_asset_keys()}, key=lambda key: key.to_user_string()),
    kinds={"duckdb"},
)
def serving_database(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The database dashboards read, replaced atomically once every blocking audit of the run has passed."""
    settings = get_settings()
    periods = published_periods(settings)
    checks = audit_outcome(settings, context.run.run_id)
    entry = {"run_id": context.run.run_id, "periods": json.dumps(periods), "checks": json.dumps(checks)}
    blocked = blocking_failures(checks)
    if blocked:
        message = "audit did not pass: " + " | ".join(blocked)
        record_publish(settings, **entry, published_at=_now(), status="blocked", tables="[]", message=message)
        raise dg.Failure(description=message, metadata={"checks": dg.MetadataValue.json(checks)})
    metadata = {"periods": periods, "dagster_run_id": context.run.run_id, "checks": checks}
    try:
        tables = publish(settings, context.run.run_id, metadata)
    except Exception as exc:
        record_publish(settings, **entry, published_at=_now(), status="failed", tables="[]", message=str(exc))
        raise
    warnings = [f"{name}: {w}" for name, check in sorted(checks.items()) for w in check["warnings"]]
    record_publish(
        settings,
        **entry,
        published_at=_now(),
        status="published",
        tables=json.dumps(tables),
        message=("published with warnings: " + "; ".join(warnings)) if warnings else "",
    )
    return dg.MaterializeResult(
        metadata={
            "published": dg.MetadataValue.text(settings.published_location),
            "tables": dg.MetadataValue.json(tables),
            "periods": dg.MetadataValue.json(periods),
            "checks": dg.MetadataValue.json(checks),
            "warnings": dg.MetadataValue.json(warnings),
        }
    )


audit_publish_job = dg.define_asset_job(
    name="audit_publish_job",
    selection=dg.AssetSelection.checks(*audit_checks) | dg.AssetSelection.assets(serving_database),
    description="Audit the build database as it is and publish it if the audit passes (no ingest, no dbt).",
)

defs = dg.Definitions(assets=[serving_database], jobs=[audit_publish_job])
