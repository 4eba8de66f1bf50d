"""A new month builds incrementally (issue 6): `fct_client_month` and `fct_benefit_month` replace
only the partitions (domain, gemeente, month) that were delivered since the last build, and
`sociaal_domein_3d` and `fct_clients_area_year` only the years they fall in; every other row stays
as it was.

On a copy of the demo warehouse, one gemeente's last month is held back (its rows and batches
removed from the raw layer) and dbt builds; then that month is delivered through the real
ingestion, together with a corrected re-delivery of an older month of another gemeente (one row
less), and dbt builds again.
"""

import itertools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dagster_project import ingest
from dagster_project.lib.postgres import run_dbt
from dagster_project.settings import Settings
from dagster_project.sources import gemeente_jeugd, gemeente_participatie, gemeente_wmo

pytestmark = pytest.mark.e2e

SPECS = {
    "jeugd": gemeente_jeugd.SPEC,
    "wmo": gemeente_wmo.SPEC,
    "participatie": gemeente_participatie.SPEC,
}
SELECT = [
    "--select",
    "+fct_client_month",
    "+fct_benefit_month",
    "+sociaal_domein_3d",
    "+fct_clients_area_year",
    "--indirect-selection",
    "cautious",
]
INCREMENTAL_TABLES = {
    "marts_core.fct_client_month": "built_at",
    "marts_core.fct_benefit_month": "built_at",
    "marts_outcome.sociaal_domein_3d": "input_built_at",
    "marts_core.fct_clients_area_year": "input_built_at",
}
BUILT = {
    "benefit_months": "select gemeente_code, strftime(month, '%Y-%m'), max(built_at) "
    "from marts_core.fct_benefit_month group by all",
    "years": "select year, max(input_built_at) from marts_outcome.sociaal_domein_3d group by all",
    "area_years": "select year, max(input_built_at) from marts_core.fct_clients_area_year group by all",
}

PARTITIONS = """
select
    domain,
    gemeente_code,
    strftime(month, '%Y-%m') as month,
    count(*) as n,
    sum(cost) as cost,
    min(built_at) as built_at,
    max(built_at) as built_at_max,
    md5(string_agg(
        concat_ws('|', client_key, household_key, wijk_code, reference_wijk_code, age, n_cases, cost, batch_id),
        ',' order by client_key
    )) as checksum
from marts_core.fct_client_month
group by all
"""


@dataclass
class Incremental:
    home: Path
    new_month: tuple[str, str]
    corrected: tuple[str, str, str]
    before: dict[tuple[str, str, str], tuple]
    after: dict[tuple[str, str, str], tuple]
    run_results: dict
    full_run_results: dict
    demo_build: Path
    compiled: str
    selected: dict[tuple[str, str, str], int]
    reselected: dict[tuple[str, str, str], int]
    built_before: dict[str, dict[tuple, object]]
    built_after: dict[str, dict[tuple, object]]

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.home / "warehouse" / "build.duckdb"), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


def _partitions(build_db: Path) -> dict[tuple[str, str, str], tuple]:
    with duckdb.connect(str(build_db), read_only=True) as con:
        return {row[:3]: row[3:] for row in con.execute(PARTITIONS).fetchall()}


def _built(build_db: Path) -> dict[str, dict[tuple, object]]:
    """When each benefit partition and each year of `sociaal_domein_3d` and `fct_clients_area_year` was built."""
    with duckdb.connect(str(build_db), read_only=True) as con:
        return {name: {row[:-1]: row[-1] for row in con.execute(sql).fetchall()} for name, sql in BUILT.items()}


def dbt_results(args: list[str], target: Path, build_db: Path) -> dict:
    result = run_dbt(args, target, build_db=build_db)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return json.loads((target / "run_results.json").read_text())


def _compiled_model(target: Path, build_db: Path) -> str:
    """The SELECT an incremental run of fct_client_month executes (the model's incremental branch)."""
    dbt_results(["compile", "--select", "fct_client_month"], target, build_db)
    return next(target.glob("compiled/mmr/models/marts/core/fct_client_month.sql")).read_text()


def _selected(build_db: Path, compiled: str) -> dict[tuple[str, str, str], int]:
    """Rows the incremental SELECT yields right now, per partition."""
    with duckdb.connect(str(build_db), read_only=True) as con:
        rows = con.execute(
            f"select domain, gemeente_code, strftime(month, '%Y-%m'), count(*) from ({compiled}) group by all"
        ).fetchall()
    return {row[:3]: row[3] for row in rows}


def copy_of_demo(demo_home: Path, home: Path) -> Path:
    """The demo's build warehouse and keys in `home`; returns the warehouse."""
    build_db = home / "warehouse" / "build.duckdb"
    build_db.parent.mkdir(parents=True)
    shutil.copy(demo_home / "warehouse" / "build.duckdb", build_db)
    shutil.copytree(demo_home / "secrets", home / "secrets")
    return build_db


def hold_back_month(build_db: Path) -> tuple[tuple[str, str], tuple[str, str]]:
    """Takes one gemeente's last month out of the raw layer (every domain); returns it, and an
    older Wmo month of another gemeente to correct."""
    with duckdb.connect(str(build_db)) as con:
        month, gemeente = con.execute(
            "select max(periode), min(gemeentecode) filter (where periode = (select max(periode) "
            "from raw.gemeente_jeugd)) from raw.gemeente_jeugd"
        ).fetchone()
        other, old_month = con.execute(
            "select gemeentecode, periode from raw.gemeente_wmo where periode < ? and gemeentecode <> ? "
            "and periode like '%-06' order by periode, gemeentecode desc limit 1",
            [month, gemeente],
        ).fetchone()
        period = f"{gemeente}:{month}"
        for domain in SPECS:
            con.execute(f"delete from raw.gemeente_{domain} where _period = ?", [period])
        con.execute("delete from raw.ingestion_log where period = ?", [period])
    return (gemeente, month), (other, old_month)


def land_month(demo_home: Path, home: Path, gemeente: str, month: str) -> None:
    """The held-back month's files of every domain, as the demo delivered them, in `home`'s landing."""
    for domain, spec in SPECS.items():
        name = f"{domain}_{gemeente}_{month}.csv"
        landed = home / "landing" / spec.source / name
        landed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(demo_home / "landing" / spec.source / name, landed)


def land_one_row_less(demo_home: Path, home: Path, source: str, name: str) -> None:
    """A file of the demo delivered again without its first row, in `home`'s landing."""
    lines = (demo_home / "landing" / source / name).read_text(encoding="utf-8").splitlines(keepends=True)
    landed = home / "landing" / source / name
    landed.parent.mkdir(parents=True, exist_ok=True)
    landed.write_text("".join([lines[0], *lines[2:]]), encoding="utf-8")


def land_correction(demo_home: Path, home: Path, gemeente: str, month: str) -> None:
    """A gemeente's Wmo month delivered again with one row less."""
    land_one_row_less(demo_home, home, "gemeente_wmo", f"wmo_{gemeente}_{month}.csv")


@pytest.fixture(scope="module")
def incremental(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Incremental:
    home = tmp_path_factory.mktemp("incremental_home")
    build_db = copy_of_demo(demo_home, home)
    settings = Settings(home=home)

    (gemeente, month), (other, old_month) = hold_back_month(build_db)
    before_run = dbt_results(["build", "--full-refresh", *SELECT], home / "dbt_full", build_db)
    before = _partitions(build_db)
    built_before = _built(build_db)

    land_month(demo_home, home, gemeente, month)
    land_correction(demo_home, home, other, old_month)
    for spec in SPECS.values():
        ingest.ingest_source([spec], settings)

    compiled = _compiled_model(home / "dbt_compile", build_db)
    selected = _selected(build_db, compiled)
    run_results = dbt_results(["build", *SELECT], home / "dbt_incremental", build_db)
    after = _partitions(build_db)
    reselected = _selected(build_db, compiled)
    built_after = _built(build_db)
    return Incremental(
        home,
        (gemeente, month),
        ("wmo", other, old_month),
        before,
        after,
        run_results,
        before_run,
        demo_home / "warehouse" / "build.duckdb",
        compiled,
        selected,
        reselected,
        built_before,
        built_after,
    )


def _changed(inc: Incremental) -> set[tuple[str, str, str]]:
    gemeente, month = inc.new_month
    return {(domain, gemeente, month) for domain in SPECS} | {inc.corrected}


def test_only_delivered_partitions_are_rebuilt(incremental: Incremental) -> None:
    inc = incremental
    changed = _changed(inc)
    assert changed <= set(inc.after)
    assert not (changed - {inc.corrected}) & set(inc.before), "the held-back month was built before it landed"
    untouched = set(inc.before) - changed
    assert len(untouched) > 500
    assert set(inc.after) - changed == untouched, "a partition appeared or vanished"
    for partition in untouched:
        assert inc.after[partition] == inc.before[partition], f"{partition} was rebuilt"
    last_build = max(values[3] for values in inc.before.values())
    for partition in changed:
        assert inc.after[partition][2] > last_build, f"{partition} was not rebuilt"


def test_incremental_run_selects_only_the_delivered_partitions(incremental: Incremental) -> None:
    """The model's incremental SELECT, run before the build, yields exactly the rows of the new and
    the re-delivered partitions; run after it, nothing (a build without new deliveries is a no-op)."""
    inc = incremental
    assert "built_batches" in inc.compiled, "the incremental branch was not compiled"
    assert set(inc.selected) == _changed(inc)
    for partition, rows in inc.selected.items():
        assert rows == inc.after[partition][0], partition
    total = sum(values[0] for values in inc.after.values())
    assert sum(inc.selected.values()) < total / 20
    assert inc.reselected == {}
    result = next(r for r in inc.run_results["results"] if r["unique_id"] == "model.mmr.fct_client_month")
    assert result["status"] == "success"
    assert all(r["status"] in ("success", "pass") for r in inc.run_results["results"])


def test_incremental_result_equals_a_full_build(incremental: Incremental) -> None:
    """Apart from the corrected month, the table equals the demo's full build of the same deliveries."""
    inc = incremental
    full = _partitions(inc.demo_build)
    assert set(inc.after) == set(full)
    for partition, values in inc.after.items():
        if partition != inc.corrected:
            assert (values[0], values[1], values[4]) == (full[partition][0], full[partition][1], full[partition][4])


def test_corrected_month_supersedes_the_old_one(incremental: Incremental) -> None:
    """A re-delivered older month of another gemeente replaces its partition whole: the dropped
    row's client-month is gone when the client had no other case that month."""
    inc = incremental
    domain, gemeente, month = inc.corrected
    raw = inc.query(
        "select count(distinct bsn_pseudoniem), sum(cast(bedrag as decimal(18, 2))) "
        "from raw.gemeente_wmo where _period = ?",
        [f"{gemeente}:{month}"],
    )[0]
    after, before = inc.after[inc.corrected], inc.before[inc.corrected]
    assert (after[0], after[1]) == raw
    assert after[4] != before[4]
    assert after[0] <= before[0]


def test_a_table_with_text_keys_is_rebuilt_with_integer_keys(incremental: Incremental, tmp_path: Path) -> None:
    """An installation upgraded from text keys and a cost of a sum's own decimal: the first run
    retypes both facts and rebuilds every partition, with the same rows, cost and keys."""
    build_db = tmp_path / "build.duckdb"
    shutil.copy(incremental.home / "warehouse" / "build.duckdb", build_db)
    benefits = "select count(*), sum(amount), sum(client_key), sum(household_key) from marts_core.fct_benefit_month"
    with duckdb.connect(str(build_db)) as con:
        benefits_before = con.execute(benefits).fetchone()
        for table, key in itertools.product(("fct_client_month", "fct_benefit_month"), ("client_key", "household_key")):
            con.execute(f"alter table marts_core.{table} alter column {key} type varchar")
        con.execute("alter table marts_core.fct_client_month alter column cost type decimal(38, 2)")
    upgraded = dbt_results(["build", "--select", "fct_client_month", "fct_benefit_month"], tmp_path / "dbt", build_db)
    assert all(r["status"] in ("success", "pass") for r in upgraded["results"])
    with duckdb.connect(str(build_db), read_only=True) as con:
        types = {
            (table, column): kind
            for table, column, kind in con.execute(
                "select table_name, column_name, data_type from information_schema.columns where table_name in "
                "('fct_client_month', 'fct_benefit_month') and column_name in ('client_key', 'household_key', 'cost')"
            ).fetchall()
        }
        benefits_after = con.execute(benefits).fetchone()
        benefit_built = con.execute("select min(built_at) from marts_core.fct_benefit_month").fetchone()[0]
    assert types == {
        ("fct_client_month", "client_key"): "BIGINT",
        ("fct_client_month", "household_key"): "BIGINT",
        ("fct_client_month", "cost"): "DECIMAL(18,2)",
        ("fct_benefit_month", "client_key"): "BIGINT",
        ("fct_benefit_month", "household_key"): "BIGINT",
    }
    assert benefits_after == benefits_before
    rebuilt = _partitions(build_db)
    assert set(rebuilt) == set(incremental.after)
    last_build = max(values[3] for values in incremental.after.values())
    for partition, values in rebuilt.items():
        assert values[2] > last_build, f"{partition} kept its text keys"
        assert (values[0], values[1], values[4]) == (
            incremental.after[partition][0],
            incremental.after[partition][1],
            incremental.after[partition][4],
        ), partition
    assert benefit_built > max(incremental.built_after["benefit_months"].values()), "benefits kept their text keys"


def test_benefit_months_and_household_years_rebuild_only_what_changed(incremental: Incremental) -> None:
    """`fct_benefit_month` rebuilds only the new participatie partition; `sociaal_domein_3d` and
    `fct_clients_area_year` only the years of the new and the corrected month."""
    inc = incremental
    gemeente, month = inc.new_month
    benefits_before, benefits_after = inc.built_before["benefit_months"], inc.built_after["benefit_months"]
    assert (gemeente, month) not in benefits_before
    assert set(benefits_after) == set(benefits_before) | {(gemeente, month)}
    assert {k for k in benefits_before if benefits_after[k] != benefits_before[k]} == set()
    changed_years = {int(month[:4]), int(inc.corrected[2][:4])}
    for by_year in ("years", "area_years"):
        years_before, years_after = inc.built_before[by_year], inc.built_after[by_year]
        assert set(years_after) == set(years_before) and len(years_after) > len(changed_years)
        rebuilt = {year for (year,) in years_after if years_after[(year,)] != years_before[(year,)]}
        assert rebuilt == changed_years, by_year


def test_incremental_tables_equal_a_full_build_of_the_same_deliveries(incremental: Incremental, tmp_path: Path) -> None:
    """Every incrementally built table, row for row, equals a full build of the same raw layer."""
    build_db = tmp_path / "build.duckdb"
    shutil.copy(incremental.home / "warehouse" / "build.duckdb", build_db)
    dbt_results(["build", "--full-refresh", *SELECT], tmp_path / "dbt", build_db)
    with duckdb.connect(str(build_db), read_only=True) as con:
        con.execute(f"attach '{incremental.home / 'warehouse' / 'build.duckdb'}' as incremental (read_only)")
        for table, built_at in INCREMENTAL_TABLES.items():
            columns = [
                name for name, *_ in con.execute(f"describe {table}").fetchall() if name not in ("built_at", built_at)
            ]
            listed = ", ".join(columns)
            rows = con.execute(f"select count(*) from {table}").fetchone()[0]
            assert rows > 0, table
            for left, right in ((table, f"incremental.{table}"), (f"incremental.{table}", table)):
                (differ,) = con.execute(
                    f"select count(*) from (select {listed} from {left} except all select {listed} from {right})"
                ).fetchone()
                assert differ == 0, f"{table}: {differ} rows of {left} not in {right}"


def _tested_through(build_db: Path) -> dict[str, object]:
    with duckdb.connect(str(build_db), read_only=True) as con:
        return dict(con.execute("select model_name, tested_through from main.dbt_tested_through").fetchall())


def _tested_copy(incremental: Incremental, tmp_path: Path) -> Path:
    """A copy of the incremental home's warehouse whose incremental facts' tests all passed."""
    build_db = tmp_path / "build.duckdb"
    shutil.copy(incremental.home / "warehouse" / "build.duckdb", build_db)
    dbt_results(["test", "--select", "fct_client_month", "fct_benefit_month"], tmp_path / "dbt", build_db)
    return build_db


def _failing_tests(build_db: Path, target: Path, model: str, change: str, parameters: list | None = None) -> str:
    """The tests of `model` that fail after `change` to the warehouse, comma-separated."""
    with duckdb.connect(str(build_db)) as con:
        con.execute(change, parameters or [])
    result = run_dbt(["test", "--select", model], target, build_db=build_db)
    statuses = json.loads((target / "run_results.json").read_text())["results"]
    failed = [r["unique_id"] for r in statuses if r["unique_id"].startswith("test.") and r["status"] != "pass"]
    assert (result.returncode == 0) == (not failed), result.stdout[-3000:]
    return ",".join(failed)


NOW = "cast(current_timestamp as timestamp)"


def test_row_tests_look_only_at_rows_built_since_they_last_passed(incremental: Incremental, tmp_path: Path) -> None:
    """After a build whose tests passed, the row tests of the incremental facts skip the rows they
    passed on; a row built since is tested, and until a run passes it is tested again. A key of a
    row built since is counted over the whole table. A null in a row built since fails the model's
    one not-null test, which names the column and counts the nulls."""
    build_db = _tested_copy(incremental, tmp_path)
    tested = _tested_through(build_db)
    with duckdb.connect(str(build_db), read_only=True) as con:
        for model in ("fct_client_month", "fct_benefit_month"):
            assert tested[model] == con.execute(f"select max(built_at) from marts_core.{model}").fetchone()[0], model

    def age(value: int, built_at: str) -> str:
        return _failing_tests(
            build_db,
            tmp_path / "dbt",
            "fct_client_month",
            f"update marts_core.fct_client_month set age = ?, built_at = {built_at} "
            "where client_key = (select min(client_key) from marts_core.fct_client_month)",
            [value],
        )

    assert age(999, "built_at") == "", "a row tested before is not tested again"
    assert _tested_through(build_db) == tested
    assert "between" in age(999, NOW), "a row built since the last pass is tested"
    assert _tested_through(build_db) == tested, "a failed test notes nothing"
    assert "between" in age(999, "built_at"), "and stays tested until a run passes"
    assert age(40, "built_at") == ""
    after = _tested_through(build_db)
    assert after["fct_client_month"] > tested["fct_client_month"]
    assert after["fct_benefit_month"] == tested["fct_benefit_month"], "its tests did not run"

    duplicate = _failing_tests(
        build_db,
        tmp_path / "dbt",
        "fct_benefit_month",
        f"insert into marts_core.fct_benefit_month select * replace ({NOW} as built_at) "
        "from marts_core.fct_benefit_month limit 1",
    )
    assert "unique_combination_fct_benefit_month" in duplicate, "a new row repeating a tested key"

    first_client = "client_key = (select min(client_key) from marts_core.fct_client_month)"
    nulls = _failing_tests(
        build_db,
        tmp_path / "dbt",
        "fct_client_month",
        f"update marts_core.fct_client_month set household_key = null, built_at = {NOW} where {first_client}",
    )
    assert "," not in nulls and "not_null_columns_fct_client_month" in nulls, "one test of the model's not-null columns"
    results = json.loads((tmp_path / "dbt" / "run_results.json").read_text())["results"]
    failed = next(r for r in results if r["status"] == "fail")
    with duckdb.connect(str(build_db), read_only=True) as con:
        emptied = con.execute(f"select count(*) from marts_core.fct_client_month where {first_client}").fetchone()[0]
        assert con.execute(failed["compiled_code"]).fetchall() == [("household_key", emptied)], "the column is named"
    assert failed["failures"] == emptied, "a failure counts the null values"


def test_reconciliations_compare_the_groups_built_since_in_full_and_every_group_by_presence(
    incremental: Incremental, tmp_path: Path
) -> None:
    """The comparisons of an incremental fact with its deliveries compare the measures of the
    groups built since they last passed, and of every other group only that it is on both sides:
    a partition lost from the fact is found however old it is."""
    build_db = _tested_copy(incremental, tmp_path)
    one_partition = (
        "(domain, gemeente_code, month) = (select (domain, gemeente_code, month) "
        "from marts_core.fct_client_month order by all limit 1)"
    )

    def change(statement: str) -> str:
        return _failing_tests(build_db, tmp_path / "dbt", "fct_client_month", statement)

    assert change(f"update marts_core.fct_client_month set cost = cost + 100 where {one_partition}") == "", (
        "the cost of a group tested before is not compared again"
    )
    new_cost = change(
        f"update marts_core.fct_client_month set cost = cost + 100, built_at = {NOW} where {one_partition}"
    )
    assert "assert_client_month_cost_matches_raw" in new_cost, "a group built since is compared in full"
    assert "assert_client_months_match_staging_clients" not in new_cost, "the same clients"
    with duckdb.connect(str(build_db)) as con:
        con.execute(f"update marts_core.fct_client_month set cost = cost - 100 where {one_partition}")
    lost = change(f"delete from marts_core.fct_client_month where {one_partition}")
    assert "assert_client_months_match_staging_clients" in lost, "a delivered partition no longer built"


def _tested_batches(build_db: Path) -> dict[str, bool]:
    with duckdb.connect(str(build_db), read_only=True) as con:
        return dict(
            con.execute(
                "select batch_id, passed from main.dbt_tested_batches where model_name = 'stg_gemeente__wmo'"
            ).fetchall()
        )


def test_staging_tests_look_only_at_batches_delivered_since_they_last_passed(
    incremental: Incremental, tmp_path: Path
) -> None:
    """The row tests of a staging view of monthly deliveries skip the batches they passed on; a
    batch delivered since is tested until a run passes it, its keys are counted over the whole
    view, a batch no longer delivered is forgotten, and a change of what the tests depend on
    tests every batch again."""
    build_db = tmp_path / "build.duckdb"
    shutil.copy(incremental.home / "warehouse" / "build.duckdb", build_db)
    dbt_results(["test", "--select", "stg_gemeente__wmo"], tmp_path / "dbt", build_db)
    tested = _tested_batches(build_db)
    with duckdb.connect(str(build_db), read_only=True) as con:
        delivered = {batch for (batch,) in con.execute("select distinct _batch_id from raw.gemeente_wmo").fetchall()}
    assert set(tested) == delivered and all(tested.values())

    def change(statement: str) -> str:
        return _failing_tests(build_db, tmp_path / "dbt", "stg_gemeente__wmo", statement)

    first_row = "rowid = (select min(rowid) from raw.gemeente_wmo)"
    assert change(f"update raw.gemeente_wmo set leveringsvorm = 'XYZ' where {first_row}") == "", (
        "a batch tested before is not tested again"
    )
    new_batch = (
        "insert into raw.gemeente_wmo select * replace ('wmo_new-000000000000' as _batch_id, "
        "voorzieningnummer || '-new' as voorzieningnummer, {leveringsvorm} as leveringsvorm) "
        "from raw.gemeente_wmo where rowid = (select max(rowid) from raw.gemeente_wmo)"
    )
    failed = change(new_batch.format(leveringsvorm="'XYZ'"))
    assert "accepted_values_stg_gemeente__wmo_leveringsvorm" in failed, "a batch delivered since is tested"
    assert _tested_batches(build_db)["wmo_new-000000000000"] is False
    assert "accepted_values" in change("select 1"), "and stays tested until a run passes it"
    assert change("update raw.gemeente_wmo set leveringsvorm = 'PGB' where _batch_id = 'wmo_new-000000000000'") == ""
    assert _tested_batches(build_db)["wmo_new-000000000000"] is True

    repeated = change(
        "insert into raw.gemeente_wmo select * replace ('wmo_repeat-000000000000' as _batch_id) "
        "from raw.gemeente_wmo where _batch_id <> 'wmo_new-000000000000' and rowid > (select min(rowid) "
        "from raw.gemeente_wmo) limit 1"
    )
    assert "unique_combination_stg_gemeente__wmo" in repeated, "a new batch repeating a tested key"
    assert change("delete from raw.gemeente_wmo where _batch_id like 'wmo_%-000000000000'") == ""
    assert "wmo_repeat-000000000000" not in _tested_batches(build_db), "a batch no longer delivered"

    assert "accepted_values" in change("update main.dbt_tested_batches set tests_version = 'before'"), (
        "tests whose version changed look at every batch again"
    )
