"""The outcome star schema on the demo region: dbt tests, area harmonisation and reconciliation.

Reuses the session's demo pipeline run (`demo_home`) and rebuilds the star schema on a copy of its
build database, so the checks do not depend on what other tests do with the warehouse.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.e2e

DBT_DIR = PROJECT_ROOT / "dbt"
STAR = (
    "int_area_harmonised dim_area dim_period dim_domain dim_service dim_provider dim_age_group dim_indicator "
    "fct_area_indicator fct_care_episode fct_client_month fct_benefit_month fct_budget fct_contract fct_intervention "
    "fct_survey_response fct_zvw_cost"
)


def dbt(build_db: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """Run dbt against `build_db`, with its own target and log folders."""
    env = {**os.environ, "MMR_WAREHOUSE": "duckdb", "MMR_BUILD_DB": str(build_db)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "dbt.cli.main",
            *args,
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(tmp / "target"),
            "--log-path",
            str(tmp / "logs"),
        ],
        cwd=DBT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def star(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The star schema and all its tests built on a copy of the demo's build database."""
    tmp = tmp_path_factory.mktemp("star")
    # The file name is the catalog name the staging views refer to.
    build_db = tmp / "build.duckdb"
    shutil.copy(demo_home / "warehouse" / "build.duckdb", build_db)
    result = dbt(build_db, tmp, "build", "--select", *STAR.split(), "test_type:singular")
    assert result.returncode == 0, result.stdout[-5000:]
    truth = json.loads((demo_home / "generator" / "truth.json").read_text())
    return {"db": build_db, "tmp": tmp, "truth": truth, "build_output": result.stdout}


def query(star: dict, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(star["db"]), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_all_star_schema_tests_pass(star):
    output = star["build_output"]
    assert "ERROR=0" in output and "WARN=0" in output
    for model in STAR.split():
        assert f"{model} " in output, model
    for reconciliation in (
        "assert_client_months_match_staging_clients",
        "assert_client_month_cost_matches_raw",
        "assert_care_episode_cost_matches_raw",
        "assert_benefit_month_amount_matches_raw",
        "assert_area_harmonised_weights_sum_to_one",
        "assert_zvw_cost_matches_raw",
    ):
        assert f"PASS {reconciliation}" in output, reconciliation


#: Each reconciliation and a change it must catch: a fact that lost a row or is a cent off the raw
#: layer. Rows of the incremental facts change as a rebuild would change them, with a new built_at:
#: their comparisons look at what was built since they last passed (dbt/tests/generic/matches_raw.sql).
TAMPERED = {
    "assert_client_month_cost_matches_raw": "update marts_core.fct_client_month"
    " set cost = cost + 0.01, built_at = current_timestamp"
    " where rowid = (select min(rowid) from marts_core.fct_client_month where domain = 'wmo')",
    "assert_client_months_match_staging_clients": "update marts_core.fct_client_month"
    " set built_at = current_timestamp where domain = 'participatie';"
    " delete from marts_core.fct_client_month"
    " where rowid = (select min(rowid) from marts_core.fct_client_month where domain = 'participatie')",
    "assert_care_episode_cost_matches_raw": "delete from marts_core.fct_care_episode"
    " where rowid = (select min(rowid) from marts_core.fct_care_episode where domain = 'jeugd')",
    "assert_benefit_month_amount_matches_raw": "update marts_core.fct_benefit_month"
    " set amount = amount - 0.01, built_at = current_timestamp"
    " where rowid = (select min(rowid) from marts_core.fct_benefit_month)",
    "assert_zvw_cost_matches_raw": "update marts_core.fct_zvw_cost set cost = coalesce(cost, 0) + 10000000"
    " where rowid = (select min(rowid) from marts_core.fct_zvw_cost)",
}


def test_reconciliation_tests_catch_a_lost_row_or_cent(star, tmp_path):
    build_db = tmp_path / "build.duckdb"
    shutil.copy(star["db"], build_db)
    with duckdb.connect(str(build_db)) as con:
        for statement in TAMPERED.values():
            con.execute(statement)
    result = dbt(build_db, tmp_path, "test", "--select", *TAMPERED)
    assert result.returncode != 0
    for reconciliation in TAMPERED:
        assert re.search(rf"FAIL \d+ {reconciliation}\b", result.stdout), (reconciliation, result.stdout[-3000:])


def test_client_month_increment_is_idempotent(star):
    before = query(star, "select count(*), sum(cost) from marts_core.fct_client_month")
    result = dbt(star["db"], star["tmp"], "run", "--select", "fct_client_month")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "incremental model marts_core.fct_client_month" in result.stdout
    assert query(star, "select count(*), sum(cost) from marts_core.fct_client_month") == before


HARMONISED_POPULATION = """
    select harmonised.reference_area_code, harmonised.year, sum(kwb.inwoners * harmonised.weight)
    from intermediate.int_area_harmonised as harmonised
    inner join staging_cbs.stg_cbs__kwb as kwb
        on harmonised.area_code = kwb.area_code and harmonised.year = kwb.year
    where harmonised.reference_area_code in (select unnest(?))
    group by all
"""


def harmonised_population(star: dict, codes: list[str]) -> dict[tuple[str, int], float]:
    return {(code, year): value for code, year, value in query(star, HARMONISED_POPULATION, [codes])}


def test_merged_gemeente_series_is_continuous(star):
    merger = star["truth"]["merger"]
    new, old = merger["new"], merger["old"]
    merger_year = int(merger["date"][:4])
    years = star["truth"]["years"]
    links = query(
        star,
        "select area_code, reference_area_code, weight, year from intermediate.int_area_harmonised"
        " where area_code in (select unnest(?))",
        [old],
    )
    assert {(code, ref, weight) for code, ref, weight, _ in links} == {(code, new, 1.0) for code in old}
    assert {year for *_, year in links} == {year for year in years if year < merger_year}

    population = harmonised_population(star, [new])
    assert set(population) == {(new, year) for year in years}
    before, after = population[(new, merger_year - 1)], population[(new, merger_year)]
    assert abs(after - before) / after < 0.03, (before, after)
    # The wijken and buurten of the predecessors map to the codes the merger gave them.
    code_map = merger["code_map"]
    mapped = dict(
        query(
            star,
            "select area_code, reference_area_code from intermediate.int_area_harmonised"
            " where year = ? and area_code in (select unnest(?))",
            [merger_year - 1, list(code_map)],
        )
    )
    assert mapped == code_map


def test_recoded_wijk_series_continues_in_its_successors(star):
    recode = star["truth"]["recode"]
    old, new = recode["old_wijk"], recode["new_wijken"]
    recode_year = recode["year"]
    shares = query(
        star,
        "select year, reference_area_code, weight from intermediate.int_area_harmonised where area_code = ?",
        [old],
    )
    assert {ref for _, ref, _ in shares} == set(new)
    for year in {year for year, _, _ in shares}:
        assert year < recode_year
        assert sum(weight for y, _, weight in shares if y == year) == pytest.approx(1.0)
        assert all(0 < weight < 1 for y, _, weight in shares if y == year)

    population = harmonised_population(star, new)
    for code in new:
        before, after = population[(code, recode_year - 1)], population[(code, recode_year)]
        assert abs(after - before) / after < 0.05, (code, before, after)
    # The old wijk's own population is fully carried over to its successors.
    (old_population,) = query(
        star, "select inwoners from staging_cbs.stg_cbs__kwb where area_code = ? and year = ?", [old, recode_year - 1]
    )[0]
    carried = sum(population[(code, recode_year - 1)] for code in new)
    assert carried == pytest.approx(old_population)
    # dim_area points the old wijk at the successor holding most of it.
    (main,) = query(
        star,
        "select reference_area_code from marts_core.dim_area where area_code = ? and year = ?",
        [old, recode_year - 1],
    )[0]
    assert main in new


def test_cost_and_client_months_reconcile_with_raw(star):
    raw_cost = dict(
        query(
            star,
            "select 'jeugd', sum(bedrag) from raw.gemeente_jeugd union all"
            " select 'wmo', sum(bedrag) from raw.gemeente_wmo union all"
            " select 'participatie', sum(bedrag_uitkering) from raw.gemeente_participatie",
        )
    )
    built_cost = dict(query(star, "select domain, sum(cost) from marts_core.fct_client_month group by domain"))
    assert set(built_cost) == set(raw_cost)
    for domain, cost in raw_cost.items():
        assert float(built_cost[domain]) == pytest.approx(cost, abs=0.01), domain
    episode_cost = dict(query(star, "select domain, sum(total_cost) from marts_core.fct_care_episode group by domain"))
    for domain in ("jeugd", "wmo"):
        assert float(episode_cost[domain]) == pytest.approx(raw_cost[domain], abs=0.01), domain
    (benefit_amount,) = query(star, "select sum(amount) from marts_core.fct_benefit_month")[0]
    assert float(benefit_amount) == pytest.approx(raw_cost["participatie"], abs=0.01)

    raw_client_months = query(
        star,
        "select sum(n) from ("
        " select count(distinct bsn_pseudoniem) as n from raw.gemeente_jeugd group by gemeentecode, periode"
        " union all select count(distinct bsn_pseudoniem) from raw.gemeente_wmo group by gemeentecode, periode"
        " union all select count(distinct bsn_pseudoniem) from raw.gemeente_participatie"
        " group by gemeentecode, periode)",
    )
    assert query(star, "select count(*) from marts_core.fct_client_month") == raw_client_months


def test_a_benefit_joins_the_client_months_of_its_client(star):
    """Both facts key a person by the same integer: every benefit-month finds its client-month,
    with the client's household."""
    (benefit_months, matched) = query(
        star,
        "select count(*), count(client_months.client_key) from marts_core.fct_benefit_month as benefits "
        "left join marts_core.fct_client_month as client_months "
        "on client_months.domain = 'participatie' and client_months.client_key = benefits.client_key "
        "and client_months.gemeente_code = benefits.gemeente_code and client_months.month = benefits.month "
        "and client_months.household_key = benefits.household_key",
    )[0]
    assert benefit_months > 1000
    assert matched == benefit_months
