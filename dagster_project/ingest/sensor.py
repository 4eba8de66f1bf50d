"""One sensor over every landing folder: start the pipeline once for what is new, not yet ingested.

A file counts as complete when it has a final name (no `.tmp`/`.part`, not hidden) and its size
and modification time did not change between two sensor ticks, so a half-written drop waits.
A complete file is new when the ingestion log (read from the run log, never from the build
database a run holds) knows neither its name, size and time nor its content hash. Only files whose
size or time changed since the cursor are hashed, once. Files that land together, in one folder
or several, wait for each other to settle and start one run; while a run that writes the warehouse
is queued or busy, the sensor waits too, as that run may already ingest them. A run that failed
before ingesting them is started again, up to three times.
"""

import hashlib
import json

import dagster as dg

from dagster_project.ingest.reading import content_hash, landed_files
from dagster_project.ops import runlog
from dagster_project.settings import get_settings

SENSOR_NAME = "landing_sensor"
#: The tag every run that writes the build warehouse carries; the run queue lets one run at a time.
WAREHOUSE_TAG = "mmr/warehouse"
WRITERS = {WAREHOUSE_TAG: "write"}
#: Which MMR home (and so which build warehouse) a run writes.
HOME_TAG = "mmr/home"
#: The files a sensor's run was started for; a run that failed before ingesting them is retried.
DELIVERY_TAG = "mmr/delivery"
ATTEMPTS = 3
BUSY = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def busy_writers(instance: dg.DagsterInstance, exclude: str | None = None) -> list[dg.DagsterRun]:
    """Runs that write the warehouse and are queued or under way, oldest first."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=BUSY, tags=WRITERS))
    return [run for run in reversed(runs) if run.run_id != exclude]


def failed_runs(instance: dg.DagsterInstance, delivery: str) -> int:
    """Runs started for these files that failed (e.g. a machine too busy to load the code)."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], tags={DELIVERY_TAG: delivery})
    )
    return len(runs)


def _instance(context: dg.SensorEvaluationContext) -> dg.DagsterInstance | None:
    try:
        return context.instance
    except dg.DagsterInvariantViolationError:
        return None


def build_landing_sensor(sources: list[str], job_name: str, interval_seconds: int = 30) -> dg.SensorDefinition:
    @dg.sensor(
        name=SENSOR_NAME,
        job_name=job_name,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts one `{job_name}` when complete files that were not ingested yet land in "
        f"var/landing/<source>/ ({', '.join(sources)}).",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        settings = get_settings()
        instance = _instance(context)
        if instance is not None and busy_writers(instance):
            return dg.SkipReason("a run that writes the warehouse is queued or under way")
        if not runlog.ensure(settings):
            return dg.SkipReason("waiting to read the ingestion log of the warehouse")
        before: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
        hashes, stats = runlog.known_files(settings)
        now: dict[str, list] = {}
        settling, new = [], []
        for source in sources:
            for path in landed_files(settings, source, pattern="*"):
                stat = path.stat()
                signature = [stat.st_size, stat.st_mtime_ns]
                if (source, path.name, *signature) in stats:
                    continue
                key = f"{source}/{path.name}"
                seen = before.get(key)
                if seen is None or seen[:2] != signature:
                    now[key] = [*signature, None]
                    settling.append(key)
                    continue
                digest = seen[2] or content_hash(path)
                now[key] = [*signature, digest]
                if (source, digest) not in hashes:
                    new.append((source, digest))
        context.update_cursor(json.dumps(now))
        if settling:
            return dg.SkipReason(f"waiting for {len(settling)} files to settle")
        if not new:
            return dg.SkipReason("nothing new has landed")
        delivery = hashlib.sha256(json.dumps(sorted(new)).encode()).hexdigest()[:24]
        failed = failed_runs(instance, delivery) if instance is not None else 0
        if failed >= ATTEMPTS:
            return dg.SkipReason(f"{failed} runs for these files failed; see the Dagster UI, then run `mmr run`")
        landed = sorted({source for source, _ in new})
        return dg.RunRequest(
            run_key=f"landing:{delivery}:{failed}",
            tags={
                HOME_TAG: str(settings.home),
                DELIVERY_TAG: delivery,
                "mmr/sources": ",".join(landed),
                "mmr/files": str(len(new)),
            },
        )

    return _sensor
