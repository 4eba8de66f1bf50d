"""One writer of the build warehouse at a time, for runs the daemon starts and runs the CLI starts.

The daemon's run queue lets one run tagged `mmr/warehouse=write` go at a time (see
`dagster_project/dagster.yaml`) and counts the runs the CLI executes in its own process, as they
are recorded in the same Dagster instance. The CLI, in turn, waits here until no such run is under
way, saying which run it waits for, instead of failing on DuckDB's file lock.
"""

import os
import socket
import time

import dagster as dg
from rich.console import Console

from dagster_project.ingest.sensor import HOME_TAG, WRITERS
from dagster_project.settings import Settings

ACTIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def cli_tags(settings: Settings, command: str) -> dict[str, str]:
    """Tags of a run the CLI executes: what started it, and the process that runs it."""
    return {
        **WRITERS,
        HOME_TAG: str(settings.home),
        "mmr/command": command,
        "mmr/host": socket.gethostname(),
        "mmr/pid": str(os.getpid()),
    }


def describe(run: dg.DagsterRun) -> str:
    """Who started a run, in a few words: `sensor landing_sensor: gemeente_wmo`, `mmr run`, ..."""
    tags = run.tags
    if sensor := tags.get("dagster/sensor_name"):
        sources = tags.get("mmr/sources")
        return f"sensor {sensor}: {sources}" if sources else f"sensor {sensor}"
    if schedule := tags.get("dagster/schedule_name"):
        return f"schedule {schedule}"
    if command := tags.get("mmr/command"):
        return f"mmr {command}"
    return run.job_name


def _orphaned(run: dg.DagsterRun) -> bool:
    """A run the CLI executed whose process ended without recording the end of the run."""
    pid = run.tags.get("mmr/pid")
    if not pid or run.tags.get("mmr/host") != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _daemon_alive(instance: dg.DagsterInstance, within_seconds: float = 120) -> bool:
    """Whether a Dagster daemon serves this instance's run queue now."""
    heartbeat = instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")
    return heartbeat is not None and time.time() - heartbeat.timestamp < within_seconds


def active_writers(instance: dg.DagsterInstance, settings: Settings, exclude: str | None = None) -> list[dg.DagsterRun]:
    """Runs writing this home's warehouse now or about to, oldest first (runs of another home are
    left alone): runs under way, runs the CLI created and is starting (which can take a while on a
    busy machine), and, while the daemon serves the queue, queued runs, which go first."""
    statuses = [*ACTIVE, dg.DagsterRunStatus.NOT_STARTED]
    if _daemon_alive(instance):
        statuses.append(dg.DagsterRunStatus.QUEUED)
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=statuses, tags=WRITERS))
    return [
        run
        for run in reversed(runs)
        if run.run_id != exclude
        and run.tags.get(HOME_TAG, str(settings.home)) == str(settings.home)
        and (run.status != dg.DagsterRunStatus.NOT_STARTED or "mmr/pid" in run.tags)
    ]


def wait_for_warehouse(
    instance: dg.DagsterInstance, settings: Settings, console: Console, poll_seconds: float = 2.0
) -> None:
    """Return once no other run writes the warehouse; say whom it waits for, once per run."""
    announced: set[str] = set()
    while True:
        runs = active_writers(instance, settings)
        for run in [r for r in runs if _orphaned(r)]:
            instance.report_run_failed(run, "its process ended before the run did")
            console.print(f"run {run.run_id[:8]} ({describe(run)}) was left unfinished by its process: marked failed")
            runs.remove(run)
        if not runs:
            return
        run = runs[0]
        if run.run_id not in announced:
            announced.add(run.run_id)
            console.print(f"waiting for run {run.run_id[:8]} ({describe(run)}) to finish")
        time.sleep(poll_seconds)
