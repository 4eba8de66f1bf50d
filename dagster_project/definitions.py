"""The one Definitions object of MMR: every source, the dbt project, the analytics, the audit and the publish."""

import dagster as dg

from dagster_project import analytics, audit, dbt, geometry
from dagster_project.ingest import withdraw
from dagster_project.ingest.sensor import WRITERS, build_landing_sensor
from dagster_project.publish import assets as publish_assets
from dagster_project.resources import warehouse_for
from dagster_project.sources import (
    budgetten,
    cbs_kwb,
    cbs_odata,
    cbs_wijk_zorg,
    clientervaring,
    contracten,
    gebieden,
    gemeente_jeugd,
    gemeente_participatie,
    gemeente_wmo,
    interventies,
    vektis_open_data,
    vektis_zvw,
)

SOURCE_MODULES = [
    cbs_kwb,
    cbs_wijk_zorg,
    gebieden,
    vektis_zvw,
    gemeente_jeugd,
    gemeente_wmo,
    gemeente_participatie,
    clientervaring,
    budgetten,
    contracten,
    interventies,
]

mmr_job = dg.define_asset_job(
    name="mmr_job",
    selection=dg.AssetSelection.all(),
    description="Ingest → transform → audit → publish: the whole pipeline.",
    tags=WRITERS,
)

ingest_job = dg.define_asset_job(
    name="ingest_job",
    selection=dg.AssetSelection.key_prefixes(["raw"]),
    description=(
        "Ingest what has landed into the raw layer only. In the shared mode this is a gemeente's own "
        "delivery run: it writes that gemeente's partitions, side by side with other gemeenten."
    ),
    tags=WRITERS,
)


def mmr_schedule(name: str, cron: str, description: str) -> dg.ScheduleDefinition:
    """`mmr_job` on the times `cron` names, in Dutch time."""
    return dg.ScheduleDefinition(
        name=name, job=mmr_job, cron_schedule=cron, execution_timezone="Europe/Amsterdam", description=description
    )


cbs_yearly_schedule = mmr_schedule(
    "cbs_yearly_schedule", "0 6 1 7 *", "CBS and Vektis publish yearly; pick up new periods every July."
)
municipal_monthly_schedule = mmr_schedule(
    "municipal_monthly_schedule",
    "0 6 5 * *",
    "Gemeenten export Jeugd, Wmo and Participatie monthly; build on the 5th, after the drops.",
)

defs = dg.Definitions.merge(
    dg.Definitions(assets=dg.load_assets_from_modules(SOURCE_MODULES)),
    dbt.defs,
    analytics.defs,
    geometry.defs,
    audit.defs,
    publish_assets.defs,
    cbs_odata.defs,
    vektis_open_data.defs,
    withdraw.defs,
    dg.Definitions(
        jobs=[mmr_job, ingest_job],
        schedules=[cbs_yearly_schedule, municipal_monthly_schedule],
        sensors=[build_landing_sensor([module.SOURCE for module in SOURCE_MODULES], mmr_job.name)],
        executor=dg.in_process_executor,
        resources={"warehouse": warehouse_for()},
    ),
)
