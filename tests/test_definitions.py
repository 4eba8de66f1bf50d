"""The Dagster definitions load and form the graph the product promises."""

import dagster as dg
import pytest

from dagster_project.dbt import dbt_project


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from dagster_project.definitions import defs

    return defs


def test_definitions_validate(defs):
    defs.validate_loadable(defs)


def test_every_dbt_model_is_an_asset_in_its_layer_group(defs):
    import json

    manifest = json.loads(dbt_project().manifest_path.read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    graph = defs.resolve_asset_graph()
    for model in models:
        key = dg.AssetKey([model["fqn"][1], model["name"]])
        assert graph.has(key), key
        assert graph.get(key).group_name == "_".join(model["fqn"][1:-1])


def test_ingest_feeds_dbt_and_publish_waits_for_serving(defs):
    graph = defs.resolve_asset_graph()
    staging = graph.get(dg.AssetKey(["staging", "stg_cbs__kwb"]))
    assert dg.AssetKey(["raw", "cbs", "kwb"]) in staging.parent_keys
    publish = graph.get(dg.AssetKey(["publish", "serving_database"]))
    assert dg.AssetKey(["serving", "serving_wijk_kerncijfers"]) in publish.parent_keys
    assert dg.AssetKey(["serving", "serving_dim_area"]) in publish.parent_keys


def test_audit_checks_are_blocking(defs):
    specs = [spec for check_def in defs.asset_checks for spec in check_def.check_specs]
    gx = {spec.name: spec for spec in specs if spec.name.startswith("gx_")}
    assert {"gx_dim_area", "gx_wijk_kerncijfers"} <= set(gx)
    assert all(spec.blocking for spec in gx.values())


def test_job_sensor_and_schedule(defs):
    assert defs.resolve_job_def("mmr_job")
    assert defs.resolve_sensor_def("landing_sensor")
    assert defs.resolve_schedule_def("cbs_yearly_schedule")
