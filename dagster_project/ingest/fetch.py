"""The yearly fetch of an open-data source as a Dagster op, job and schedule: what is fetched
lands in `var/landing/<source>/`, where the landing sensor takes over."""

from collections.abc import Callable

import dagster as dg

from dagster_project.lib.connectors import FetchError, Landed


class FetchConfig(dg.Config):
    years: list[int] = []


def fetch_definitions(
    source: str,
    name: str,
    fetch: Callable[[list[int] | None], list[Landed]],
    *,
    op: str,
    job: str,
    schedule: str,
    nothing_new: str,
) -> dg.Definitions:
    """Op `fetch_<source>` (config: `years`, else every new period), job `<name>_fetch_job` and
    schedule `<name>_fetch_schedule` (every 1 July, when CBS and Vektis have published)."""

    @dg.op(name=f"fetch_{source}", description=op)
    def _fetch(context: dg.OpExecutionContext, config: FetchConfig) -> list[dict]:
        try:
            landed = fetch(config.years or None)
        except FetchError as exc:
            raise dg.Failure(description=str(exc)) from None
        for item in landed:
            context.log.info(f"{item.path.name}: {item.status}, {item.rows} rows from {item.origin}")
        if not landed:
            context.log.info(nothing_new)
        context.add_output_metadata({"landed": dg.MetadataValue.json([item.as_dict() for item in landed])})
        return [item.as_dict() for item in landed]

    @dg.job(name=f"{name}_fetch_job", description=job)
    def _job():
        _fetch()

    yearly = dg.ScheduleDefinition(
        name=f"{name}_fetch_schedule",
        job=_job,
        cron_schedule="0 4 1 7 *",
        execution_timezone="Europe/Amsterdam",
        description=schedule,
    )
    return dg.Definitions(jobs=[_job], schedules=[yearly])
