"""A model rebuilt whole is kept when nothing it reads changed (`dbt/macros/unchanged_inputs.sql`,
`dagster_project/lib/asset_versions.py`): a run with nothing new rebuilds no table, a re-delivered
source rebuilds exactly the tables downstream of it, a changed setting the models it enters, and
what is kept and rebuilt equals a full build of the same deliveries.

On a copy of the demo warehouse (whose run noted every version): dbt runs with nothing new; then a
year of contracts is re-delivered with one contract less, through the real ingestion, and dbt runs
again; a copy of that is built from scratch (`--full-refresh`) to compare with.
"""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dagster_project import ingest
from dagster_project.lib import asset_versions
from dagster_project.lib.postgres import run_dbt
from dagster_project.ops.published_digest import table_digest
from dagster_project.resources import warehouse_for
from dagster_project.settings import Settings
from dagster_project.sources import contracten
from tests.test_incremental import copy_of_demo, dbt_results, land_one_row_less

pytestmark = pytest.mark.e2e

#: Every model, those reading the analytics tables (kept as the demo's run wrote them) included.
RUN = ["run"]


@dataclass
class Builds:
    home: Path
    build_db: Path
    manifest: dict
    results: dict[str, dict]
    contracts: tuple[int, int]
    digests: dict[str, dict[str, dict]]


def _contracts(build_db: Path) -> int:
    with duckdb.connect(str(build_db), read_only=True) as con:
        return con.execute("select count(*) from marts_core.fct_contract").fetchone()[0]


def _digests(build_db: Path, manifest: dict) -> dict[str, dict]:
    with duckdb.connect(str(build_db), read_only=True) as con:
        return {table: table_digest(con.table(table).df()) for table in sorted(_table_models(manifest).values())}


@pytest.fixture(scope="module")
def builds(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Builds:
    home = tmp_path_factory.mktemp("unchanged_home")
    build_db = copy_of_demo(demo_home, home)
    results = {"again": dbt_results(RUN, home / "dbt_again", build_db)}
    contracts_before = _contracts(build_db)

    land_one_row_less(demo_home, home, "contracten", "contracten_2024.csv")
    ingest.ingest_source([contracten.SPEC], Settings(home=home))
    results["redelivered"] = dbt_results(RUN, home / "dbt_redelivered", build_db)
    contracts = (contracts_before, _contracts(build_db))
    manifest = json.loads((home / "dbt_again" / "manifest.json").read_text())
    digests = {"redelivered": _digests(build_db, manifest)}

    full_db = home / "full" / "build.duckdb"
    full_db.parent.mkdir()
    shutil.copy(build_db, full_db)
    dbt_results([*RUN, "--full-refresh"], home / "dbt_full", full_db)
    digests["full"] = _digests(full_db, manifest)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MMR_SUPPRESSION_THRESHOLD", "11")
        results["threshold"] = dbt_results(RUN, home / "dbt_threshold", build_db)
    return Builds(home, build_db, manifest, results, contracts, digests)


def _table_models(manifest: dict) -> dict[str, str]:
    """`schema.table` of every model materialised as a table, by node id."""
    return {
        node_id: f"{node['schema']}.{node['alias']}"
        for node_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "table"
    }


def _downstream(manifest: dict, start: str) -> set[str]:
    found, todo = set(), [start]
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _rebuilt(builds: Builds, run: str) -> set[str]:
    """The tables a dbt run built (a kept table's result says so)."""
    tables = _table_models(builds.manifest)
    return {
        tables[result["unique_id"]]
        for result in builds.results[run]["results"]
        if result["unique_id"] in tables and result["message"] != "kept"
    }


def test_a_run_with_nothing_new_rebuilds_no_table(builds: Builds) -> None:
    results = builds.results["again"]["results"]
    tables = _table_models(builds.manifest)
    assert len(tables) > 30
    assert set(tables) <= {r["unique_id"] for r in results}
    assert all(r["status"] == "success" for r in results)
    assert _rebuilt(builds, "again") == set()


def test_a_redelivered_source_rebuilds_exactly_the_tables_downstream_of_it(builds: Builds) -> None:
    tables = _table_models(builds.manifest)
    downstream = _downstream(builds.manifest, "source.mmr.gemeente.contracten")
    expected = {table for node_id, table in tables.items() if node_id in downstream}
    assert {"marts_core.fct_contract", "marts_core.dim_provider"} <= expected
    assert _rebuilt(builds, "redelivered") == expected
    assert "marts_core.fct_care_episode" not in expected
    assert builds.contracts == (builds.contracts[0], builds.contracts[0] - 1)


def test_kept_and_rebuilt_tables_equal_a_full_build(builds: Builds) -> None:
    """Every table model, kept or rebuilt after the re-delivery, holds what a build from scratch of
    the same deliveries holds (to the last bits a parallel sum of doubles leaves, `mmr digest`)."""
    assert builds.digests["redelivered"] == builds.digests["full"]


def test_a_changed_setting_rebuilds_the_models_it_enters(builds: Builds) -> None:
    """The suppression threshold enters the SQL of the serving models and of the disclosure cells:
    they are built again, the other marts kept."""
    rebuilt = _rebuilt(builds, "threshold")
    assert {"serving.wijk_kerncijfers", "serving.aanbieder_resultaat", "marts_disclosure.disclosure_cells"} <= rebuilt
    assert not {table for table in rebuilt if table.startswith(("marts_core.", "marts_outcome."))}


def test_a_python_asset_keeps_its_table_until_a_raw_table_it_reads_changes(builds: Builds) -> None:
    """The geometry the demo's run noted is the one the same code makes of the same boundaries;
    one boundary less and it is not."""
    warehouse = warehouse_for(Settings(home=builds.home))

    def geometry() -> asset_versions.Inputs:
        return asset_versions.inputs(
            warehouse, ["dagster_project.geometry"], ["geo.area_geometry"], raw=["raw.cbs_gebieden"]
        )

    assert geometry().unchanged()
    with duckdb.connect(str(builds.build_db)) as con:
        con.execute("delete from raw.cbs_gebieden where rowid = (select min(rowid) from raw.cbs_gebieden)")
    changed = geometry()
    assert not changed.unchanged()
    changed.note()
    assert geometry().unchanged()


def test_a_test_runs_again_only_when_what_it_reads_changed(demo_home: Path, tmp_path: Path) -> None:
    """In a `dbt build`, a test that passed on inputs that did not change since passes without
    reading them again; a new batch of what it reads runs it, as `dbt test` and a full refresh do."""
    build_db = copy_of_demo(demo_home, tmp_path / "home")
    model = "stg_gemeente__contracten"

    def wrong_domain_found(change: str, command: str = "build", *args: str) -> bool:
        with duckdb.connect(str(build_db)) as con:
            con.execute(change)
        result = run_dbt([command, "--select", model, *args], tmp_path / "dbt", build_db=build_db)
        failed = {
            r["unique_id"]
            for r in json.loads((tmp_path / "dbt" / "run_results.json").read_text())["results"]
            if r["status"] != "pass" and r["unique_id"].startswith("test.")
        }
        assert (result.returncode != 0) == bool(failed), result.stdout[-3000:]
        return any(f"accepted_values_{model}_domain" in test for test in failed)

    first_row = "rowid = (select min(rowid) from raw.gemeente_contracten)"
    assert not wrong_domain_found("select 1")
    assert not wrong_domain_found(f"update raw.gemeente_contracten set domein = 'xyz' where {first_row}"), (
        "the batches tested before, changed by hand"
    )
    assert wrong_domain_found("select 1", "test"), "`dbt test` runs every test"
    assert wrong_domain_found("select 1", "build", "--full-refresh"), "so does a full refresh"
    assert not wrong_domain_found("select 1")
    assert wrong_domain_found(
        f"update raw.gemeente_contracten set _batch_id = _batch_id || '-again' where {first_row}"
    ), "a new batch of what it reads"
