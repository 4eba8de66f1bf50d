"""Audit before publish: Great Expectations suites as blocking Dagster asset checks.

A failing error-severity expectation stops the publish, so dashboards keep the last good data;
a failing warning is shown (the check result is `passed=False` with severity WARN) but does not
block. Each check compares with the serving database published now (volume change, drift).
Results are kept in `audit.check_results` of the build database for the publish log and
`mmr status`, and Data Docs are rebuilt once per run and linked from the check metadata.
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


def record_checks(run_id: str, rows: list[tuple[str, str, bool, list[dict]]]) -> None:
    """Keep each table's outcome (asset, suite, success, failures) for the publish and `mmr status`."""
    settings = get_settings()
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        [run_id, now, asset, suite, success, json.dumps(failures, default=str)]
        for asset, suite, success, failures in rows
    ]
    with build_database.connect(settings) as con:
        con.execute("create schema if not exists audit")
        con.execute(CHECK_RESULTS_DDL)
        con.executemany("insert into audit.check_results values (?, ?, ?, ?, ?, ?)", rows)
    for row in rows:
        runlog.append(settings, "check_results", dict(zip(runlog.CHECK_COLUMNS, row, strict=True)))


def check_key(asset_key: list[str], suite: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(asset_key), check_name(suite))


def check_result(asset_key: list[str], suite: str, result: Any) -> dg.AssetCheckResult:
    """One table's audit as its asset check: only error-severity failures (and expectations GX could
    not evaluate) block the publish; a failed warning still shows as a failed check, severity WARN."""
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
        asset_key=dg.AssetKey(asset_key),
        check_name=check_name(suite),
        passed=not result.failures,
        severity=dg.AssetCheckSeverity.WARN if result.success and result.failures else dg.AssetCheckSeverity.ERROR,
        description=f"{suite}: {summarise_failures(result.failures)}",
        metadata=metadata,
    )


def audit_suites(name: str, tables: list[tuple[list[str], str, str, str]]) -> dg.AssetChecksDefinition:
    """The audit of `tables` as one step: every selected table validated in one Great Expectations
    checkpoint, so the context, the suites and Data Docs are built once, not once per table."""

    @dg.multi_asset_check(
        name=name,
        specs=[
            dg.AssetCheckSpec(
                check_name(suite),
                asset=dg.AssetKey(asset_key),
                blocking=True,
                description=f"Great Expectations suite `{suite}` on {schema}.{table}; errors block the publish.",
            )
            for asset_key, schema, table, suite in tables
        ],
        can_subset=True,
    )
    def _audit(context: dg.AssetCheckExecutionContext):
        from expectations.runner import TableSpec, validate_many  # Great Expectations takes ~10 s to import

        register_serving_suites()
        selected = context.selected_asset_check_keys
        audited = [table for table in tables if check_key(table[0], table[3]) in selected]
        settings = get_settings()
        audited_warehouse = warehouse_for(settings)
        build, baseline = audited_warehouse.audited()
        results = validate_many(
            build,
            [TableSpec(schema, table, suite) for _, schema, table, suite in audited],
            context_root=settings.gx_dir,
            data_docs_index=settings.data_docs_index,
            baseline_db=baseline,
            dialect=audited_warehouse.dialect,
        )
        outcomes = list(zip(audited, results, strict=True))
        record_checks(
            context.run.run_id, [("/".join(key), suite, r.success, r.failures) for (key, *_, suite), r in outcomes]
        )
        for (key, *_, suite), result in outcomes:
            yield check_result(key, suite, result)

    return _audit


#: Two steps: a blocking check of a table other models read (`marts/dim_area`) must run before
#: those models, the serving tables' checks only before the publish.
audit_checks = [
    audit_suites("audit_marts", [t for t in AUDITED_TABLES if t[1] != "serving"]),
    audit_suites("audit_serving", [t for t in AUDITED_TABLES if t[1] == "serving"]),
]


defs = dg.Definitions(asset_checks=audit_checks)
