"""The demo region keeps publishing when a national Vektis file of an older year lands, and a
delivery that breaks a dbt test is held back while everything else publishes.

One home: the demo region, plus a national Vektis gemeente file of 2015 in the 2015 layout (upper
case, no JAAR, every gemeente of that year). Then a 2021 file whose two count columns are swapped
lands: its rows break a dbt test, it is held back, and the run still publishes.
"""

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from dagster_project import ingest
from dagster_project.synthetic import generate
from dagster_project.synthetic import vektis as synthetic_vektis
from tests.conftest import mmr

ASSETS = Path(__file__).resolve().parent.parent / "superset" / "assets"

# two full runs of the demo pipeline: longer than the default timeout on a busy machine
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(7200)]

TEST_NAME = "stg_vektis__zvw_gemeente_insured_years_at_most_persons"


def vektis_file(year: int, gemeenten: pd.DataFrame) -> pd.DataFrame:
    """Rows in the delivered shape for every gemeente given (code, name)."""
    frames = [
        synthetic_vektis.rows_for(7, code, year, "GEMEENTENAAM", name.upper(), np.full(19, 600.0), 0.49, 0.08)
        for code, name in zip(gemeenten["code"], gemeenten["name"], strict=True)
    ]
    return pd.concat(frames, ignore_index=True)


def costs(frame: pd.DataFrame) -> pd.Series:
    return frame[[c for c in frame.columns if c.startswith("KOSTEN_")]].sum(axis=1)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("vektis_history")
    generate("demo", 42, home / "landing", home / "generator" / "truth.json", progress=False)
    national = vektis_file(2015, ingest.valid_on("2015-01-01"))
    published = synthetic_vektis.published(national, 2015)
    (home / "landing" / "vektis_zvw" / "vektis_zvw_gemeente_2015.csv").write_bytes(
        published.to_csv(sep=";", index=False, float_format="%.2f", lineterminator="\r\n").encode("cp1252")
    )
    first = mmr(home, "run", "--no-demo", check=False, timeout=3600)
    # what the file holds: the 2015 layout has fewer cost columns than the generator makes
    return {"home": home, "national": published, "first": first}


def serving(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse" / "serving.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def build(home: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse" / "build.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_older_national_file_is_built_and_published(home):
    result = home["first"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Published" in result.stdout
    gemeenten = build(
        home["home"], "select count(distinct gemeente_code) from marts_core.fct_zvw_cost where year = 2015"
    )
    assert gemeenten == [(len(ingest.valid_on("2015-01-01")),)]
    assert build(home["home"], "select count(*) from marts_core.dim_period where period_key = '2015'") == [(1,)]


def test_zvw_context_shows_2015_for_the_region_and_the_national_benchmark(home):
    national = home["national"]
    rows = serving(
        home["home"],
        "select gemeente_code, zvw_kosten_totaal, nl_zvw_kosten_totaal, nl_zvw_kosten_per_verzekerde "
        "from zvw_context where year = 2015",
    )
    region = {code for (code,) in serving(home["home"], "select distinct gemeente_code from dim_area")}
    assert rows and {code for code, *_ in rows} <= region
    assert len(rows) >= 8
    by_code = {code: total for code, total, *_ in rows}
    # Brielle, Hellevoetsluis and Westvoorne of 2015 count under Voorne aan Zee, the reference gemeente
    merged = national[national["GEMEENTENAAM"].isin(["BRIELLE", "HELLEVOETSLUIS", "WESTVOORNE"])]
    assert float(by_code["GM1992"]) == pytest.approx(costs(merged).sum(), abs=1)
    everyone = costs(national).sum()
    [nl_total] = {float(nl) for _, _, nl, _ in rows}
    assert nl_total == pytest.approx(everyone, abs=1)
    insured = national.loc[national["AANTAL_BSN"] > 0, "AANTAL_BSN"].sum()
    assert float(rows[0][3]) == pytest.approx(everyone / insured, rel=1e-6)
    assert "GM0518" not in by_code  # 's-Gravenhage is in the national file, not in the region

    # the dashboard's trend chart (Sociaal domein 3D) shows 2015 for the region and for Nederland
    chart = next((ASSETS / "charts").glob("Zvw-kosten_per_verzekerde_per_jaar_*.yaml"))
    dataset = yaml.safe_load(next((ASSETS / "datasets").rglob("zvw_context_*.yaml")).read_text())
    expressions = {metric["metric_name"]: metric["expression"] for metric in dataset["metrics"]}
    shown = ", ".join(expressions[name] for name in yaml.safe_load(chart.read_text())["params"]["metrics"])
    by_year = dict(
        (year, values) for year, *values in serving(home["home"], f"select year, {shown} from zvw_context group by 1")
    )
    region_2015, nl_2015 = by_year[2015]
    assert float(nl_2015) == pytest.approx(everyone / insured, rel=1e-6)
    assert float(region_2015) > 0 and {2015, 2022, 2023, 2024} <= set(by_year)


@pytest.fixture(scope="module")
def held_back(home) -> dict:
    """A 2021 file (2020 layout) of three gemeenten with AANTAL_BSN and AANTAL_VERZEKERDEJAREN swapped."""
    gemeenten = ingest.valid_on("2021-01-01")
    gemeenten = gemeenten[gemeenten["code"].isin(["GM0489", "GM0501", "GM1930"])]
    published = synthetic_vektis.published(vektis_file(2021, gemeenten), 2021)
    published = published.rename(
        columns={"aantal_bsn": "aantal_verzekerdejaren", "aantal_verzekerdejaren": "aantal_bsn"}
    )
    published["aantal_bsn"] = published["aantal_bsn"].astype(int)  # counts stay whole numbers
    (home["home"] / "landing" / "vektis_zvw" / "vektis_zvw_gemeente_2021.csv").write_text(
        published.to_csv(sep=";", index=False, float_format="%.2f")
    )
    second = mmr(home["home"], "run", "--no-demo", check=False, timeout=3600)
    status = mmr(home["home"], "status", check=False)
    return {"second": second, "status": status, "rows": len(published)}


def test_a_delivery_that_breaks_a_dbt_test_is_held_back_and_the_rest_publishes(home, held_back):
    second = held_back["second"]
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
    assert "Published" in second.stdout
    root = home["home"]
    [(run_id, status, periods)] = build(
        root, "select run_id, status, periods from audit.publish_log order by published_at desc limit 1"
    )
    assert status == "published"
    assert "vektis_zvw:2015" in json.loads(periods) and "vektis_zvw:2021" not in json.loads(periods)
    assert serving(root, "select _publish.run_id from _publish") == [(run_id,)]
    assert serving(root, "select count(*) from zvw_context where year = 2021") == [(0,)]
    assert serving(root, "select count(*) from zvw_context where year = 2015") != [(0,)]
    assert serving(root, "select count(*) from wijk_kerncijfers") != [(0,)]
    assert build(root, "select count(*) from raw.vektis_zvw_gemeente where jaar = 2021") == [(0,)]


def test_the_held_back_delivery_is_quarantined_with_rule_rows_and_message(home, held_back):
    root = home["home"]
    [(batch, message)] = build(
        root, "select batch_id, message from raw.ingestion_log where status = 'held_back' and period = '2021'"
    )
    assert "vektis_zvw_gemeente_2021.csv" in message and TEST_NAME in message
    folder = root / "quarantine" / "vektis_zvw" / batch
    rows = pd.read_csv(folder / "held_back_rows.csv", sep=";")
    assert len(rows) == held_back["rows"] and set(rows["jaar"]) == {2021}
    reasons = pd.read_csv(folder / "reasons.csv", dtype=str)
    assert f"dbt:{TEST_NAME}" in set(reasons["rule"])
    status = held_back["status"].stdout
    assert "Held back" in status and "vektis_zvw_gemeente_2021.csv" in status


def test_a_held_back_delivery_is_not_ingested_again(home, held_back):
    third = mmr(home["home"], "ingest", check=False, timeout=3600)
    assert third.returncode == 0, third.stdout[-4000:] + third.stderr[-4000:]
    assert build(home["home"], "select count(*) from raw.vektis_zvw_gemeente where jaar = 2021") == [(0,)]
    assert build(
        home["home"], "select count(*) from raw.ingestion_log where period = '2021' and source = 'vektis_zvw'"
    ) == [(1,)]
