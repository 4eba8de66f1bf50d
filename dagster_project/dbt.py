"""The dbt project as Dagster assets: one asset per model and seed, dbt tests as asset checks."""

import json
import os
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dagster_project.resources import warehouse_for
from dagster_project.settings import PROJECT_ROOT, get_settings

DBT_DIR = PROJECT_ROOT / "dbt"
#: dbt from this environment, found without relying on PATH (a cron job or service has its own).
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


@cache
def dbt_project() -> DbtProject:
    """The dbt project; its manifest is parsed on first use so a fresh clone loads without a setup step."""
    project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)
    if not project.manifest_path.exists():
        dbt_environment()
        project.preparer.prepare(project)
    return project


def dbt_environment() -> None:
    """dbt reads its target from the environment (`dbt/profiles.yml`): the warehouse says which.
    This environment's `bin` leads the PATH, for the dbt dagster-dbt starts to parse a project
    without a manifest."""
    os.environ.update(warehouse_for().dbt_env())
    first = str(Path(DBT_EXECUTABLE).parent) + os.pathsep
    path = os.environ.get("PATH", "")
    if not path.startswith(first):
        os.environ["PATH"] = first + path


class MmrTranslator(DagsterDbtTranslator):
    """Keys are `<layer>/<model>`; the group is the folder path joined by `_`, as the schema is."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            fqn = dbt_resource_props["fqn"]
            layer = fqn[1] if len(fqn) > 2 else "reference"
            return dg.AssetKey([layer, dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props["fqn"]
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        return "_".join(fqn[1:-1]) or None


#: dbt nodes that read what the Python analytics write (schema `analytics`): they run after them.
AFTER_ANALYTICS = "source:analytics+"


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=MmrTranslator(),
    exclude=AFTER_ANALYTICS,
)
def mmr_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Every dbt model and seed up to the marts the analytics read, built with `dbt build` so each
    model's tests run right after it."""
    dbt_environment()
    yield from build_holding_back(context, dbt)


def step_target(context: dg.AssetExecutionContext) -> Path:
    """Where dbt writes what a step leaves (compiled SQL, `run_results.json`, its log): a folder per
    step in the logs, replaced by its next run, instead of a new folder of ~30 MB per run in
    `dbt/target`. The next run also finds there what dbt parsed with this installation's profile,
    so it parses only what changed (from a new folder it parsed the whole project, ~5 s)."""
    return get_settings().log_dir / "dbt" / context.op_def.name


#: How often a failing build may hold deliveries back and build again before it gives up.
HOLD_BACK_ROUNDS = 3


def build_holding_back(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """`dbt build`; when tests fail on rows of deliveries outside the region's core, hold those
    deliveries back (`dagster_project/holdback.py`) and build again, so the rest publishes. A
    failure of the core itself fails as before.

    dbt's events reach Dagster while it builds, except failed tests where deliveries can be held
    back: they wait for the build to end, and are dropped when it is run again. A build run again
    reports only what the builds before it did not (Dagster takes one result per model and test
    in a run)."""
    from dagster_project import holdback

    warehouse = warehouse_for()
    reported: set[tuple] = set()
    for _ in range(HOLD_BACK_ROUNDS):
        invocation = dbt.cli(["build"], context=context, raise_on_error=False, target_path=step_target(context))
        failed: list[dg.AssetCheckResult] = []
        for event in invocation.stream():
            key = _reported_as(event)
            failing = isinstance(event, dg.AssetCheckResult) and not event.passed
            if key in reported:
                if failing:
                    context.log.error(f"{event.check_name} ({event.asset_key.to_user_string()}) failed, built again")
                continue
            if failing and warehouse.holds_back_deliveries:
                failed.append(event)
                continue
            if key is not None:
                reported.add(key)
            yield event
        if invocation.is_successful() or not warehouse.holds_back_deliveries:
            break
        manifest = json.loads(dbt_project().manifest_path.read_text())
        results = holdback.failed_tests(invocation.get_artifact("run_results.json"), manifest)
        held = holdback.hold_back(warehouse.settings, manifest, results) if results else []
        if not held:
            break
        for item in held:
            context.log.warning(item.message)
    yield from failed
    error = invocation.get_error()
    if error:
        raise error


def _reported_as(event: Any) -> tuple | None:
    """What Dagster takes one result of per run (a model's output, a test's check); None for an
    event it takes any number of (an observation)."""
    if isinstance(event, dg.Output):
        return ("output", event.output_name)
    if isinstance(event, dg.AssetCheckResult):
        return ("check", event.asset_key, event.check_name)
    return None


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    dagster_dbt_translator=MmrTranslator(),
    select=AFTER_ANALYTICS,
    name="mmr_dbt_after_analytics",
)
def mmr_dbt_after_analytics(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """The dbt models that read the analytics tables (serving layer of the statistics), built once
    the Python analytics assets of the same run have written them."""
    dbt_environment()
    yield from dbt.cli(["build"], context=context, target_path=step_target(context)).stream()


def serving_model_keys() -> list[dg.AssetKey]:
    """The dbt models of the serving layer: exactly what a publish copies to dashboards."""
    manifest = json.loads(dbt_project().manifest_path.read_text())
    translator = MmrTranslator()
    return sorted(
        (
            translator.get_asset_key(node)
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node["fqn"][1] == "serving"
        ),
        key=lambda key: key.to_user_string(),
    )


class MmrDbtCliResource(DbtCliResource):
    """dbt's command line, without the dbt adapter dagster-dbt loads in Dagster's own process
    before every command (every macro of the project, seconds before dbt starts): it serves only
    the row counts and column metadata dagster-dbt can fetch, which MMR does not."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_resource() -> DbtCliResource:
    dbt_environment()
    return MmrDbtCliResource(project_dir=dbt_project(), profiles_dir=str(DBT_DIR), dbt_executable=DBT_EXECUTABLE)


defs = dg.Definitions(assets=[mmr_dbt_models, mmr_dbt_after_analytics], resources={"dbt": dbt_resource()})
