"""Where a run's time went, from what Dagster recorded of it: seconds per stage (ingest, dbt,
analytics, audit, publish) and the slowest assets (a dbt model, a source's ingestion, a statistic).
"""

from pathlib import Path

#: The slowest assets of a run the benchmark names.
SLOWEST = 12


def stage_seconds(dagster_home: Path) -> tuple[dict[str, float], str | None]:
    """Durations per stage of the latest run, from the steps Dagster recorded, and the run's id."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {}, None
        run = runs[0]
        materialised = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=10_000
        ).records
        ingesting = {
            r.event_log_entry.dagster_event.step_key
            for r in materialised
            if (key := r.event_log_entry.dagster_event.asset_key) and key.path[0] == "raw"
        }
        records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_SUCCESS, limit=10_000)
        stages: dict[str, float] = {}
        for record in records.records:
            event = record.event_log_entry.dagster_event
            stage = stage_of(event.step_key, ingesting)
            stages[stage] = stages.get(stage, 0.0) + event.event_specific_data.duration_ms / 1000
    return stages, run.run_id


def stage_of(step_key: str, ingesting: set[str]) -> str:
    """The stage of a step: ingestion steps are those that materialise a `raw` asset (the same
    rule `ingest_metadata` counts rows by), the dbt steps `mmr_dbt…`; the statistics (expected
    use, benchmark, effects, geometry) are analytics."""
    if step_key in ingesting:
        return "ingest"
    if step_key.startswith("audit_"):
        return "audit"
    if step_key.startswith("publish__"):
        return "publish"
    if step_key.startswith("mmr_dbt"):
        return "dbt"
    return "analytics"


def ingest_metadata(dagster_home: Path, run_id: str) -> dict[str, float]:
    """Wall seconds and CPU seconds (all threads of the process) the ingest assets of a run
    recorded in their materialisation metadata."""
    from dagster import DagsterEventType, DagsterInstance

    totals = {"seconds": 0.0, "cpu_seconds": 0.0}
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=10_000)
        for record in records.records:
            event = record.event_log_entry.dagster_event
            if not event.asset_key or event.asset_key.path[0] != "raw":
                continue
            metadata = event.step_materialization_data.materialization.metadata
            for name in totals:
                if name in metadata:
                    totals[name] += float(metadata[name].value)
    return totals


def slowest_assets(dagster_home: Path, run_id: str, limit: int = SLOWEST) -> dict[str, float]:
    """The `limit` slowest assets of a run, in seconds: dbt models by the duration dbt reported,
    ingested sources by the seconds they recorded, the other steps (statistics, audits, publish)
    by their step's duration."""
    from dagster import DagsterEventType, DagsterInstance

    seconds: dict[str, float] = {}
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        materialised = instance.get_records_for_run(
            run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=10_000
        ).records
        timed_steps = set()
        for record in materialised:
            event = record.event_log_entry.dagster_event
            metadata = event.step_materialization_data.materialization.metadata
            value = metadata.get("Execution Duration") or metadata.get("seconds")
            if event.asset_key and value is not None:
                seconds["/".join(event.asset_key.path)] = float(value.value)
                timed_steps.add(event.step_key)
        steps = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_SUCCESS, limit=10_000).records
        for record in steps:
            event = record.event_log_entry.dagster_event
            if event.step_key not in timed_steps:
                seconds[event.step_key] = event.event_specific_data.duration_ms / 1000
    ranked = sorted(seconds.items(), key=lambda item: item[1], reverse=True)[:limit]
    return {name: round(value, 1) for name, value in ranked}
