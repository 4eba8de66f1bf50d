"""A region where only some sources have delivered still builds: every raw table exists (empty,
typed by its contract) from the first run, so dbt, the audit and the publish run on what is there."""

import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.synthetic import generate
from tests.conftest import mmr

pytestmark = pytest.mark.e2e

DELIVERED = {
    "gebieden": "*",
    "cbs_kwb": "kwb_2022.csv",
    "gemeente_jeugd": "jeugd_GM0489_2022-0[12].csv",
}
RAW_TABLES = {
    "cbs_gebieden",
    "cbs_pc6_gwb",
    "cbs_kwb",
    "cbs_wijk_zorg",
    "vektis_zvw_gemeente",
    "vektis_zvw_postcode3",
    "gemeente_jeugd",
    "gemeente_wmo",
    "gemeente_participatie",
    "gemeente_clientervaring",
    "gemeente_budgetten",
    "gemeente_contracten",
    "gemeente_interventies",
}


@pytest.fixture(scope="module")
def partial_home(tmp_path_factory) -> Path:
    """A home with the area maps, one KWB year and two months of one gemeente's Jeugd export."""
    demo = tmp_path_factory.mktemp("demo")
    generate("demo", 42, demo / "landing", demo / "truth.json", progress=False)
    home = tmp_path_factory.mktemp("partial_home")
    for source, pattern in DELIVERED.items():
        (home / "landing" / source).mkdir(parents=True)
        for path in (demo / "landing" / source).glob(pattern):
            shutil.copy(path, home / "landing" / source / path.name)
    shutil.rmtree(demo)
    result = mmr(home, "run", "--no-demo", check=False, timeout=1800)
    return home, result


def test_the_run_succeeds_and_publishes(partial_home):
    home, result = partial_home
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Published" in result.stdout
    with duckdb.connect(str(home / "warehouse" / "serving.duckdb"), read_only=True) as con:
        tables = {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
        assert {"dim_area", "wijk_kerncijfers", "_publish"} <= tables
        assert con.execute("select count(*) from wijk_kerncijfers").fetchone()[0] > 0


def test_every_source_has_its_raw_table_and_only_deliveries_have_rows(partial_home):
    home, _ = partial_home
    with duckdb.connect(str(home / "warehouse" / "build.duckdb"), read_only=True) as con:
        tables = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
        assert tables >= RAW_TABLES
        filled = {table for table in RAW_TABLES if con.execute(f"select count(*) from raw.{table}").fetchone()[0]}
        assert filled == {"cbs_gebieden", "cbs_pc6_gwb", "cbs_kwb", "gemeente_jeugd"}
        empty_wmo = dict(con.execute("select column_name, column_type from (describe raw.gemeente_wmo)").fetchall())
    assert empty_wmo["bedrag"] == "DOUBLE" and empty_wmo["startdatum"] == "TIMESTAMP"
    assert "bsn" not in empty_wmo and empty_wmo["bsn_pseudoniem"] == "BIGINT"
