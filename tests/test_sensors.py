"""The landing sensor and schedules, evaluated with Dagster's test APIs on real ingestion."""

import os
import shutil
import time

import dagster as dg
import pytest

from dagster_project import ingest
from dagster_project.lib import warehouse
from dagster_project.ops import runlog
from dagster_project.settings import get_settings
from dagster_project.sources import cbs_kwb
from tests.conftest import KWB_FIXTURE


@pytest.fixture
def defs(tmp_path, monkeypatch):
    monkeypatch.setenv("MMR_HOME", str(tmp_path))
    get_settings.cache_clear()
    from dagster_project.definitions import defs

    yield defs
    get_settings.cache_clear()


@pytest.fixture
def sensor(defs):
    return defs.resolve_sensor_def("landing_sensor")


def tick(sensor: dg.SensorDefinition, cursor: str | None, instance: dg.DagsterInstance | None = None):
    context = dg.build_sensor_context(cursor=cursor, instance=instance)
    result = sensor.evaluate_tick(context)
    return result, context.cursor if context.cursor is not None else result.cursor


def settle(sensor, cursor=None, instance=None, ticks: int = 2):
    """Tick until the files have been seen unchanged once (two ticks)."""
    for _ in range(ticks):
        result, cursor = tick(sensor, cursor, instance)
    return result, cursor


def land(tmp_path, source: str, name: str, text: str | None = None):
    folder = tmp_path / "landing" / source
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text if text is not None else KWB_FIXTURE.read_text())
    return path


def test_one_landing_sensor_watches_every_source(defs):
    from dagster_project.definitions import SOURCE_MODULES

    names = [s.name for s in defs.sensors if "landing" in s.name]
    assert names == ["landing_sensor"], "one sensor over every landing folder, not one per source"
    description = defs.resolve_sensor_def("landing_sensor").description
    for module in SOURCE_MODULES:
        assert module.SOURCE in description


def test_a_delivery_starts_a_run_only_once_it_has_settled(sensor, tmp_path):
    landing = tmp_path / "landing" / "cbs_kwb"
    landing.mkdir(parents=True)

    result, cursor = tick(sensor, None)
    assert not result.run_requests and "nothing new" in result.skip_message

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
    assert request.job_name in (None, "mmr_job") and request.tags["mmr/sources"] == "cbs_kwb"
    assert request.tags["mmr/home"] == str(tmp_path)

    time.sleep(0.01)
    with (landing / "kwb_2022.csv").open("a") as growing:
        growing.write("still being written")
    result, cursor = tick(sensor, cursor)
    assert not result.run_requests, "a file whose size changed waits for the next tick"


def test_same_delivery_gives_the_same_run_key(sensor, tmp_path):
    land(tmp_path, "cbs_kwb", "kwb_2022.csv")
    _, cursor = tick(sensor, None)
    first, cursor = tick(sensor, cursor)
    second, cursor = tick(sensor, cursor)
    assert first.run_requests[0].run_key == second.run_requests[0].run_key


def test_files_that_land_together_in_several_folders_start_one_run(sensor, tmp_path):
    land(tmp_path, "cbs_kwb", "kwb_2022.csv")
    _, cursor = tick(sensor, None)
    land(tmp_path, "cbs_kwb", "kwb_2023.csv", KWB_FIXTURE.read_text().replace("2022", "2023"))
    land(tmp_path, "budgetten", "budgetten_2024.csv", "gemeentecode;jaar\n")
    result, cursor = tick(sensor, cursor)
    assert not result.run_requests, "files still settling hold back the ones that settled"
    result, cursor = tick(sensor, cursor)
    [request] = result.run_requests
    assert request.tags["mmr/sources"] == "budgetten,cbs_kwb" and request.tags["mmr/files"] == "3"


def test_what_was_ingested_starts_nothing_and_is_hashed_at_most_once(sensor, tmp_path, monkeypatch):
    settings = get_settings()
    landed = land(tmp_path, "cbs_kwb", "kwb_2022.csv")
    os.utime(landed, ns=(time.time_ns() - 10**10,) * 2)  # settled before it is read
    stats = ingest.ingest_source([cbs_kwb.SPEC], settings)
    assert stats[cbs_kwb.SPEC.asset_key]["rows_ingested"] > 0

    hashed = []
    real_hash = ingest.content_hash

    def counting(path):
        hashed.append(path.name)
        return real_hash(path)

    monkeypatch.setattr("dagster_project.ingest.sensor.content_hash", counting)
    result, cursor = settle(sensor, ticks=3)
    assert not result.run_requests and "nothing new" in result.skip_message
    assert hashed == [], "a file the log knows by name, size and time is not read"

    # Same bytes, new modification time (a copy): hashed once, recognised by content, no run.
    os.utime(tmp_path / "landing" / "cbs_kwb" / "kwb_2022.csv")
    result, cursor = settle(sensor, cursor, ticks=3)
    assert not result.run_requests
    assert hashed == ["kwb_2022.csv"]


def test_a_rejected_file_does_not_start_run_after_run(sensor, tmp_path):
    settings = get_settings()
    land(tmp_path, "cbs_kwb", "kwb_2022.csv", "not;a;kwb;file\n1;2;3;4\n")
    ingest.ingest_source([cbs_kwb.SPEC], settings)
    assert runlog.query(settings, "select status from ingestion_log") == [("rejected",)]
    result, _ = settle(sensor)
    assert not result.run_requests


def test_an_earlier_version_delivered_again_after_a_correction_starts_a_run(sensor, tmp_path):
    settings = get_settings()
    original = KWB_FIXTURE.read_text()
    for text in (original, "\n".join(original.splitlines()[:-2]) + "\n"):
        land(tmp_path, "cbs_kwb", "kwb_2022.csv", text)
        ingest.ingest_source([cbs_kwb.SPEC], settings)
    land(tmp_path, "cbs_kwb", "kwb_2022.csv", original)
    result, _ = settle(sensor)
    assert len(result.run_requests) == 1


def test_the_sensor_waits_while_a_run_writes_the_warehouse(sensor, tmp_path):
    from dagster_project.definitions import defs

    land(tmp_path, "cbs_kwb", "kwb_2022.csv")
    with dg.DagsterInstance.ephemeral() as instance:
        job = defs.resolve_job_def("mmr_job")
        run = instance.create_run_for_job(job, tags=job.tags, status=dg.DagsterRunStatus.STARTED)
        result, cursor = settle(sensor, instance=instance)
        assert not result.run_requests and "under way" in result.skip_message
        instance.report_run_failed(run)
        result, cursor = settle(sensor, cursor, instance=instance)
        assert len(result.run_requests) == 1


def test_the_sensor_reads_the_log_while_a_run_holds_the_warehouse(sensor, tmp_path):
    import duckdb

    settings = get_settings()
    land(tmp_path, "cbs_kwb", "kwb_2022.csv")
    os.utime(tmp_path / "landing" / "cbs_kwb" / "kwb_2022.csv", ns=(time.time_ns() - 10**10,) * 2)
    ingest.ingest_source([cbs_kwb.SPEC], settings)
    holder = duckdb.connect(str(settings.build_db))  # as a run does, for its whole length
    try:
        result, _ = settle(sensor)
        assert not result.run_requests and "nothing new" in result.skip_message
    finally:
        holder.close()


@pytest.mark.parametrize("name", ["cbs_yearly_schedule", "municipal_monthly_schedule"])
def test_schedules_request_the_pipeline(defs, name):
    schedule = defs.resolve_schedule_def(name)
    result = schedule.evaluate_tick(dg.build_schedule_context())
    assert len(result.run_requests) == 1
    assert schedule.job_name == "mmr_job"


def test_a_run_that_failed_is_retried_a_few_times_then_the_sensor_gives_up(sensor, tmp_path):
    from dagster_project.definitions import defs
    from dagster_project.ingest.sensor import ATTEMPTS, DELIVERY_TAG

    land(tmp_path, "cbs_kwb", "kwb_2022.csv")
    job = defs.resolve_job_def("mmr_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result, cursor = settle(sensor, instance=instance)
        keys = []
        for _ in range(ATTEMPTS):
            [request] = result.run_requests
            keys.append(request.run_key)
            assert request.tags[DELIVERY_TAG]
            instance.create_run_for_job(job, tags=request.tags, status=dg.DagsterRunStatus.FAILURE)
            result, cursor = tick(sensor, cursor, instance)
        assert len(set(keys)) == ATTEMPTS, "each retry has a run key of its own"
        assert not result.run_requests and "failed" in result.skip_message


def test_the_run_log_mirrors_the_ingestion_log_run_after_run(defs, tmp_path):
    """Each ingestion adds its own rows to the mirror; a mirror that lost rows is copied again whole."""
    settings = get_settings()
    columns = ", ".join(runlog.INGESTION_COLUMNS)

    def logged():
        with warehouse.connect(settings, read_only=True) as con:
            build = con.execute(f"select {columns} from raw.ingestion_log order by rowid").fetchall()
        mirrored = runlog.query(settings, f"select {columns} from ingestion_log order by rowid")
        return [tuple(map(str, row)) for row in build], [tuple(map(str, row)) for row in mirrored]

    land(tmp_path, "cbs_kwb", "kwb_2021.csv")
    ingest.ingest_source([cbs_kwb.SPEC], settings)
    land(tmp_path, "cbs_kwb", "kwb_2022.csv", "not;a;kwb;file\n1;2;3;4\n")
    ingest.ingest_source([cbs_kwb.SPEC], settings)
    build, mirrored = logged()
    assert [row[2] for row in build] == ["kwb_2021.csv", "kwb_2022.csv"]
    assert mirrored == build

    with runlog.connect(settings) as con:
        con.execute("delete from ingestion_log where file_name = 'kwb_2021.csv'")
    land(tmp_path, "cbs_kwb", "kwb_2023.csv", "still;not;a;kwb\n1;2;3;4\n")
    ingest.ingest_source([cbs_kwb.SPEC], settings)
    build, mirrored = logged()
    assert "kwb_2023.csv" in {row[2] for row in build}
    assert mirrored == build
