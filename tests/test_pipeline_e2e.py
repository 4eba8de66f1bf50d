"""The whole slice on real components: landed file → Dagster ingest → dbt → GX audit → publish."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import requests
from dagster import AssetKey, DagsterEventType, DagsterInstance

from dagster_project.sources import cbs_kwb
from tests.conftest import KWB_FIXTURE, mmr

pytestmark = pytest.mark.e2e


def serving(home: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(home / "warehouse" / "serving.duckdb"), read_only=True)


def delivered_kwb(home: Path) -> pd.DataFrame:
    """What was delivered, read with the source's own parser: the truth the published tables must match."""
    frames = []
    for path in sorted((home / "landing" / "cbs_kwb").glob("kwb_*.csv")):
        frame = cbs_kwb.parse(path)
        frame["year"] = int(path.stem.split("_")[1])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_publish_contains_the_serving_tables(demo_home):
    delivered = delivered_kwb(demo_home)
    with serving(demo_home) as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        assert {"dim_area", "wijk_kerncijfers", "_publish"} <= tables
        wijken = con.execute("select count(*) from wijk_kerncijfers").fetchone()[0]
        areas = dict(con.execute("select area_level, count(*) from dim_area group by 1").fetchall())
    assert wijken == (delivered["SoortRegio"] == "Wijk").sum()
    assert areas == {level.lower(): n for level, n in delivered["SoortRegio"].value_counts().items()}


def test_published_counts_respect_disclosure_control(demo_home):
    with serving(demo_home) as con:
        bad = con.execute(
            "select count(*) from wijk_kerncijfers where inwoners < 10 or inwoners % 5 <> 0 "
            "or huishoudens < 10 or huishoudens % 5 <> 0"
        ).fetchone()[0]
    assert bad == 0


def test_published_figures_reconcile_with_the_delivered_files(demo_home):
    delivered = delivered_kwb(demo_home)
    wijken = delivered[delivered["SoortRegio"] == "Wijk"].set_index(["WijkenEnBuurten", "year"])["AantalInwoners"]
    with serving(demo_home) as con:
        published = {
            (code, year): n
            for code, year, n in con.execute("select wijk_code, year, inwoners from wijk_kerncijfers").fetchall()
        }
    assert set(published) == set(wijken.index)
    for key, count in wijken.items():
        if count < 10:
            assert published[key] is None, key
        else:
            assert abs(published[key] - count) <= 2.5, key


def test_ingestion_is_logged(demo_home):
    files = sorted(p.name for p in (demo_home / "landing" / "cbs_kwb").glob("kwb_*.csv"))
    with duckdb.connect(str(demo_home / "warehouse" / "build.duckdb"), read_only=True) as con:
        log = con.execute(
            "select file_name, status, rows_accepted, rows_read from raw.ingestion_log "
            "where source = 'cbs_kwb' order by file_name"
        ).fetchall()
    assert [row[0] for row in log] == files
    assert all(status == "accepted" and accepted == read > 0 for _, status, accepted, read in log)


def test_dagster_recorded_the_run_the_materialisations_and_the_passed_checks(demo_home):
    instance = DagsterInstance.from_config(str(demo_home / "dagster"))
    runs = instance.get_runs()
    assert runs and runs[0].job_name == "mmr_job" and runs[0].is_success
    checks = instance.get_records_for_run(
        runs[0].run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=1000
    ).records
    evaluations = {r.event_log_entry.dagster_event.event_specific_data.check_name: r for r in checks}
    assert {"gx_dim_area", "gx_wijk_kerncijfers"} <= set(evaluations)
    assert all(r.event_log_entry.dagster_event.event_specific_data.passed for r in checks)
    assert instance.get_latest_materialization_event(AssetKey(["publish", "serving_database"]))


def test_data_docs_show_the_last_validation(demo_home):
    index = demo_home / "gx" / "data_docs" / "index.html"
    assert index.exists()
    assert "dim_area" in index.read_text()


def test_status_shows_the_last_publish(demo_home):
    out = mmr(demo_home, "status").stdout
    assert "Last good publish" in out
    assert "Ingestion per source" in out
    for source in ("cbs_kwb", "gemeente_jeugd", "gemeente_wmo", "gemeente_participatie"):
        assert source in out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dagster_ui_shows_the_assets_and_the_passed_check(demo_home):
    port = _free_port()
    env = {**os.environ, "MMR_HOME": str(demo_home), "DAGSTER_HOME": str(demo_home / "dagster")}
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


def test_second_run_is_idempotent_and_republishes(demo_home):
    with serving(demo_home) as con:
        before = json.loads(con.execute("select metadata from _publish").fetchone()[0])
        rows_before = con.execute("select count(*) from wijk_kerncijfers").fetchone()[0]
    with duckdb.connect(str(demo_home / "warehouse" / "build.duckdb"), read_only=True) as con:
        batches_before = con.execute("select count(*) from raw.ingestion_log").fetchone()[0]
    result = mmr(demo_home, "run", "--no-demo")
    assert "Published" in result.stdout
    with serving(demo_home) as con:
        after = json.loads(con.execute("select metadata from _publish").fetchone()[0])
        rows_after = con.execute("select count(*) from wijk_kerncijfers").fetchone()[0]
    assert after["dagster_run_id"] != before["dagster_run_id"]
    assert rows_after == rows_before
    with duckdb.connect(str(demo_home / "warehouse" / "build.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.ingestion_log").fetchone()[0] == batches_before
    assert (demo_home / "warehouse" / "serving.previous.duckdb").exists()


def test_a_bad_delivery_is_quarantined_and_the_publish_goes_on(demo_home):
    with serving(demo_home) as con:
        rows_before = con.execute("select count(*) from wijk_kerncijfers").fetchone()[0]
    bad = KWB_FIXTURE.read_text().replace(";", ",")
    (demo_home / "landing" / "cbs_kwb" / "kwb_2030.csv").write_text(bad)
    result = mmr(demo_home, "run", "--no-demo")
    assert "Published" in result.stdout
    reasons = list((demo_home / "quarantine" / "cbs_kwb").glob("kwb_2030-*/reasons.csv"))
    assert reasons and "delimiter" in reasons[0].read_text()
    with serving(demo_home) as con:
        assert con.execute("select count(*) from wijk_kerncijfers").fetchone()[0] == rows_before
    (demo_home / "landing" / "cbs_kwb" / "kwb_2030.csv").unlink()


def test_rollback_restores_the_previous_publish(demo_home):
    current = (demo_home / "warehouse" / "serving.duckdb").read_bytes()
    previous = (demo_home / "warehouse" / "serving.previous.duckdb").read_bytes()
    mmr(demo_home, "rollback")
    assert (demo_home / "warehouse" / "serving.duckdb").read_bytes() == previous
    mmr(demo_home, "rollback")
    assert (demo_home / "warehouse" / "serving.duckdb").read_bytes() == current


@pytest.mark.browser
def test_data_docs_open_in_a_browser_with_the_last_validations(demo_home, browser):
    """Offline, as on a closed municipal network: only local files load."""
    docs = demo_home / "gx" / "data_docs"
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
