"""`mmr bench` on the demo scale: the report has every figure the product promises (not the speed)."""

import json

import pytest

from tests.conftest import mmr

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    home = tmp_path_factory.mktemp("bench_home")
    mmr(home, "bench", "--scale", "demo", "--repeats", "2", timeout=1800)
    return home, json.loads((home / "bench" / "report.json").read_text())


def test_report_has_every_measure(report):
    _, data = report
    measured = data["measured"]
    assert measured["generation_seconds"] > 0
    full = measured["full_build"]
    assert full["seconds"] > 0 and 0 < full["peak_rss_gib"] < 24
    assert {"ingest", "dbt", "audit", "publish"} <= set(full["stages_seconds"])
    assert measured["ingest"]["rows"] > 0 and measured["ingest"]["rows_per_second"] > 0
    assert measured["ingest"]["cpu_seconds"] > 0 and measured["ingest"]["rows_per_second_per_core"] > 0
    assert (
        data["verdicts"]["ingest_rows_per_second_per_core"]["measured"]
        == measured["ingest"]["rows_per_second_per_core"]
    )
    assert measured["chart_queries"]["queries"] == 2 * measured["chart_queries"]["charts"] > 0
    assert 0 < measured["chart_queries"]["p50_ms"] <= measured["chart_queries"]["p95_ms"]
    assert set(data["verdicts"]) == set(data["targets"])
    assert data["machine"]["cpus"] >= 1


def test_incremental_build_lands_the_held_back_month(report):
    home, data = report
    incremental = data["measured"].get("incremental_build")
    if incremental is None:
        pytest.skip("no monthly deliveries are ingested yet")
    assert incremental["seconds"] > 0 and incremental["share_of_full"] > 0
    assert list((home / "bench" / "home" / "landing").glob(f"*/*_{incremental['month']}.csv"))


def test_markdown_report_names_the_machine_and_the_targets(report):
    home, data = report
    text = (home / "bench" / "report.md").read_text()
    assert f"{data['machine']['cpus']} cores" in text
    for name in data["targets"]:
        assert name in text
