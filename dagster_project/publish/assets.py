"""Publish: put the audited serving schema of the build where dashboards read it, atomically.

Write–audit–publish: dbt writes the build, the Great Expectations checks of the same run audit it
(`dagster_project.audit`), and only then is it published (`file_swap.py` in the embedded mode,
`schema_swap.py` in the shared mode, through the `Warehouse` resource). The publish waits for every
audit check (it depends on every audited asset, so the blocking checks gate it) and checks again
itself that each audit of this run passed; otherwise it publishes nothing.
"""

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import duckdb

from dagster_project.audit import AUDITED_TABLES, audit_checks, audited_asset_keys, check_name
from dagster_project.dbt import serving_model_keys
from dagster_project.lib import warehouse as build_database
from dagster_project.ops import runlog
from dagster_project.resources import Warehouse, warehouse_for
from dagster_project.settings import Settings
from expectations.report import expectation_label

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


class AuditNotPassed(Exception):
    """The audit of this run failed or did not run: nothing is published."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def publish(settings: Settings, run_id: str, metadata: dict) -> list[str]:
    """Publish the build's serving schema for ``run_id``; returns the tables."""
    return warehouse_for(settings).publish(run_id, metadata, _now())


def rollback(settings: Settings) -> dict[str, Any] | None:
    """Put the previously published version back; returns what is served now."""
    replaced, served = warehouse_for(settings).restore_previous()
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


def record_publish(settings: Settings, **entry: object) -> None:
    with build_database.connect(settings) as con:
        con.execute("create schema if not exists audit")
        con.execute(PUBLISH_LOG_DDL)
        columns = ", ".join(entry)
        con.execute(
            f"insert into audit.publish_log ({columns}) values ({', '.join('?' for _ in entry)})",
            list(entry.values()),
        )
    runlog.append(settings, "publish_log", entry)


def audit_outcome(settings: Settings, run_id: str) -> dict[str, dict[str, Any]]:
    """The audit checks of ``run_id`` from `audit.check_results`: per check, passed/errors/warnings.

    A check that did not run in this run is reported with ``"ran": False``.
    """
    with build_database.connect(settings, read_only=True) as con:
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
def serving_database(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """The database dashboards read, replaced atomically once every blocking audit of the run has passed."""
    settings = warehouse.settings
    periods = warehouse.published_periods()
    checks = audit_outcome(settings, context.run.run_id)
    entry = {"run_id": context.run.run_id, "periods": json.dumps(periods), "checks": json.dumps(checks)}
    blocked = blocking_failures(checks)
    if blocked:
        message = "audit did not pass: " + " | ".join(blocked)
        record_publish(settings, **entry, published_at=_now(), status="blocked", tables="[]", message=message)
        raise dg.Failure(description=message, metadata={"checks": dg.MetadataValue.json(checks)})
    metadata = {"periods": periods, "dagster_run_id": context.run.run_id, "checks": checks}
    try:
        tables = warehouse.publish(context.run.run_id, metadata, _now())
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
            "published": dg.MetadataValue.text(warehouse.published_location),
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
