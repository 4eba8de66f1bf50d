"""Audit before publish: Great Expectations suites as blocking Dagster asset checks.

A failing error-severity expectation stops the publish, so dashboards keep the last good data;
a failing warning is shown but does not block. Results are kept in `audit.check_results` of the
build database for `mmr status`, and Data Docs are rebuilt on every run.
"""

import json
from datetime import UTC, datetime

import dagster as dg
import duckdb

from dagster_project.settings import get_settings

CHECK_RESULTS_DDL = """
create table if not exists audit.check_results (
    run_id varchar,
    checked_at timestamp,
    asset varchar,
    suite varchar,
    success boolean,
    failures varchar
)
"""

# (asset key, schema in the build database, table, suite)
AUDITED_TABLES: list[tuple[list[str], str, str, str]] = [
    (["marts", "dim_area"], "marts_core", "dim_area", "dim_area"),
    (["serving", "serving_wijk_kerncijfers"], "serving", "wijk_kerncijfers", "wijk_kerncijfers"),
]


def record_check(run_id: str, asset: str, suite: str, success: bool, failures: list[dict]) -> None:
    settings = get_settings()
    with duckdb.connect(str(settings.build_db)) as con:
        con.execute("create schema if not exists audit")
        con.execute(CHECK_RESULTS_DDL)
        con.execute(
            "insert into audit.check_results values (?, ?, ?, ?, ?, ?)",
            [
                run_id,
                datetime.now(UTC).replace(tzinfo=None),
                asset,
                suite,
                success,
                json.dumps(failures, default=str),
            ],
        )


def build_check(asset_key: list[str], schema: str, table: str, suite: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(asset_key),
        name=f"gx_{suite}",
        blocking=True,
        description=f"Great Expectations suite `{suite}` on {schema}.{table}; errors block the publish.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from expectations.runner import validate_table  # Great Expectations takes ~10 s to import

        settings = get_settings()
        result = validate_table(
            settings.build_db,
            schema,
            table,
            suite,
            context_root=settings.gx_dir,
            data_docs_index=settings.data_docs_index,
        )
        record_check(context.run.run_id, "/".join(asset_key), suite, result.success, result.failures)
        errors = [f for f in result.failures if f.get("severity", "error") == "error"]
        return dg.AssetCheckResult(
            passed=not result.failures,
            severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
            metadata={
                "suite": suite,
                "failed_expectations": dg.MetadataValue.json(json.loads(json.dumps(result.failures, default=str))),
                "statistics": dg.MetadataValue.json(json.loads(json.dumps(result.statistics, default=str))),
                "data_docs": dg.MetadataValue.path(str(result.data_docs_path)),
            },
        )

    return _check


audit_checks = [build_check(*audited) for audited in AUDITED_TABLES]

defs = dg.Definitions(asset_checks=audit_checks)
