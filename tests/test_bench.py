"""`mmr bench` on the demo scale: the report has every figure the product promises (not the speed)."""

import json
import os
import socket

import pytest
from rich.console import Console

from dagster_project.ops import bench, run_timings
from tests.conftest import mmr

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The bench, run while the configured Superset port is taken (as by the user's own Superset)."""
    home = tmp_path_factory.mktemp("bench_home")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        mmr(home, "bench", "--scale", "demo", "--repeats", "1", timeout=1800, env={"MMR_SUPERSET_PORT": port})
    return home, json.loads((home / "bench" / "report.json").read_text())


def test_report_has_every_measure(report):
    _, data = report
    measured = data["measured"]
    assert measured["generation_seconds"] > 0
    full = measured["full_build"]
    assert full["seconds"] > 0 and 0 < full["peak_rss_gib"] < 24
    named = full["peak_rss_by_process_gib"]
    assert named and sum(gib for _, gib in named) <= full["peak_rss_gib"] + 0.05
    assert any("dagster_project.cli" in name for name, _ in named), named
    assert {"ingest", "dbt", "analytics", "audit", "publish"} <= set(full["stages_seconds"])
    slowest = full["slowest_seconds"]
    assert len(slowest) == run_timings.SLOWEST and list(slowest.values()) == sorted(slowest.values(), reverse=True)
    assert any(name.startswith("marts/") for name in slowest), slowest
    assert set(measured["incremental_build"]["stages_seconds"]) >= {"ingest", "dbt"}
    assert measured["ingest"]["rows"] > 0 and measured["ingest"]["rows_per_second"] > 0
    assert measured["ingest"]["cpu_seconds"] > 0 and measured["ingest"]["rows_per_second_per_core"] > 0
    scan = measured["scan"]
    assert scan["seconds"] > 0 and scan["files"] > 0 and scan["sources"]["gemeente_wmo"]["distinct_bsn"] > 0
    assert scan["rows"] >= measured["ingest"]["rows"] * 0.9, "the anchor reads what the build ingests"
    assert scan["warmed"]["files"] >= scan["files"] and scan["warmed"]["bytes"] > 0, "read once before it is timed"
    ratio = data["verdicts"]["full_build_ratio_to_scan"]["measured"]
    assert ratio == round(full["seconds"] / scan["seconds"], 2) > 0
    assert data["verdicts"]["ingest_ratio_to_scan"]["measured"] > 0
    attacks = measured["disclosure_attacks"]
    assert attacks["published_rows"] > 1000 and len(attacks["findings"]) >= 6
    assert data["verdicts"]["disclosure_attack_findings"] == {"measured": 0, "target": 0, "met": True}
    charts = measured["chart_queries"]
    for timed in (charts, charts["unfiltered"]):
        assert timed["queries"] == timed["charts"] == len(timed["per_chart_p95_ms"]) > 50
        assert 0 < timed["p50_ms"] <= timed["p95_ms"] <= max(timed["per_chart_p95_ms"].values())
    assert set(charts["per_chart_p95_ms"]) == set(charts["unfiltered"]["per_chart_p95_ms"])
    assert data["verdicts"]["chart_query_p95_ms"]["measured"] == charts["p95_ms"]
    assert set(data["verdicts"]) == set(data["targets"])
    assert data["machine"]["cpus"] >= 1
    assert data["complete"] is True and data["measured"]["postgres_ratio"]["scale"] == "demo"
    assert data["measured"]["postgres_ratio"]["slice"] is None, "a demo build is compared whole"


def test_generated_deliveries_are_kept_once_and_linked_into_the_home(report):
    home, data = report
    generation = data["measured"]["generation"]
    store = home / "bench" / "generated" / "demo-seed42"
    recorded = json.loads((store / "generation.json").read_text())
    assert generation["reused"] is False and generation["folder"] == str(store)
    assert recorded["seconds"] == generation["seconds"] == data["measured"]["generation_seconds"] > 0
    assert recorded["files"] == generation["landed_files"] > 0 and recorded["rows"]["gemeente_wmo"] > 0
    assert (store / "generator" / "truth.json").exists()
    landed = home / "bench" / "home" / "landing" / "cbs_kwb"
    for path in landed.iterdir():
        assert path.samefile(store / "landing" / "cbs_kwb" / path.name), "hard-linked, not generated again"


def test_deliveries_are_generated_again_only_when_the_generator_changed(tmp_path, monkeypatch):
    env = {**os.environ, "MMR_HOME": str(tmp_path / "home")}
    quiet = Console(quiet=True)
    store, first = bench.generated(tmp_path, "demo", 7, False, env, quiet)
    assert first["reused"] is False and (store / "landing" / "gemeente_wmo").is_dir()
    again, second = bench.generated(tmp_path, "demo", 7, False, env, quiet)
    assert again == store and second == {**first, "reused": True}
    assert bench.place(store, tmp_path / "home") == first["files"]
    monkeypatch.setattr(bench, "generator_fingerprint", lambda: "changed")
    _, third = bench.generated(tmp_path, "demo", 7, False, env, quiet)
    assert third["reused"] is False and third["generator"] == "changed"
    assert not store.with_name(store.name + ".partial").exists()


def test_incremental_build_lands_the_held_back_month(report):
    home, data = report
    incremental = data["measured"].get("incremental_build")
    if incremental is None:
        pytest.skip("no monthly deliveries are ingested yet")
    assert incremental["seconds"] > 0 and incremental["share_of_full"] > 0
    assert list((home / "bench" / "home" / "landing").glob(f"*/*_{incremental['month']}.csv"))
    before, after = data["measured"]["disclosure_attacks"]["published_digest"], incremental["published_digest"]
    assert set(before) == set(after)
    changed = {table for table in before if before[table] != after[table]}
    assert "sociaal_domein_3d" in changed, "the new month's clients are published"
    assert not changed & {"dim_area", "area_geometry", "wijk_kerncijfers"}, "CBS figures do not move with a month"
    assert "Digest after the new month" in (home / "bench" / "report.md").read_text()


def test_markdown_report_names_the_machine_and_the_targets(report):
    home, data = report
    text = (home / "bench" / "report.md").read_text()
    assert f"{data['machine']['cpus']} cores" in text
    for name in data["targets"]:
        assert name in text
    assert "after reading every landed file once into memory" in text


def test_steps_are_counted_in_their_stage():
    """Step keys of a national run; the statistics were once counted as dbt."""
    stages = {
        "raw__gemeente__wmo": "ingest",
        "gebieden": "ingest",
        "vektis_zvw": "ingest",
        "mmr_dbt_models": "dbt",
        "mmr_dbt_after_analytics": "dbt",
        "expected_care_use_models": "analytics",
        "benchmark": "analytics",
        "intervention_effect": "analytics",
        "analytics__population_funding": "analytics",
        "geo__area_geometry": "analytics",
        "audit_marts": "audit",
        "audit_serving": "audit",
        "publish__serving_database": "publish",
    }
    ingesting = {"raw__gemeente__wmo", "gebieden", "vektis_zvw"}  # they materialise raw assets
    assert {key: run_timings.stage_of(key, ingesting) for key in stages} == stages


def test_a_national_slice_keeps_every_nth_gemeentes_deliveries_and_all_reference_data(tmp_path):
    import duckdb

    from dagster_project.ops.bench_postgres import slice_raw_layer

    build_db = tmp_path / "build.duckdb"
    with duckdb.connect(str(build_db)) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.wmo as "
            "select 'GM' || lpad(cast(i % 50 as varchar), 4, '0') as gemeentecode, i from range(1000) t(i)"
        )
        con.execute("create table raw.budgetten as select 'GM0020' as gemeentecode union all select 'GM0021'")
        con.execute("create table raw.kwb as select 'WK002001' as gwb_code from range(7)")
    sliced = slice_raw_layer(build_db, 20)
    assert sliced == {"every": 20, "tables": ["budgetten", "wmo"], "rows_before": 1002, "rows_kept": 61, "gemeenten": 3}
    with duckdb.connect(str(build_db), read_only=True) as con:
        assert con.execute("select distinct gemeentecode from raw.wmo order by 1").fetchall() == [
            ("GM0000",),
            ("GM0020",),
            ("GM0040",),
        ]
        assert con.execute("select count(*) from raw.kwb").fetchone() == (7,)
