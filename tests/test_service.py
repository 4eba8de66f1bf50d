"""The embedded mode as a service left running (issue 18), on a copy of the demo home.

In order, on one copy: a delivered Wmo month is withdrawn, then `mmr run` rebuilds without it;
while that run is under way `mmr status` answers and a second `mmr run` waits for it and then
succeeds; the publish no longer holds the month. Then the Dagster daemon runs on that home: two
idle ticks of the sensor start no run, and the month landing again starts exactly one run, which
publishes it.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from dagster_project.ingest.sensor import SENSOR_NAME
from tests.conftest import PROJECT_ROOT, mmr

pytestmark = pytest.mark.e2e

SOURCE = "gemeente_wmo"


def env_of(home: Path) -> dict[str, str]:
    return {**os.environ, "MMR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "COLUMNS": "200"}


def start_mmr(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dagster_project.cli", *args],
        cwd=PROJECT_ROOT,
        env=env_of(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def instance_of(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home / "dagster"))


def runs_of(home: Path) -> list[dg.DagsterRun]:
    with instance_of(home) as instance:
        return list(reversed(instance.get_runs()))


def sensor_ticks(home: Path, after: float) -> list:
    """The landing sensor's ended ticks that started after `after` (a timestamp), oldest first."""
    with instance_of(home) as instance:
        states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        ticks = [
            tick
            for state in states
            if state.instigator_name == SENSOR_NAME
            for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
        ]
    return sorted((t for t in ticks if t.status != TickStatus.STARTED), key=lambda t: t.timestamp)


def ticks_since(home: Path, since: float, count: int) -> list:
    """Wait for `count` ticks of the landing sensor after `since`; return them."""

    def enough() -> list | None:
        ticks = sensor_ticks(home, since)
        return ticks if len(ticks) >= count else None

    return poll(enough, timeout=240 + 30 * count, every=5, what=f"{count} ticks of the landing sensor")


def poll(condition, timeout: float, every: float = 1.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def published(home: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse" / "serving.duckdb"), read_only=True) as con:
        return con.execute(sql, parameters or []).fetchall()


def built(home: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse" / "build.duckdb"), read_only=True) as con:
        return con.execute(sql, parameters or []).fetchall()


def wmo_cost(home: Path, gemeente: str, year: int) -> float:
    """Wmo cost of a gemeente-year in the built care fact (exact, before disclosure control)."""
    [(value,)] = built(
        home,
        "select coalesce(sum(cost), 0) from marts_core.fct_client_month "
        "where domain = 'wmo' and gemeente_code = ? and year(month) = ?",
        [gemeente, year],
    )
    return float(value)


def published_cost(home: Path, gemeente: str, year: int) -> float:
    """What the dashboards show of a gemeente-year's social-domain cost, summed over its wijken."""
    [(value,)] = published(
        home,
        "select coalesce(sum(kosten_totaal), 0) from serving.sociaal_domein_3d where gemeente_code = ? and year = ?",
        [gemeente, year],
    )
    return float(value)


@pytest.fixture(scope="module")
def home(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("service") / "home"
    shutil.copytree(demo_home, copy, ignore=shutil.ignore_patterns("run", "logs", "superset"))
    return copy


@pytest.fixture(scope="module")
def month(home: Path) -> dict:
    """The latest delivered month of the gemeente with the most Wmo rows: its file and its rows."""
    [(gemeente,)] = built(
        home, "select gemeentecode from raw.gemeente_wmo group by 1 order by count(*) desc, 1 limit 1"
    )
    [(name, batch, period, rows, cost)] = built(
        home,
        "select _source_file, _batch_id, _period, count(*), sum(bedrag) from raw.gemeente_wmo "
        "where gemeentecode = ? group by all order by _period desc limit 1",
        [gemeente],
    )
    return {
        "gemeente": gemeente,
        "file": name,
        "batch": batch,
        "period": period,
        "year": int(period[-7:-3]),
        "rows": rows,
        "cost": float(cost),
    }


def test_status_fits_a_screen(home: Path):
    out = mmr(home, "status").stdout
    assert len(out.splitlines()) < 80, out
    assert "Ingestion per source" in out and "gemeente_wmo" in out
    assert "–" in out, "periods are summarised as first–last"


@pytest.mark.timeout(7200)
def test_withdraw_then_run_while_status_and_a_second_run_wait(home: Path, month: dict):
    raw_before = built(home, "select count(*) from raw.gemeente_wmo")[0][0]
    cost_before = wmo_cost(home, month["gemeente"], month["year"])
    shown_before = published_cost(home, month["gemeente"], month["year"])

    out = mmr(home, "withdraw", SOURCE, month["file"]).stdout
    assert "Withdrawn" in out and f"{month['rows']:,} raw rows" in out
    assert built(home, "select count(*) from raw.gemeente_wmo")[0][0] == raw_before - month["rows"]
    assert built(home, "select count(*) from raw.gemeente_wmo where _batch_id = ?", [month["batch"]]) == [(0,)]
    [(state,)] = built(home, "select distinct status from raw.ingestion_log where batch_id = ?", [month["batch"]])
    assert state == "withdrawn"
    assert (home / "archive" / SOURCE / "withdrawn" / f"{month['batch']}.json").exists()
    assert not (home / "landing" / SOURCE / month["file"]).exists()
    assert (home / "withdrawn" / SOURCE / month["file"]).exists()
    assert "withdrawn" in mmr(home, "status").stdout
    again = mmr(home, "withdraw", SOURCE, month["file"], check=False)
    assert again.returncode == 1 and "was rejected or withdrawn before" in again.stdout

    first = start_mmr(home, "run")
    running = poll(
        lambda: [r for r in runs_of(home) if r.job_name == "mmr_job" and not r.is_finished and r.tags.get("mmr/pid")],
        timeout=600,
        what="the first run to be created",
    )
    [first_run] = running
    status = mmr(home, "status", timeout=300)
    assert status.returncode == 0
    assert f"Run {first_run.run_id[:8]} (mmr run): " in status.stdout

    second = start_mmr(home, "run")
    second_out, _ = second.communicate(timeout=3600)
    first_out, _ = first.communicate(timeout=3600)
    assert first.returncode == 0, first_out
    assert second.returncode == 0, second_out
    assert f"waiting for run {first_run.run_id[:8]} (mmr run) to finish" in second_out
    for out in (first_out, second_out):
        assert len(out.splitlines()) < 200, out
        assert "Checks:" in out and "Published" in out

    records = {r.dagster_run.run_id: r for r in instance_of(home).get_run_records()}
    second_run = [r for r in runs_of(home) if r.tags.get("mmr/command") == "run"][-1]
    assert records[second_run.run_id].start_time >= records[first_run.run_id].end_time
    assert records[first_run.run_id].dagster_run.status == dg.DagsterRunStatus.SUCCESS

    periods = json.loads(published(home, "select metadata from main._publish")[0][0])["periods"]
    assert f"{SOURCE}:{month['period']}" not in periods
    assert any(p.startswith(f"{SOURCE}:") for p in periods)
    assert wmo_cost(home, month["gemeente"], month["year"]) == pytest.approx(cost_before - month["cost"], abs=0.01)
    assert published_cost(home, month["gemeente"], month["year"]) < shown_before
    assert built(
        home,
        "select count(*) from marts_core.fct_client_month where domain = 'wmo' and gemeente_code = ? "
        "and strftime(month, '%Y-%m') = ?",
        [month["gemeente"], month["period"][-7:]],
    ) == [(0,)]


@pytest.mark.timeout(7200)
def test_the_daemon_starts_one_run_for_what_is_new_and_none_while_idle(home: Path, month: dict):
    env = env_of(home)
    before = {r.run_id for r in runs_of(home)}
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-m", "dagster_project.definitions"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=(home / "daemon.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with instance_of(home) as instance:
            poll(
                lambda: "SENSOR" in instance.get_daemon_heartbeats(),
                timeout=900,
                every=5,
                what=f"the sensor daemon to run (see {home / 'daemon.log'})",
            )
        idle = ticks_since(home, time.time(), 2)
        assert {t.status for t in idle} == {TickStatus.SKIPPED}, [t.error for t in idle]
        assert {r.run_id for r in runs_of(home)} == before, "idle: no run until something new lands"

        shutil.move(home / "withdrawn" / SOURCE / month["file"], home / "landing" / SOURCE / month["file"])
        new = poll(
            lambda: [r for r in runs_of(home) if r.run_id not in before],
            timeout=300,
            what="a run for the delivery that landed",
        )
        [run] = new
        assert run.tags["dagster/sensor_name"] == "landing_sensor" and run.tags["mmr/sources"] == SOURCE
        finished = poll(
            lambda: [r for r in runs_of(home) if r.run_id == run.run_id and r.is_finished],
            timeout=3600,
            every=5,
            what="the sensor's run to finish",
        )
        assert finished[0].status == dg.DagsterRunStatus.SUCCESS
        known = ticks_since(home, time.time(), 2)
        assert {t.status for t in known} == {TickStatus.SKIPPED}, [t.error for t in known]
        assert [r.run_id for r in runs_of(home) if r.run_id not in before] == [run.run_id]
    finally:
        os.killpg(daemon.pid, 15)
        daemon.wait(timeout=60)
    [(run_id, metadata)] = published(home, "select run_id, metadata from main._publish")
    assert run_id == run.run_id
    assert f"{SOURCE}:{month['period']}" in json.loads(metadata)["periods"]
