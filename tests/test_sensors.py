"""The landing sensors and schedules, evaluated with Dagster's test APIs."""

import shutil
import time

import dagster as dg
import pytest

from dagster_project.settings import get_settings
from tests.conftest import KWB_FIXTURE


@pytest.fixture
def defs(tmp_path, monkeypatch):
    monkeypatch.setenv("MMR_HOME", str(tmp_path))
    get_settings.cache_clear()
    from dagster_project.definitions import defs

    yield defs
    get_settings.cache_clear()


def tick(sensor: dg.SensorDefinition, cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor)
    result = sensor.evaluate_tick(context)
    return result, context.cursor if context.cursor is not None else result.cursor


def test_every_source_has_a_landing_sensor(defs):
    from dagster_project.definitions import SOURCE_MODULES

    for module in SOURCE_MODULES:
        assert defs.resolve_sensor_def(f"{module.SOURCE}_landing_sensor")


def test_a_delivery_starts_a_run_only_once_it_has_settled(defs, tmp_path):
    sensor = defs.resolve_sensor_def("cbs_kwb_landing_sensor")
    landing = tmp_path / "landing" / "cbs_kwb"
    landing.mkdir(parents=True)

    result, cursor = tick(sensor, None)
    assert not result.run_requests and "no deliveries" in result.skip_message

    half = landing / "kwb_2022.csv.part"
    half.write_text(KWB_FIXTURE.read_text()[:500])
    result, cursor = tick(sensor, cursor)
    assert not result.run_requests, "a half-written file with a temporary name is ignored"

    shutil.move(half, landing / "kwb_2022.csv")
    (landing / "kwb_2022.csv").write_text(KWB_FIXTURE.read_text())
    result, cursor = tick(sensor, cursor)
    assert not result.run_requests and "settle" in result.skip_message

    result, cursor = tick(sensor, cursor)
    [request] = result.run_requests
    assert request.job_name in (None, "mmr_job") and request.tags["mmr/source"] == "cbs_kwb"

    time.sleep(0.01)
    with (landing / "kwb_2022.csv").open("a") as growing:
        growing.write("still being written")
    result, cursor = tick(sensor, cursor)
    assert not result.run_requests, "a file whose size changed waits for the next tick"


def test_same_delivery_gives_the_same_run_key(defs, tmp_path):
    sensor = defs.resolve_sensor_def("cbs_kwb_landing_sensor")
    landing = tmp_path / "landing" / "cbs_kwb"
    landing.mkdir(parents=True)
    shutil.copy(KWB_FIXTURE, landing / "kwb_2022.csv")
    _, cursor = tick(sensor, None)
    first, cursor = tick(sensor, cursor)
    second, cursor = tick(sensor, cursor)
    assert first.run_requests[0].run_key == second.run_requests[0].run_key


@pytest.mark.parametrize("name", ["cbs_yearly_schedule", "municipal_monthly_schedule"])
def test_schedules_request_the_pipeline(defs, name):
    schedule = defs.resolve_schedule_def(name)
    result = schedule.evaluate_tick(dg.build_schedule_context())
    assert len(result.run_requests) == 1
    assert schedule.job_name == "mmr_job"
