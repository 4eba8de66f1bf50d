"""Audit before publish: Great Expectations suites as blocking Dagster asset checks.

A failing error-severity expectation stops the publish, so dashboards keep the last good data;
a failing warning is shown (the check result is `passed=False` with severity WARN) but does not
block. Each check compares with the serving database published now (volume change, drift).
Results are kept in `audit.check_results` of the build database for the publish log and
`mmr status`, and Data Docs are rebuilt on every run and linked from the check metadata.
"""

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from dagster_project.dbt import dbt_project
from dagster_project.lib import warehouse as build_database
from dagster_project.ops import runlog
from dagster_project.resources import warehouse_for
from dagster_project.settings import get_settings
from expectations.report import expectation_label, summarise_failures

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

# (asset key, schema in the build database, table, suite): tables with a suite module of their own
AUDITED_TABLES: list[tuple[list[str], str, str, str]] = [
    (["marts", "dim_area"], "marts_core", "dim_area", "dim_area"),
    (["serving", "serving_wijk_kerncijfers"], "serving", "wijk_kerncijfers", "wijk_kerncijfers"),
]


def serving_contracts() -> dict[str, dict[str, Any]]:
    """Every other serving model, with the columns and disclosure meta its dbt YAML declares
    (the arguments of `expectations.suites.serving.ServingContract`), by asset key."""
    settings = get_settings()
    manifest = json.loads(dbt_project().manifest_path.read_text())
    own = {table for _, schema, table, _ in AUDITED_TABLES if schema == "serving"}
    contracts = {}
    for node in sorted(manifest["nodes"].values(), key=lambda n: n["name"]):
        if node["resource_type"] != "model" or node["fqn"][1] != "serving" or node["alias"] in own:
            continue
        meta = {n: {**c.get("meta", {}), **c.get("config", {}).get("meta", {})} for n, c in node["columns"].items()}
        bases = {name: m.get("base") for name, m in meta.items() if m.get("disclosure") == "derived"}
        contracts[f"serving/{node['name']}"] = {
            "table": node["alias"],
            "columns": list(node["columns"]),
            "counts": {name: m.get("where") or "true" for name, m in meta.items() if m.get("disclosure") == "count"},
            "derived": {name: [base] if isinstance(base, str) else list(base) for name, base in bases.items() if base},
            "groups": list(node["config"].get("meta", {}).get("disclosure_groups", [])),
            "cells": {name: m["cell"] for name, m in meta.items() if m.get("cell")},
            "row_totals": [
                (total, list(parts)) for total, parts in node["config"].get("meta", {}).get("disclosure_row_totals", [])
            ],
            "threshold": settings.suppression_threshold,
            "rounding_base": settings.rounding_base,
        }
    return contracts


SERVING_CONTRACTS = serving_contracts()
AUDITED_TABLES += [(key.split("/"), "serving", c["table"], key.split("/")[1]) for key, c in SERVING_CONTRACTS.items()]


def register_serving_suites() -> None:
    """Give the serving tables without a suite module the generic one (imports Great Expectations)."""
    from functools import partial

    from expectations import suites
    from expectations.suites import serving

    for key, contract in SERVING_CONTRACTS.items():
        name = key.split("/")[1]
        suites.register(name, "serving", partial(serving.build, serving.ServingContract(**contract), name))


def check_name(suite: str) -> str:
    return f"gx_{suite}"


def audited_asset_keys() -> list[dg.AssetKey]:
    """Every asset the audit checks: the publish waits for (and is blocked by) their checks."""
    return [dg.AssetKey(asset_key) for asset_key, *_ in AUDITED_TABLES]


def record_check(run_id: str, asset: str, suite: str, success: bool, failures: list[dict]) -> None:
    settings = get_settings()
    row = [run_id, datetime.now(UTC).replace(tzinfo=None), asset, suite, success, json.dumps(failures, default=str)]
    with build_database.connect(settings) as con:
        con.execute("create schema if not exists audit")
        con.execute(CHECK_RESULTS_DDL)
        con.execute("insert into audit.check_results values (?, ?, ?, ?, ?, ?)", row)
    runlog.append(settings, "check_results", dict(zip(runlog.CHECK_COLUMNS, row, strict=True)))


def build_check(asset_key: list[str], schema: str, table: str, suite: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(asset_key),
        name=check_name(suite),
        blocking=True,
        description=f"Great Expectations suite `{suite}` on {schema}.{table}; errors block the publish.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from expectations.runner import validate_table  # Great Expectations takes ~10 s to import

        register_serving_suites()

        settings = get_settings()
        audited_warehouse = warehouse_for(settings)
        build, baseline = audited_warehouse.audited()
        result = validate_table(
            build,
            schema,
            table,
            suite,
            context_root=settings.gx_dir,
            data_docs_index=settings.data_docs_index,
            baseline_db=baseline,
            dialect=audited_warehouse.dialect,
        )
        record_check(context.run.run_id, "/".join(asset_key), suite, result.success, result.failures)
        # Only error-severity failures (and expectations GX could not evaluate) block the publish;
        # a failed warning still shows as a failed check, with severity WARN.
        metadata: dict[str, Any] = {
            "suite": suite,
            "errors": dg.MetadataValue.json([expectation_label(f) for f in result.errors]),
            "warnings": dg.MetadataValue.json([expectation_label(f) for f in result.warnings]),
            "failed_expectations": dg.MetadataValue.json(json.loads(json.dumps(result.failures, default=str))),
            "statistics": dg.MetadataValue.json(json.loads(json.dumps(result.statistics, default=str))),
            "data_docs": dg.MetadataValue.path(str(result.data_docs_path)),
        }
        if result.data_docs_path:
            metadata["data_docs_url"] = dg.MetadataValue.url(result.data_docs_path.resolve().as_uri())
        if result.validation_page:
            metadata["validation_page"] = dg.MetadataValue.url(result.validation_page.resolve().as_uri())
        return dg.AssetCheckResult(
            passed=not result.failures,
            severity=dg.AssetCheckSeverity.WARN if result.success and result.failures else dg.AssetCheckSeverity.ERROR,
            description=f"{suite}: {summarise_failures(result.failures)}",
            metadata=metadata,
        )

    return _check


audit_checks = [build_check(*audited) for audited in AUDITED_TABLES]

defs = dg.Definitions(asset_checks=audit_checks)
