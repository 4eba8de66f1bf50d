"""One writer at a time: the CLI waits for a run that writes the warehouse, and says which."""

import io
import subprocess
import threading
import time

import dagster as dg
import pytest
from rich.console import Console

from dagster_project.ops import writers
from dagster_project.ops.status import _periods
from dagster_project.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "var")


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@dg.op
def noop() -> None:
    pass


@dg.job
def job() -> None:
    noop()


def writer_run(instance, settings, tags: dict[str, str]) -> dg.DagsterRun:
    return instance.create_run_for_job(
        job, tags={**writers.cli_tags(settings, "run"), **tags}, status=dg.DagsterRunStatus.STARTED
    )


def test_the_cli_waits_for_the_run_that_writes_and_names_it(instance, settings):
    holder = subprocess.Popen(["sleep", "60"])
    try:
        run = writer_run(instance, settings, {"mmr/pid": str(holder.pid)})
        out = io.StringIO()
        waiter = threading.Thread(
            target=writers.wait_for_warehouse,
            args=(instance, settings, Console(file=out)),
            kwargs={"poll_seconds": 0.1},
        )
        waiter.start()
        time.sleep(1)
        assert waiter.is_alive(), "it waits while the run is under way"
        assert f"waiting for run {run.run_id[:8]} (mmr run) to finish" in out.getvalue()
        instance.report_run_failed(run)
        waiter.join(timeout=10)
        assert not waiter.is_alive()
        assert out.getvalue().count("waiting for run") == 1, "said once, not on every poll"
    finally:
        holder.kill()


def test_runs_of_another_home_and_runs_that_do_not_write_are_not_waited_for(instance, settings, tmp_path):
    writer_run(instance, settings, {"mmr/home": str(tmp_path / "elsewhere")})
    instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
    writers.wait_for_warehouse(instance, settings, Console(file=io.StringIO()), poll_seconds=0.1)


def test_a_run_left_by_a_process_that_died_is_marked_failed_not_waited_for(instance, settings):
    dead = subprocess.Popen(["true"])
    dead.wait()
    run = writer_run(instance, settings, {"mmr/pid": str(dead.pid)})
    out = io.StringIO()
    writers.wait_for_warehouse(instance, settings, Console(file=out), poll_seconds=0.1)
    assert "left unfinished" in out.getvalue()
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


def test_a_sensor_run_is_described_by_its_sensor_and_sources(instance, settings):
    run = instance.create_run_for_job(
        job, tags={"dagster/sensor_name": "landing_sensor", "mmr/sources": "gemeente_wmo"}
    )
    assert writers.describe(run) == "sensor landing_sensor: gemeente_wmo"


def test_periods_are_summarised_first_last_count_and_gaps():
    periods = ["GM0599:2024-01", "GM0599:2024-02", "GM0599:2024-04", "GM1930:2023-12", "GM1930:2024-01"]
    assert _periods(periods) == ("2023-12–2024-04", 5, ["GM0599:2024-03"])
    assert _periods(["2022", "2024"]) == ("2022–2024", 2, ["2023"])
    assert _periods(["register"]) == ("register", 1, [])
    assert _periods([]) == ("", 0, [])
