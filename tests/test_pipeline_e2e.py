"""The whole slice on real components: landed file → Dagster ingest → dbt → GX audit → publish.

Every test runs in both warehouse modes (`pipeline`): the embedded DuckDB default and the shared
PostgreSQL warehouse, with the same assertions on what each mode publishes.
"""

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import requests
from dagster import AssetKey, DagsterEventType, DagsterInstance

from dagster_project.ops.services import free_port
from dagster_project.sources import cbs_kwb
from tests.conftest import KWB_FIXTURE, Pipeline

pytestmark = pytest.mark.e2e


def delivered_kwb(home: Path) -> pd.DataFrame:
    """What was delivered, read with the source's own parser: the truth the published tables must match."""
    frames = []
    for path in sorted((home / "landing" / "cbs_kwb").glob("kwb_*.csv")):
        frame = cbs_kwb.parse(path)
        frame["year"] = int(path.stem.split("_")[1])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_publish_contains_the_serving_tables(pipeline: Pipeline):
    delivered = delivered_kwb(pipeline.home)
    assert {"dim_area", "wijk_kerncijfers"} <= pipeline.published_tables()
    assert pipeline.served_run()["metadata"]["periods"]
    [(wijken,)] = pipeline.published("select count(*) from wijk_kerncijfers")
    areas = dict(pipeline.published("select area_level, count(*) from dim_area group by 1"))
    assert wijken == (delivered["SoortRegio"] == "Wijk").sum()
    assert areas == {level.lower(): n for level, n in delivered["SoortRegio"].value_counts().items()}


def test_published_counts_respect_disclosure_control(pipeline: Pipeline):
    [(bad,)] = pipeline.published(
        "select count(*) from wijk_kerncijfers where inwoners < 10 or inwoners % 5 <> 0 "
        "or huishoudens < 10 or huishoudens % 5 <> 0"
    )
    assert bad == 0


def test_published_figures_reconcile_with_the_delivered_files(pipeline: Pipeline):
    delivered = delivered_kwb(pipeline.home)
    wijken = delivered[delivered["SoortRegio"] == "Wijk"].set_index(["WijkenEnBuurten", "year"])["AantalInwoners"]
    published = {
        (code, year): n
        for code, year, n in pipeline.published("select wijk_code, year, inwoners from wijk_kerncijfers")
    }
    assert set(published) == set(wijken.index)
    for key, count in wijken.items():
        if count < 10:
            assert published[key] is None, key
        else:
            assert abs(published[key] - count) <= 2.5, key


def test_ingestion_is_logged(pipeline: Pipeline):
    files = sorted(p.name for p in (pipeline.home / "landing" / "cbs_kwb").glob("kwb_*.csv"))
    log = pipeline.warehouse(
        "select file_name, status, rows_accepted, rows_read from raw.ingestion_log "
        "where source = 'cbs_kwb' order by file_name"
    )
    assert [row[0] for row in log] == files
    assert all(status == "accepted" and accepted == read > 0 for _, status, accepted, read in log)


def test_dagster_recorded_the_run_the_materialisations_and_the_passed_checks(pipeline: Pipeline):
    instance = DagsterInstance.from_config(str(pipeline.home / "dagster"))
    runs = instance.get_runs()
    assert runs and runs[0].job_name == "mmr_job" and runs[0].is_success
    checks = instance.get_records_for_run(
        runs[0].run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=1000
    ).records
    evaluations = {r.event_log_entry.dagster_event.event_specific_data.check_name: r for r in checks}
    assert {"gx_dim_area", "gx_wijk_kerncijfers"} <= set(evaluations)
    assert all(r.event_log_entry.dagster_event.event_specific_data.passed for r in checks)
    assert instance.get_latest_materialization_event(AssetKey(["publish", "serving_database"]))


def test_dbt_leaves_what_a_step_wrote_in_the_logs_of_the_installation(pipeline: Pipeline):
    """One folder per dbt step, replaced by its next run: nothing piles up in the project's `dbt/target`."""
    from dagster_project.dbt import DBT_DIR

    instance = DagsterInstance.from_config(str(pipeline.home / "dagster"))
    run_id = instance.get_runs()[0].run_id
    for step in ("mmr_dbt_models", "mmr_dbt_after_analytics"):
        results = json.loads((pipeline.home / "logs" / "dbt" / step / "run_results.json").read_text())
        assert results["results"] and all(r["status"] in ("success", "pass") for r in results["results"])
    assert not list((DBT_DIR / "target").glob(f"*-{run_id[:7]}-*"))


def test_data_docs_show_the_last_validation(pipeline: Pipeline):
    index = pipeline.home / "gx" / "data_docs" / "index.html"
    assert index.exists()
    assert "dim_area" in index.read_text()


def test_status_shows_the_last_publish(pipeline: Pipeline):
    out = pipeline.mmr("status").stdout
    assert "Last good publish" in out
    assert "Ingestion per source" in out
    for source in ("cbs_kwb", "gemeente_jeugd", "gemeente_wmo", "gemeente_participatie"):
        assert source in out


def test_dagster_ui_shows_the_assets_and_the_passed_check(pipeline: Pipeline):
    port = free_port()
    home = pipeline.home
    env = {**os.environ, "MMR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), **pipeline.env}
    webserver = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen(
        [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-m", "dagster_project.definitions"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(1)
        query = """
        { assetNodes { assetKey { path }
            assetChecksOrError { ... on AssetChecks { checks { name
              executionForLatestMaterialization { status } } } } } }
        """
        response = requests.post(f"{url}/graphql", json={"query": query}, timeout=60).json()
        nodes = {"/".join(n["assetKey"]["path"]): n for n in response["data"]["assetNodes"]}
        assert {"raw/cbs/kwb", "staging/stg_cbs__kwb", "marts/dim_area", "publish/serving_database"} <= set(nodes)
        checks = {c["name"]: c for c in nodes["marts/dim_area"]["assetChecksOrError"]["checks"]}
        assert checks["gx_dim_area"]["executionForLatestMaterialization"]["status"] == "SUCCEEDED"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_second_run_with_a_bad_delivery_quarantines_it_and_republishes_the_same(pipeline: Pipeline):
    """Nothing is ingested twice, the bad file is quarantined, and the rest publishes again unchanged."""
    home = pipeline.home
    before = pipeline.served_run()["metadata"]
    rows_before = pipeline.published("select count(*) from wijk_kerncijfers")
    [(batches_before,)] = pipeline.warehouse("select count(*) from raw.ingestion_log")
    bad = KWB_FIXTURE.read_text().replace(";", ",")
    (home / "landing" / "cbs_kwb" / "kwb_2030.csv").write_text(bad)
    result = pipeline.mmr("run", "--no-demo")
    assert "Published" in result.stdout
    after = pipeline.served_run()["metadata"]
    assert after["dagster_run_id"] != before["dagster_run_id"]
    assert pipeline.served_run(previous=True)["metadata"]["dagster_run_id"] == before["dagster_run_id"]
    assert pipeline.published("select count(*) from wijk_kerncijfers") == rows_before
    reasons = list((home / "quarantine" / "cbs_kwb").glob("kwb_2030-*/reasons.csv"))
    assert reasons and "delimiter" in reasons[0].read_text()
    assert pipeline.warehouse("select status from raw.ingestion_log where file_name = 'kwb_2030.csv'") == [
        ("rejected",)
    ]
    assert pipeline.warehouse("select count(*) from raw.ingestion_log") == [(batches_before + 1,)]
    (home / "landing" / "cbs_kwb" / "kwb_2030.csv").unlink()


def test_rollback_restores_the_previous_publish(pipeline: Pipeline):
    current, previous = pipeline.served_run(), pipeline.served_run(previous=True)
    assert current["run_id"] != previous["run_id"]
    pipeline.mmr("rollback")
    assert pipeline.served_run()["run_id"] == previous["run_id"]
    assert pipeline.served_run(previous=True)["run_id"] == current["run_id"]
    pipeline.mmr("rollback")
    assert pipeline.served_run()["run_id"] == current["run_id"]


@pytest.mark.browser
def test_data_docs_open_in_a_browser_with_the_last_validations(pipeline: Pipeline, browser):
    """Offline, as on a closed municipal network: only local files load."""
    docs = pipeline.home / "gx" / "data_docs"
    page = browser.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    page.goto((docs / "index.html").as_uri())
    assert "Data Docs" in page.inner_text("body")
    # The index table is drawn by bootstrap-table, served from the site itself.
    page.wait_for_selector("table.table tbody tr td", timeout=15_000)
    assert "wijk_kerncijfers" in page.inner_text("table.table")
    for suite in ("dim_area", "wijk_kerncijfers"):
        latest = max((docs / "validations" / suite).rglob("*.html"), key=lambda p: p.stat().st_mtime)
        page.goto(latest.as_uri())
        text = page.inner_text("body")
        assert f"Expectation Suite: {suite}" in text
        assert re.search(r"Status:\s*Succeeded", text), "the last validation did not succeed"
    page.close()


@pytest.mark.postgres
def test_a_gemeente_role_reads_only_its_own_rows_of_every_published_table(shared_pipeline: Pipeline):
    """Row-level security on the shared warehouse, over everything the pipeline published."""
    with psycopg.connect(shared_pipeline.dsn, autocommit=True) as con:
        tables = [r[0] for r in con.execute("select tablename from pg_tables where schemaname = 'published'")]
        gemeenten = [r[0] for r in con.execute("select distinct gemeente_code from published.dim_area order by 1")]
        # a gemeente reads its own rows and those of the gemeenten that went into it (Voorne aan Zee)
        reads: dict[str, set[str]] = {}
        pairs = con.execute("select distinct gemeente_code, huidige_gemeente_code from published.dim_area")
        for code, current in pairs.fetchall():
            reads.setdefault(current, {current}).add(code)
        assert len(tables) >= 10 and len(gemeenten) >= 10
        assert reads["GM1992"] == {"GM0501", "GM0530", "GM0614", "GM1992"}
        for gemeente in [*sorted(reads)[:2], "GM1992"]:
            con.execute(f"set role gemeente_{gemeente.lower()}")
            for table in tables:
                seen = {r[0] for r in con.execute(f"select distinct gemeente_code from published.{table}")}
                assert seen <= reads[gemeente], (gemeente, table, seen)
            assert con.execute("select count(*) from published.dim_area").fetchone()[0] > 0
            for build_table in ("serving.dim_area", "raw.gemeente_jeugd"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    con.execute(f"select count(*) from {build_table}")
            con.execute("reset role")
        con.execute("set role regio")
        seen = {r[0] for r in con.execute("select distinct gemeente_code from published.dim_area")}
        con.execute("reset role")
    assert seen == set(gemeenten)


def _published_profile(pipeline: Pipeline, table: str, columns: dict[str, str]) -> dict[tuple, tuple]:
    """Per gemeente (and year): the row count and the sum of every numeric column of a published table."""
    groups = [c for c in ("gemeente_code", "year") if c in columns]
    numeric = [c for c, kind in columns.items() if kind in NUMERIC and c not in groups]
    sums = "".join(f', sum(cast("{c}" as double precision))' for c in numeric)
    by = ", ".join(groups)
    rows = pipeline.published(f"select {by}, count(*){sums} from {table} group by {by}")
    return {row[: len(groups)]: row[len(groups) :] for row in rows}


NUMERIC = {"integer", "bigint", "smallint", "double", "double precision", "numeric", "decimal", "hugeint", "real"}


@pytest.mark.postgres
def test_both_modes_publish_the_same_figures(demo_home: Path, shared_pipeline: Pipeline):
    """The same deliveries give the same published figures on DuckDB and on PostgreSQL: every table,
    per gemeente and year, rows and the sum of every number (statistics included)."""
    embedded = Pipeline(demo_home, "duckdb")
    tables = embedded.published_tables() - {"_publish"}
    assert tables == shared_pipeline.published_tables()
    for table in sorted(tables):
        kinds = dict(
            shared_pipeline.published(
                "select column_name, data_type from information_schema.columns "
                f"where table_schema = 'published' and table_name = '{table}'"
            )
        )
        on_duckdb = _published_profile(embedded, table, kinds)
        on_postgres = _published_profile(shared_pipeline, table, kinds)
        assert on_duckdb.keys() == on_postgres.keys(), table
        for group, values in on_duckdb.items():
            for left, right in zip(values, on_postgres[group], strict=True):
                same = (left is None) == (right is None) and (
                    left is None or math.isclose(left, right, rel_tol=1e-6, abs_tol=1e-6)
                )
                assert same, f"{table} {group}: DuckDB {values} vs PostgreSQL {on_postgres[group]}"


@pytest.mark.postgres
def test_the_council_report_is_the_same_from_either_mode(demo_home_copy: Path, shared_pipeline: Pipeline):
    embedded = Pipeline(demo_home_copy, "duckdb")
    [(gemeente, year)] = shared_pipeline.published(
        "select gemeente_code, max(year) from raadsrapportage group by 1 order by 1 limit 1"
    )
    reports = []
    for pipeline in (embedded, shared_pipeline):
        pipeline.mmr("report", "--gemeente", gemeente, "--year", str(year))
        reports.append((pipeline.home / "reports" / f"raadsrapportage_{gemeente}_{year}.csv").read_text())
    assert reports[0] == reports[1]
    assert len(reports[0].splitlines()) > 10
