"""Write–audit–publish on real components (issue 8).

One real pipeline run (`mmr run --no-demo` on the shipped KWB extract, in its own MMR_HOME) builds
the build database and the first publish. Each test then changes the build database directly and
re-runs only the audit and the publish (`audit_publish_job`, in process, recorded in the same
Dagster instance): dbt would rebuild the tables if it ran again. The tables a test may change are
kept in a `_pristine` schema of the build database and restored before every change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance

from dagster_project.audit import AUDITED_TABLES, check_name
from dagster_project.settings import get_settings
from tests.conftest import PROJECT_ROOT, mmr

pytestmark = pytest.mark.e2e

PUBLISH_KEY = AssetKey(["publish", "serving_database"])
#: Tables the tests corrupt, as (schema, table); restored from `_pristine` before each change.
CHANGED_TABLES = [("serving", "wijk_kerncijfers"), ("serving", "dim_area"), ("marts_core", "dim_area")]

DUPLICATE = "expect_compound_columns_to_be_unique[unique_key] on wijk_code, year"
NEGATIVE_INCOME = "expect_column_values_to_be_between on gemiddeld_inkomen"
MISSING_WIJK = "unexpected_rows_expectation[every_area_present] on wijk_code"
COUNT_OF_THREE = "expect_column_values_to_be_between[disclosure_threshold] on inwoners"
UNKNOWN_LEVEL = "expect_column_values_to_be_in_set on area_level"
DRIFT = "expect_column_mean_to_be_between[distribution_drift] on gemiddeld_inkomen"
VOLUME = "expect_table_row_count_to_be_between[volume_change]"


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wap_home(tmp_path_factory: pytest.TempPathFactory, demo_home: Path) -> Iterator[Path]:
    """A copy of the demo home (the whole pipeline run once), this process pointed at it."""
    home = tmp_path_factory.mktemp("wap") / "home"
    shutil.copytree(demo_home, home, ignore=shutil.ignore_patterns("landing", "archive", "gx", "*.lock"))
    with duckdb.connect(str(home / "warehouse" / "build.duckdb")) as con:
        con.execute("create schema _pristine")
        for schema, table in CHANGED_TABLES:
            con.execute(f"create table _pristine.{schema}__{table} as select * from {schema}.{table}")
    saved_env = dict(os.environ)
    os.environ.update({"MMR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")})
    get_settings.cache_clear()
    try:
        yield home
    finally:
        # Importing the definitions points dbt's environment variables at this home: undo all of it.
        os.environ.clear()
        os.environ.update(saved_env)
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def instance(wap_home: Path) -> DagsterInstance:
    return DagsterInstance.from_config(str(wap_home / "dagster"))


def build_db(home: Path) -> Path:
    return home / "warehouse" / "build.duckdb"


def serving_db(home: Path) -> Path:
    return home / "warehouse" / "serving.duckdb"


def previous_db(home: Path) -> Path:
    return home / "warehouse" / "serving.previous.duckdb"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def change_build(home: Path, *statements: str) -> None:
    """Restore the pristine tables, then apply ``statements`` to the build database."""
    with duckdb.connect(str(build_db(home))) as con:
        for schema, table in CHANGED_TABLES:
            con.execute(f"create or replace table {schema}.{table} as select * from _pristine.{schema}__{table}")
        for statement in statements:
            con.execute(statement)


def audit_publish(instance: DagsterInstance) -> Any:
    """Run `audit_publish_job` (the GX checks and the publish, no dbt) in this process."""
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("audit_publish_job")
    return job.execute_in_process(instance=instance, raise_on_error=False)


def evaluations(result: Any) -> dict[str, Any]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def published(result: Any) -> bool:
    return any(e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key == PUBLISH_KEY for e in result.all_events)


def publish_step_started(result: Any) -> bool:
    return any(
        e.event_type_value == "STEP_START" and e.step_key == "publish__serving_database" for e in result.all_events
    )


def served_run_id(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select run_id from main._publish").fetchone()[0]


def publish_log(home: Path, run_id: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(build_db(home)), read_only=True) as con:
        cursor = con.execute("select * from audit.publish_log where run_id = ? order by published_at", [run_id])
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def check_results(home: Path, run_id: str) -> dict[str, tuple[bool, list[dict]]]:
    with duckdb.connect(str(build_db(home)), read_only=True) as con:
        rows = con.execute(
            "select suite, success, failures from audit.check_results where run_id = ?", [run_id]
        ).fetchall()
    return {suite: (success, json.loads(failures)) for suite, success, failures in rows}


def publish_clean(home: Path, instance: DagsterInstance) -> str:
    """Publish the pristine build (also the baseline for the change rules); returns the run id."""
    change_build(home)
    result = audit_publish(instance)
    assert result.success and published(result)
    return result.run_id


# --- a clean run publishes ---------------------------------------------------------------------


def test_a_clean_run_publishes_and_logs_its_checks(wap_home, instance) -> None:
    change_build(wap_home)
    before = sha256(serving_db(wap_home))
    result = audit_publish(instance)

    assert result.success and published(result)
    assert sha256(serving_db(wap_home)) != before
    assert served_run_id(serving_db(wap_home)) == result.run_id
    checks = evaluations(result)
    # every serving table is audited: two with a suite of their own, the rest by the generic suite
    assert {"gx_dim_area", "gx_wijk_kerncijfers", "gx_serving_verwacht_werkelijk"} <= set(checks)
    assert set(checks) == {check_name(suite) for *_, suite in AUDITED_TABLES}
    assert all(c.passed for c in checks.values())
    # Data Docs are rebuilt by this run and linked from the check metadata.
    docs = checks["gx_wijk_kerncijfers"].metadata
    assert Path(docs["data_docs"].value).exists()
    page = Path(docs["validation_page"].value.removeprefix("file://"))
    assert page.exists() and "wijk_kerncijfers" in page.as_posix()

    [entry] = publish_log(wap_home, result.run_id)
    assert entry["status"] == "published"
    periods = set(json.loads(entry["periods"]))
    assert {"cbs_kwb:2022", "cbs_kwb:2023", "cbs_kwb:2024"} <= periods
    assert any(period.startswith("gemeente_jeugd:") for period in periods)
    logged = json.loads(entry["checks"])
    assert set(logged) == set(checks)
    assert all(c["ran"] and c["passed"] and c["errors"] == [] for c in logged.values())


# --- an error blocks the publish, the served file stays byte for byte ----------------------------

CORRUPTIONS = {
    "duplicated_key": (
        "insert into serving.wijk_kerncijfers select * from serving.wijk_kerncijfers limit 1",
        "gx_wijk_kerncijfers",
        DUPLICATE,
    ),
    "negative_income": (
        "update serving.wijk_kerncijfers set gemiddeld_inkomen = -0.5"
        " where wijk_code = (select min(wijk_code) from serving.wijk_kerncijfers)",
        "gx_wijk_kerncijfers",
        NEGATIVE_INCOME,
    ),
    "missing_wijk": (
        "delete from serving.wijk_kerncijfers where wijk_code = (select max(wijk_code) from serving.wijk_kerncijfers)",
        "gx_wijk_kerncijfers",
        MISSING_WIJK,
    ),
    "published_count_of_3": (
        "update serving.wijk_kerncijfers set inwoners = 3"
        " where wijk_code = (select min(wijk_code) from serving.wijk_kerncijfers)",
        "gx_wijk_kerncijfers",
        COUNT_OF_THREE,
    ),
    # A check on a marts table upstream of serving gates the publish too.
    "unknown_area_level_in_marts": (
        "update marts_core.dim_area set area_level = 'stadsdeel'"
        " where area_code = (select min(area_code) from marts_core.dim_area where area_level = 'gemeente')",
        "gx_dim_area",
        UNKNOWN_LEVEL,
    ),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_corrupted_table_fails_its_check_and_nothing_is_published(wap_home, instance, case) -> None:
    statement, failing_check, expectation = CORRUPTIONS[case]
    change_build(wap_home, statement)
    served_before = sha256(serving_db(wap_home))
    previous_before = sha256(previous_db(wap_home)) if previous_db(wap_home).exists() else None

    result = audit_publish(instance)

    assert not result.success
    assert not published(result) and not publish_step_started(result)
    check = evaluations(result)[failing_check]
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert expectation in check.description
    assert expectation in check.metadata["errors"].value
    # The dashboards' file is untouched, and so is the version kept for rollback.
    assert sha256(serving_db(wap_home)) == served_before
    assert (sha256(previous_db(wap_home)) if previous_db(wap_home).exists() else None) == previous_before
    suite = failing_check.removeprefix("gx_")
    success, failures = check_results(wap_home, result.run_id)[suite]
    assert not success
    assert any(f["severity"] == "error" and f["expectation_type"] in expectation for f in failures)
    assert [e["status"] for e in publish_log(wap_home, result.run_id)] == []


def test_a_publish_without_an_audit_in_the_same_run_is_refused(wap_home, instance) -> None:
    """The publish checks for itself that this run's audit passed (not only Dagster's blocking)."""
    from dagster_project.definitions import defs

    change_build(wap_home)
    before = sha256(serving_db(wap_home))
    job = defs.resolve_job_def("audit_publish_job")
    result = job.execute_in_process(instance=instance, asset_selection=[PUBLISH_KEY], raise_on_error=False)

    assert not result.success and not published(result)
    assert evaluations(result) == {}
    assert sha256(serving_db(wap_home)) == before
    [entry] = publish_log(wap_home, result.run_id)
    assert entry["status"] == "blocked"
    assert "gx_wijk_kerncijfers did not run in this run" in entry["message"]
    assert "gx_dim_area did not run in this run" in entry["message"]


# --- warnings publish, and are visible ---------------------------------------------------------


def test_a_drifted_indicator_warns_and_still_publishes(wap_home, instance) -> None:
    publish_clean(wap_home, instance)
    change_build(wap_home, "update serving.wijk_kerncijfers set gemiddeld_inkomen = gemiddeld_inkomen * 1.5")
    before = sha256(serving_db(wap_home))

    result = audit_publish(instance)

    assert result.success and published(result)
    assert sha256(serving_db(wap_home)) != before
    check = evaluations(result)["gx_wijk_kerncijfers"]
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.metadata["warnings"].value == [DRIFT]
    assert check.metadata["errors"].value == []
    [entry] = publish_log(wap_home, result.run_id)
    assert entry["status"] == "published" and DRIFT in entry["message"]
    assert json.loads(entry["checks"])["gx_wijk_kerncijfers"]["warnings"] == [DRIFT]

    status = mmr(wap_home, "status").stdout
    assert f"Last good publish: run {result.run_id}" in status
    assert f"warning: gx_wijk_kerncijfers: {DRIFT}" in status


def test_a_volume_change_against_the_last_publish_warns(wap_home, instance) -> None:
    publish_clean(wap_home, instance)
    # About half of the wijken leave the build everywhere, with their buurten (still consistent).
    kept = "(select wijk_code from serving.wijk_kerncijfers)"
    change_build(
        wap_home,
        "delete from serving.wijk_kerncijfers where hash(wijk_code) % 2 = 0",
        f"delete from marts_core.dim_area where area_level <> 'gemeente' and wijk_code not in {kept}",
        f"delete from serving.dim_area where area_level <> 'gemeente' and wijk_code not in {kept}",
    )

    result = audit_publish(instance)

    assert result.success and published(result)
    checks = evaluations(result)
    for name in ("gx_dim_area", "gx_wijk_kerncijfers"):
        assert not checks[name].passed and checks[name].severity == AssetCheckSeverity.WARN
        assert VOLUME in checks[name].metadata["warnings"].value
        assert checks[name].metadata["errors"].value == []
    # The same table, unchanged, against this publish: no warning any more.
    again = audit_publish(instance)
    assert again.success and all(c.passed for c in evaluations(again).values())


# --- status and rollback -------------------------------------------------------------------------


def test_status_shows_the_last_good_publish_and_the_last_failure_and_rollback_restores(wap_home, instance) -> None:
    first = publish_clean(wap_home, instance)
    first_bytes = sha256(serving_db(wap_home))
    second = publish_clean(wap_home, instance)
    second_bytes = sha256(serving_db(wap_home))
    assert served_run_id(previous_db(wap_home)) == first
    change_build(wap_home, CORRUPTIONS["duplicated_key"][0])
    failed = audit_publish(instance)
    assert not failed.success

    status = mmr(wap_home, "status").stdout
    assert f"(run {second}, published" in status
    assert f"Last good publish: run {second}" in status
    assert f"Last failure: audit of run {failed.run_id}" in status
    assert "gx_wijk_kerncijfers on serving/serving_wijk_kerncijfers failed:" in status
    assert DUPLICATE in status

    mmr(wap_home, "rollback")
    assert sha256(serving_db(wap_home)) == first_bytes
    assert served_run_id(serving_db(wap_home)) == first
    assert [e["status"] for e in publish_log(wap_home, first)][-1] == "rolled_back"
    status = mmr(wap_home, "status").stdout
    assert f"(run {first}, published" in status
    assert "Rolled back at" in status and f"rolled back from run {second}" in status

    mmr(wap_home, "rollback")
    assert sha256(serving_db(wap_home)) == second_bytes


# --- a publish killed at any point leaves the old file or the new one --------------------------

PUBLISH_IN_SUBPROCESS = """
import sys
from dagster_project.publish.assets import publish
from dagster_project.settings import get_settings
publish(get_settings(), sys.argv[1], {"periods": [], "dagster_run_id": sys.argv[1]})
"""

#: pause point -> which version serving.duckdb must hold after a SIGKILL there
KILL_POINTS = {"copy": "old", "swap": "old", "previous": "old", "renamed": "new"}


def _publish_and_kill_at(home: Path, point: str, run_id: str, tmp_path: Path) -> None:
    log = tmp_path / f"publish-{point}.log"
    env = {
        **os.environ,
        "MMR_HOME": str(home),
        "MMR_PUBLISH_PAUSE_SECONDS": "300",
        "MMR_PUBLISH_PAUSE_AT": point,
    }
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", PUBLISH_IN_SUBPROCESS, run_id],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 120
        while f"publish paused at {point}" not in log.read_text():
            assert process.poll() is None, f"publish ended before reaching {point}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"publish never reached {point}"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_during_publish_leaves_a_complete_version(wap_home, instance, point, tmp_path) -> None:
    change_build(wap_home)
    old_run = served_run_id(serving_db(wap_home))
    old_bytes = sha256(serving_db(wap_home))
    with duckdb.connect(str(build_db(wap_home)), read_only=True) as con:
        rows = con.execute("select count(*) from serving.wijk_kerncijfers").fetchone()[0]
    killed_run = f"killed-at-{point}"

    _publish_and_kill_at(wap_home, point, killed_run, tmp_path)

    leftovers = sorted(p.name for p in (wap_home / "warehouse").glob(".serving*tmp*"))
    if KILL_POINTS[point] == "old":
        assert sha256(serving_db(wap_home)) == old_bytes
        assert leftovers, "the kill should have interrupted a publish in progress"
    expected_run = old_run if KILL_POINTS[point] == "old" else killed_run
    with duckdb.connect(str(serving_db(wap_home)), read_only=True) as con:
        assert con.execute("select run_id from main._publish").fetchone()[0] == expected_run
        assert con.execute("select count(*) from main.wijk_kerncijfers").fetchone()[0] == rows
        assert con.execute("select count(*) from main.dim_area").fetchone()[0] > 0
    if KILL_POINTS[point] == "old":
        assert sha256(serving_db(wap_home)) == old_bytes  # opening it read-only changed nothing

    # The next publish cleans up what the killed one left and publishes normally.
    after = audit_publish(instance)
    assert after.success and published(after)
    assert sorted(p.name for p in (wap_home / "warehouse").glob(".serving*tmp*")) == []
    assert served_run_id(serving_db(wap_home)) == after.run_id
