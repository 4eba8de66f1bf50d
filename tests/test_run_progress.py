"""The progress bar of `mmr run` counts what a run completed, reading each event once."""

import time

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry

from dagster_project.ops import run_progress
from dagster_project.ops.run_progress import RunProgress


@dg.asset
def upstream() -> int:
    return 1


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="downstream")])
def downstream(upstream: int):
    yield dg.Output(upstream + 1)
    yield dg.AssetCheckResult(passed=True)


def materialised(instance: dg.DagsterInstance, run_id: str, name: str) -> None:
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="progress_job",
        event_specific_data=StepMaterializationData(dg.AssetMaterialization(asset_key=name)),
    )
    entry = EventLogEntry(
        error_info=None,
        level="INFO",
        user_message="",
        run_id=run_id,
        timestamp=time.time(),
        dagster_event=event,
    )
    instance.store_event(entry)


@pytest.fixture
def instance(tmp_path):
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        yield instance


def test_progress_counts_completions_across_pages_and_reads_each_once(instance, monkeypatch):
    monkeypatch.setattr(run_progress, "PAGE", 2)
    defs = dg.Definitions(assets=[upstream, downstream], jobs=[dg.define_asset_job("progress_job")])
    result = defs.resolve_job_def("progress_job").execute_in_process(instance=instance)
    progress = RunProgress(instance, result.run_id)
    assert progress.read() == 3
    assert (progress.count, progress.last) == (3, "downstream · positive")
    assert progress.read() == 0
    materialised(instance, result.run_id, "later")
    assert progress.read() == 1
    assert (progress.count, progress.last) == (4, "later")
