"""Audit layer: GX suites on DuckDB give correct results (pass when clean, fail on the named rule)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pytest

from expectations import suites
from expectations.gx_duckdb import close_all_engines
from expectations.runner import AuditResult, TableSpec, validate_many, validate_table
from expectations.suites import helpers as h

DIM_SCHEMA = suites.SCHEMAS["dim_area"]  # dbt schema of marts/core (marts_core)
DIM_AREA = f"{DIM_SCHEMA}.dim_area"
assert DIM_AREA == h.DIM_AREA

CLEAN_SQL = f"""
create schema {DIM_SCHEMA};
create schema serving;
create table {DIM_AREA} as
select t.*, y.year from (values
    ('GM0363', 'Amsterdam', 'gemeente', 'GM0363', 'Amsterdam', null),
    ('WK036300', 'Burgwallen-Oude Zijde', 'wijk', 'GM0363', 'Amsterdam', 'WK036300'),
    ('WK036301', 'Burgwallen-Nieuwe Zijde', 'wijk', 'GM0363', 'Amsterdam', 'WK036301'),
    ('BU03630000', 'Kop Zeedijk', 'buurt', 'GM0363', 'Amsterdam', 'WK036300'),
    ('GM0599', 'Rotterdam', 'gemeente', 'GM0599', 'Rotterdam', null),
    ('WK059901', 'Stadsdriehoek', 'wijk', 'GM0599', 'Rotterdam', 'WK059901'),
    ('BU05990110', 'Stadsdriehoek', 'buurt', 'GM0599', 'Rotterdam', 'WK059901')
) as t(area_code, area_name, area_level, gemeente_code, gemeente_name, wijk_code)
cross join (values (2023), (2024)) as y(year)
order by y.year;
create table serving.wijk_kerncijfers as
select
    year::integer as year, gemeente_code, gemeente_name, wijk_code, wijk_name,
    inwoners::bigint as inwoners, huishoudens::bigint as huishoudens,
    gemiddeld_inkomen::double as gemiddeld_inkomen,
    pct_huishoudens_laag_inkomen::double as pct_huishoudens_laag_inkomen
from (values
    (2023, 'GM0363', 'Amsterdam', 'WK036300', 'Burgwallen-Oude Zijde', 4330, 2875, 38.2, 14.1),
    (2023, 'GM0363', 'Amsterdam', 'WK036301', 'Burgwallen-Nieuwe Zijde', 4100, 2700, 41.0, 12.0),
    (2023, 'GM0599', 'Rotterdam', 'WK059901', 'Stadsdriehoek', 15, null, null, null),
    (2024, 'GM0363', 'Amsterdam', 'WK036300', 'Burgwallen-Oude Zijde', 4350, 2880, 39.0, 13.9),
    (2024, 'GM0363', 'Amsterdam', 'WK036301', 'Burgwallen-Nieuwe Zijde', 4120, 2705, 41.8, 11.7),
    (2024, 'GM0599', 'Rotterdam', 'WK059901', 'Stadsdriehoek', null, null, null, null)
) as t(year, gemeente_code, gemeente_name, wijk_code, wijk_name,
       inwoners, huishoudens, gemiddeld_inkomen, pct_huishoudens_laag_inkomen);
create table serving.dim_area as select * from {DIM_AREA};
"""


@pytest.fixture(scope="module")
def clean_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "build.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(CLEAN_SQL)
    return path


@pytest.fixture(scope="module")
def gx_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One GX file context for the whole module (as in var/gx), Data Docs beside it."""
    root = tmp_path_factory.mktemp("var") / "gx"
    return {"context_root": root, "data_docs_index": root / "data_docs" / "index.html"}


@pytest.fixture
def make_db(clean_template: Path, tmp_path: Path) -> Callable[..., Path]:
    """Copy of the clean build database with the given SQL statements applied."""

    def _make(*statements: str) -> Path:
        path = tmp_path / "build.duckdb"
        shutil.copy(clean_template, path)
        with duckdb.connect(str(path)) as con:
            for statement in statements:
                con.execute(statement)
        return path

    return _make


def _raised_in_stored_results(context_root: Path, run_name: str) -> list[str]:
    """Every exception GX recorded in this run's stored validation results (independent check)."""
    found: list[str] = []
    for path in (context_root / "gx" / "uncommitted" / "validations").rglob("*.json"):
        if run_name not in path.as_posix():
            continue
        data = json.loads(path.read_text())
        for result in data["results"]:
            info = result.get("exception_info") or {}
            entries = [info] if "raised_exception" in info else list(info.values())
            for entry in entries:
                if isinstance(entry, dict) and entry.get("raised_exception"):
                    found.append(f"{result['expectation_config']['type']}: {entry['exception_message']}")
    return found


def _assert_evaluated_cleanly(result: AuditResult, context_root: Path) -> None:
    assert result.errored == [], result.errored
    assert not any("exception" in f for f in result.failures)
    assert _raised_in_stored_results(context_root, result.run_name) == []
    stats = result.statistics
    assert stats["evaluated_expectations"] == len(suites.SUITES[result.suite_name]().expectations)


def _failure(result: AuditResult, expectation_type: str, column: str | list[str], rule: str | None = None):
    matches = [
        f
        for f in result.failures
        if f["expectation_type"] == expectation_type and f["column"] == column and (rule is None or f["rule"] == rule)
    ]
    assert matches, f"no failure {expectation_type}/{column}/{rule} in {result.failures}"
    return matches[0]


def _audit(db: Path, gx_paths: dict[str, Path], table: str = "wijk_kerncijfers") -> AuditResult:
    return validate_table(db, suites.SCHEMAS[table], table, **gx_paths)


# --- clean data --------------------------------------------------------------------------------


def test_clean_tables_pass_and_build_data_docs(make_db, gx_paths) -> None:
    db = make_db()
    # Two tables in one schema and one suite used twice: all share one run.
    results = validate_many(
        db,
        [TableSpec(DIM_SCHEMA, "dim_area"), ("serving", "wijk_kerncijfers"), ("serving", "dim_area", "dim_area")],
        **gx_paths,
    )
    assert [r.table for r in results] == [DIM_AREA, "serving.wijk_kerncijfers", "serving.dim_area"]
    assert len({r.run_name for r in results}) == 1
    for result in results:
        _assert_evaluated_cleanly(result, gx_paths["context_root"])
        assert result.success, result.failures
        assert result.failures == []
        assert result.severity_failed == {"error": 0, "warning": 0}
        assert result.statistics["unsuccessful_expectations"] == 0
        assert result.data_docs_path == gx_paths["data_docs_index"].resolve()
        assert result.validation_page is not None and result.validation_page.exists()

    index = gx_paths["data_docs_index"]
    assert index.exists()
    html = index.read_text()
    assert "dim_area" in html and "wijk_kerncijfers" in html
    assert (index.parent / "static").is_dir()  # the whole site was copied: relative links work

    # The audit left no connection behind: a writer can open the file at once.
    with duckdb.connect(str(db)) as con:
        con.execute("create table serving.after_audit as select 1 as x")


def test_data_docs_keep_the_latest_audits_of_each_suite(make_db, tmp_path, monkeypatch) -> None:
    """The index of Data Docs is built from every stored validation: the history is bounded."""
    from expectations import runner

    monkeypatch.setattr(runner, "KEEP_RUNS", 2)
    db = make_db()
    paths = {"context_root": tmp_path / "gx", "data_docs_index": tmp_path / "docs" / "index.html"}
    runs = [_audit(db, paths).run_name for _ in range(4)]
    stored = paths["context_root"] / "gx" / "uncommitted" / "validations" / "wijk_kerncijfers"
    assert sorted(p.name for p in stored.iterdir()) == sorted(runs[2:])
    index = paths["data_docs_index"].read_text()
    assert all(run in index for run in runs[2:]) and not any(run in index for run in runs[:2])
    assert sorted(
        p.name for p in (paths["data_docs_index"].parent / "validations" / "wijk_kerncijfers").iterdir()
    ) == sorted(runs[2:])


# --- wijk_kerncijfers failures -----------------------------------------------------------------


def test_duplicate_key_fails(make_db, gx_paths) -> None:
    db = make_db("insert into serving.wijk_kerncijfers select * from serving.wijk_kerncijfers limit 1")
    result = _audit(db, gx_paths)
    _assert_evaluated_cleanly(result, gx_paths["context_root"])
    assert not result.success
    failure = _failure(result, "expect_compound_columns_to_be_unique", ["wijk_code", "year"])
    assert failure["severity"] == "error"
    assert failure["unexpected_count"] == 2


def test_negative_income_fails(make_db, gx_paths) -> None:
    db = make_db(
        "update serving.wijk_kerncijfers set gemiddeld_inkomen = -12.5 where wijk_code = 'WK036301' and year = 2024"
    )
    result = _audit(db, gx_paths)
    _assert_evaluated_cleanly(result, gx_paths["context_root"])
    assert not result.success
    failure = _failure(result, "expect_column_values_to_be_between", "gemiddeld_inkomen")
    assert failure["unexpected_count"] == 1
    assert failure["sample_unexpected"] == [-12.5]
    assert result.severity_failed == {"error": 1, "warning": 0}
    json.dumps(result.to_dict())  # goes into Dagster asset check metadata as is


def test_wijk_missing_from_dim_area_fails(make_db, gx_paths) -> None:
    db = make_db(
        "insert into serving.wijk_kerncijfers values"
        " (2024, 'GM0363', 'Amsterdam', 'WK036399', 'Onbekend', 100, 50, 30.0, 10.0)"
    )
    result = _audit(db, gx_paths)
    _assert_evaluated_cleanly(result, gx_paths["context_root"])
    assert not result.success
    failure = _failure(result, "unexpected_rows_expectation", "wijk_code", rule="area_in_dim_area")
    assert failure["unexpected_count"] == 1
    assert [row["wijk_code"] for row in failure["sample_unexpected"]] == ["WK036399"]
    assert result.severity_failed["error"] == 1


def test_published_count_below_threshold_fails_disclosure(make_db, gx_paths) -> None:
    db = make_db("update serving.wijk_kerncijfers set inwoners = 3 where wijk_code = 'WK059901' and year = 2023")
    result = _audit(db, gx_paths)
    _assert_evaluated_cleanly(result, gx_paths["context_root"])
    assert not result.success
    threshold = _failure(result, "expect_column_values_to_be_between", "inwoners", rule="disclosure_threshold")
    assert threshold["sample_unexpected"] == [3]
    rounding = _failure(result, "unexpected_rows_expectation", "inwoners", rule="disclosure_rounding")
    assert rounding["unexpected_count"] == 1


def test_unrounded_count_fails_rounding_only(make_db, gx_paths) -> None:
    db = make_db("update serving.wijk_kerncijfers set huishoudens = 2877 where wijk_code = 'WK036300' and year = 2023")
    result = _audit(db, gx_paths)
    _assert_evaluated_cleanly(result, gx_paths["context_root"])
    assert not result.success
    assert [(f["rule"], f["column"]) for f in result.failures] == [("disclosure_rounding", "huishoudens")]


def test_warning_only_failure_passes_and_is_reported(make_db, gx_paths) -> None:
    db = make_db("update serving.wijk_kerncijfers set wijk_name = null where wijk_code = 'WK036300'")
    result = _audit(db, gx_paths)
    _assert_evaluated_cleanly(result, gx_paths["context_root"])
    assert result.success
    assert result.severity_failed == {"error": 0, "warning": 1}
    failure = _failure(result, "expect_column_values_to_not_be_null", "wijk_name")
    assert failure["severity"] == "warning"
    assert failure["unexpected_count"] == 2
    assert result.warnings == [failure] and result.errors == []


# --- dim_area failures -------------------------------------------------------------------------


def test_dim_area_bad_codes_fail_named_rules(make_db, gx_paths) -> None:
    db = make_db(
        f"insert into {DIM_AREA} values"
        " ('BU03630001', 'Verkeerd', 'wijk', 'GM0363', 'Amsterdam', 'WK036300', 2024),"
        " ('GM363', 'Kort', 'gemeente', 'GM363', 'Kort', null, 2024),"
        " ('WK036302', 'Stadsdeel', 'stadsdeel', 'GM0363', 'Amsterdam', 'WK036302', 2024)"
    )
    result = _audit(db, gx_paths, table="dim_area")
    _assert_evaluated_cleanly(result, gx_paths["context_root"])
    assert not result.success
    assert _failure(result, "expect_column_values_to_be_in_set", "area_level")["sample_unexpected"] == ["stadsdeel"]
    regex_failures = [f for f in result.failures if f["rule"] == "regex" and f["column"] == "area_code"]
    # 'GM363' breaks the overall and the gemeente pattern, 'BU...' as a wijk the wijk pattern.
    assert len(regex_failures) == 3
    assert (
        _failure(result, "unexpected_rows_expectation", "gemeente_code", rule="regex")["sample_unexpected"][0][
            "area_code"
        ]
        == "GM363"
    )


# --- the runner never hides an error -----------------------------------------------------------


def test_expectation_that_errors_blocks_publish(make_db, gx_paths, monkeypatch) -> None:
    def broken() -> gx.ExpectationSuite:
        return h.suite(
            "broken",
            h.unexpected_rows("select * from {batch} where no_such_column > 0", rule="broken", severity=h.WARNING),
            h.row_count_between(min_value=1),
        )

    monkeypatch.setitem(suites.SUITES, "broken", broken)
    result = validate_table(make_db(), "serving", "wijk_kerncijfers", "broken", **gx_paths)
    assert not result.success
    [errored] = result.errored
    assert errored["rule"] == "broken" and errored["severity"] == "error"
    assert "no_such_column" in errored["exception"][0]
    assert _raised_in_stored_results(gx_paths["context_root"], result.run_name)


@pytest.mark.filterwarnings("ignore:You are using a generic SQLDatasource")
def test_generic_sql_datasource_hits_the_duckdb_trap(clean_template, tmp_path) -> None:
    """Why expectations.gx_duckdb exists: GX's generic SQL datasource loses DuckDB results.

    If this starts failing, GX keeps DuckDB connections itself and the workaround can go.
    """
    context = gx.get_context(mode="ephemeral")
    datasource = context.data_sources.add_sql(
        name="plain",
        connection_string=f"duckdb:///{clean_template}",
        kwargs={"connect_args": {"read_only": True}},
    )
    batch = (
        datasource.add_query_asset(name="q", query=f"select * from {DIM_AREA}")
        .add_batch_definition_whole_table("all")
        .get_batch()
    )
    result = batch.validate(gxe.ExpectTableRowCountToBeBetween(min_value=1))
    info = result.exception_info
    messages = [v["exception_message"] for v in info.values() if isinstance(v, dict) and v["raised_exception"]]
    assert not result.success
    assert any("list index out of range" in m for m in messages)
    datasource.get_execution_engine().close()
    datasource.get_engine().dispose()
    close_all_engines()


def audit_with_generic_suite(db: Path, contract, tmp_path: Path) -> AuditResult:
    """`serving.zorg` of `db` audited by the generic serving suite of `contract`, registered for this audit only."""
    from expectations.suites import serving

    suites.register("zorg", "serving", lambda baseline_db=None: serving.build(contract, "zorg", baseline_db))
    try:
        # a GX project of its own: the module's project keeps assets of other databases in `serving`
        own = {"context_root": tmp_path / "gx", "data_docs_index": tmp_path / "docs" / "index.html"}
        return validate_table(db, "serving", "zorg", "zorg", **own)
    finally:
        suites.SUITES.pop("zorg")
        suites.SCHEMAS.pop("zorg")


def test_generic_serving_suite_blocks_small_counts_and_values_on_a_hidden_base(tmp_path) -> None:
    """Serving tables without a suite module are audited from their declared disclosure meta."""
    from expectations.suites import serving

    db = tmp_path / "build.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema serving")
        con.execute(
            "create table serving.zorg as select * from (values"
            " ('GM0001', 'clienten', 25, 1.2), ('GM0001', 'kosten', 7, 3.4),"  # 7 is a cost: not a count row
            " ('GM0002', 'clienten', 7, null), ('GM0003', 'clienten', null, 0.9))"
            " as t(gemeente_code, maat, werkelijk, ratio)"
        )
    contract = serving.ServingContract(
        table="zorg",
        columns=["gemeente_code", "maat", "werkelijk", "ratio"],
        counts={"werkelijk": "maat = 'clienten'"},
        derived={"ratio": ["werkelijk"]},
    )
    result = audit_with_generic_suite(db, contract, tmp_path)
    assert not result.success
    assert sorted((f["rule"], f["column"]) for f in result.errors) == [
        ("disclosure_base", "ratio"),
        ("disclosure_count", "werkelijk"),
    ]


def test_generic_serving_suite_blocks_a_lonely_hidden_cell_and_a_cell_hidden_elsewhere(tmp_path) -> None:
    """The group rule, the row-total rule and the one-decision-per-cell rule block the publish."""
    from expectations.suites import serving

    db = tmp_path / "build.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema serving")
        con.execute("create schema marts_disclosure")
        con.execute(
            "create table marts_disclosure.disclosure_cells as select * from (values"
            " ('wijk', 'WK000101', 2022, 'jeugd', true), ('wijk', 'WK000102', 2022, 'jeugd', false),"
            " ('wijk', 'WK000201', 2022, 'jeugd', true), ('wijk', 'WK000202', 2022, 'jeugd', true))"
            " as t(area_level, area_code, year, domein, hidden)"
        )
        con.execute(
            "create table serving.zorg as select * from (values"
            # GM0001: one hidden wijk of two (its count follows from the gemeente total)
            " ('GM0001', 'WK000101', 2022, 'jeugd', null, 20, 10, 10),"
            " ('GM0001', 'WK000102', 2022, 'jeugd', 25, 20, 10, 10),"
            # GM0002: both hidden here, but WK000202's cost is published although its cell is hidden;
            # and along WK000201's row one part of the total is hidden alone
            " ('GM0002', 'WK000201', 2022, 'jeugd', null, 20, 10, null),"
            " ('GM0002', 'WK000202', 2022, 'jeugd', null, 20, 10, 10))"
            " as t(gemeente_code, wijk_code, year, domein, clienten, totaal, deel_a, deel_b)"
        )
        con.execute("alter table serving.zorg add column kosten double")
        con.execute("update serving.zorg set kosten = 100.0 where wijk_code = 'WK000202'")
    cell = {"level": "'wijk'", "area": "wijk_code", "year": "year", "domein": "domein"}
    contract = serving.ServingContract(
        table="zorg",
        columns=["gemeente_code", "wijk_code", "year", "domein", "clienten", "totaal", "deel_a", "deel_b", "kosten"],
        counts={"clienten": "true"},
        groups=["year", "gemeente_code"],
        row_totals=[("totaal", ["deel_a", "deel_b"])],
        cells={"kosten": cell},
    )
    result = audit_with_generic_suite(db, contract, tmp_path)
    assert not result.success
    assert sorted((f["rule"], f["column"]) for f in result.errors) == [
        ("disclosure_cell", "kosten"),
        ("disclosure_group", "clienten"),
        ("disclosure_row_total", "totaal"),
    ]
