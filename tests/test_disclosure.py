"""Disclosure control (docs/architecture.md): the macros on a planted table, and a scan of what is published.

Which published columns are counts, and which values rest on a count, is declared in the serving
YAML as dbt column meta and read from the dbt manifest:

- ``config.meta.disclosure: count``: a count; published only as null, 0-free and at least the
  threshold, a multiple of the rounding base (``meta.where`` limits the rule to rows of a long table);
- ``config.meta.disclosure: derived`` with ``base``: a rate, average or amount, null whenever its
  base count is null;
- model ``config.meta.disclosure_groups``: the columns of a group whose total is published
  (e.g. all wijken of a gemeente-year); per group and count, never exactly one cell hidden.

The scan covers every table in the published ``serving.duckdb``, whatever its name: a table that
is not a documented serving model fails, and so does a numeric column with a count-like name
(inwoners, huishoudens, clienten, ...) that carries no disclosure meta.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT

DBT_DIR = PROJECT_ROOT / "dbt"
THRESHOLD = 10
ROUNDING_BASE = 5
COUNT_LIKE = re.compile(r"^(n_|aantal|inwoners|huishoudens|clienten|respondenten|verzekerden|personen|leerlingen)")

PLANTED_MODEL = """
with

cells as (

    select * from (
        values
            -- one small wijk (3): the next smallest (12) is hidden as its partner
            ('GM0001', 'WK000101', 3, 100.0),
            ('GM0001', 'WK000102', 25, 200.0),
            ('GM0001', 'WK000103', 40, 300.0),
            ('GM0001', 'WK000104', 12, 400.0),
            -- two small wijken: they protect each other, nothing more is hidden
            ('GM0002', 'WK000201', 4, 100.0),
            ('GM0002', 'WK000202', 6, 100.0),
            ('GM0002', 'WK000203', 50, 100.0),
            -- nothing small: everything published, rounded
            ('GM0003', 'WK000301', 27, 100.0),
            ('GM0003', 'WK000302', 28, 100.0),
            ('GM0003', 'WK000303', 13, 100.0),
            -- an unknown count counts as hidden: it needs a partner as well
            ('GM0004', 'WK000401', null, 100.0),
            ('GM0004', 'WK000402', 30, 100.0),
            ('GM0004', 'WK000403', 20, 100.0),
            -- a gemeente of one wijk: nothing to pair with, nothing else to hide
            ('GM0005', 'WK000501', 7, 100.0)
    ) as planted (gemeente_code, wijk_code, clienten, kosten)

),

flagged as (

    {{ disclosure_flags('cells', ['gemeente_code'], ['wijk_code'], ['clienten']) }}

)

select
    gemeente_code,
    wijk_code,
    clienten as clienten_raw,
    clienten__hidden as hidden,
    {{ publish_count('clienten') }} as clienten,
    {{ publish_with_base('kosten / clienten', 'clienten') }} as kosten_per_client
from flagged
"""

PLANTED_ROWS_MODEL = """
with

cells as (

    select * from (
        values
            -- only the 3-domain part is small: the smallest other part (12) is hidden with it
            ('GM0001', 'WK000101', 60, 45, 12, 3),
            ('GM0001', 'WK000102', 80, 40, 20, 20),
            ('GM0001', 'WK000103', 90, 40, 25, 25),
            ('GM0001', 'WK000104', 100, 50, 25, 25)
    ) as planted (gemeente_code, wijk_code, totaal, een, twee, drie)

),

flagged as (

    {{ disclosure_flags(
        'cells', ['gemeente_code'], ['wijk_code'], ['totaal', 'een', 'twee', 'drie'],
        row_totals=[('totaal', ['een', 'twee', 'drie'])],
    ) }}

)

select
    wijk_code,
    {{ publish_count('totaal') }} as totaal,
    {{ publish_count('een') }} as een,
    {{ publish_count('twee') }} as twee,
    {{ publish_count('drie') }} as drie
from flagged
"""


def run_planted(tmp_path: Path, models: dict[str, str], variables: dict | None = None) -> Path:
    """A throwaway dbt project with the real macros, built on a tiny DuckDB."""
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "macros").symlink_to(DBT_DIR / "macros")
    (project / "dbt_project.yml").write_text(
        "name: planted\nversion: '1.0'\nconfig-version: 2\nprofile: planted\n"
        "vars:\n  suppression_threshold: 10\n  rounding_base: 5\n"
        "models:\n  planted:\n    +materialized: table\n    +schema: main\n"
    )
    db = tmp_path / "planted.duckdb"
    (project / "profiles.yml").write_text(
        f"planted:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{db}'\n      threads: 1\n"
    )
    for name, sql in models.items():
        (project / "models" / f"{name}.sql").write_text(sql)
    args = ["run", "--project-dir", str(project), "--profiles-dir", str(project)]
    if variables:
        args += ["--vars", json.dumps(variables)]
    result = subprocess.run(
        [sys.executable, "-m", "dbt.cli.main", *args],
        cwd=project,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    return db


def rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_planted(tmp_path_factory.mktemp("planted"), {"cells": PLANTED_MODEL, "row_cells": PLANTED_ROWS_MODEL})


def published(db: Path, table: str = "cells") -> dict[str, tuple]:
    return {r[0]: r[1:] for r in rows(db, f"select wijk_code, clienten, kosten_per_client from main.{table}")}


def test_one_small_wijk_gets_the_next_smallest_as_partner(planted):
    cells = published(planted)
    assert cells["WK000101"] == (None, None)
    assert cells["WK000104"] == (None, None), "the next smallest wijk is hidden with the small one"
    assert cells["WK000102"] == (25, 8.0)
    assert cells["WK000103"] == (40, 7.5)


def test_two_small_wijken_need_no_partner(planted):
    cells = published(planted)
    assert cells["WK000201"][0] is None and cells["WK000202"][0] is None
    assert cells["WK000203"] == (50, 2.0)


def test_counts_round_to_the_base_and_never_below_the_threshold(planted):
    cells = published(planted)
    assert [cells[w][0] for w in ("WK000301", "WK000302", "WK000303")] == [25, 30, 15]


def test_unknown_count_is_treated_as_hidden(planted):
    cells = published(planted)
    assert cells["WK000401"][0] is None
    assert cells["WK000403"][0] is None, "the smallest other wijk covers the unknown one"
    assert cells["WK000402"][0] == 30


def test_single_wijk_gemeente_hides_only_itself(planted):
    assert published(planted)["WK000501"] == (None, None)


def test_no_gemeente_has_exactly_one_hidden_wijk(planted):
    counts = rows(planted, "select gemeente_code, count(*) filter (where hidden) from main.cells group by 1")
    assert all(hidden != 1 for gemeente, hidden in counts if gemeente != "GM0005")


def test_row_total_partner_and_column_partner(planted):
    cells = {r[0]: r[1:] for r in rows(planted, "select wijk_code, totaal, een, twee, drie from main.row_cells")}
    # the 3 is hidden; along its row the smallest other part (12) goes too, so 60 - 45 stays 15 for two cells
    assert cells["WK000101"][3] is None and cells["WK000101"][2] is None
    # in both columns another wijk is hidden as well, so the column totals give nothing away
    for column in (2, 3):
        assert sum(cells[w][column] is None for w in cells) >= 2
    # and each row with a hidden part has at least two hidden cells
    for values in cells.values():
        assert sum(v is None for v in values) != 1


def test_parameters_come_from_the_dbt_vars(tmp_path):
    db = run_planted(tmp_path, {"cells": PLANTED_MODEL}, {"suppression_threshold": 20, "rounding_base": 10})
    cells = published(db)
    assert cells["WK000102"][0] == 30, "25 rounds half up to 30 with base 10"
    # 3 and 12 are below 20 now: both hidden primarily, so 25 needs not be a partner
    assert cells["WK000104"][0] is None and cells["WK000101"][0] is None
    assert cells["WK000103"][0] == 40


# --- the published serving database ---------------------------------------------------------


def serving_meta() -> dict[str, dict]:
    """Per published table (alias): model meta and column meta from the dbt manifest."""
    manifest = json.loads((DBT_DIR / "target" / "manifest.json").read_text())
    tables = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["fqn"][1] != "serving":
            continue
        columns = {
            name: {**column.get("meta", {}), **column.get("config", {}).get("meta", {})}
            for name, column in node["columns"].items()
        }
        tables[node["alias"] or node["name"]] = {"meta": node["config"].get("meta", {}), "columns": columns}
    return tables


@pytest.fixture(scope="module")
def serving(demo_home: Path):
    """The published serving database, read-only, with the disclosure meta of its tables."""
    con = duckdb.connect(str(demo_home / "warehouse" / "serving.duckdb"), read_only=True)
    tables = [r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()]
    yield con, [t for t in tables if not t.startswith("_")], serving_meta()
    con.close()


def count_columns(meta: dict) -> list[tuple[str, str]]:
    return [
        (column, m.get("where") or "true") for column, m in meta["columns"].items() if m.get("disclosure") == "count"
    ]


def test_every_published_table_is_a_documented_serving_model(serving):
    con, tables, meta = serving
    assert tables, "nothing published"
    assert {"sociaal_domein_3d", "aanbieder_resultaat", "raadsrapportage", "wijk_kerncijfers"} <= set(tables)
    assert set(tables) <= set(meta), f"published but not a serving model: {set(tables) - set(meta)}"


def test_count_like_columns_are_declared(serving):
    con, tables, meta = serving
    undeclared = []
    for table in tables:
        for column, dtype in con.execute(
            "select column_name, data_type from information_schema.columns where table_name = ?", [table]
        ).fetchall():
            numeric = any(t in dtype.upper() for t in ("INT", "DOUBLE", "DECIMAL", "FLOAT", "REAL"))
            if numeric and COUNT_LIKE.match(column) and "disclosure" not in meta[table]["columns"].get(column, {}):
                undeclared.append(f"{table}.{column}")
    assert not undeclared, f"count-like columns without disclosure meta: {undeclared}"


def test_no_small_count_is_published(serving):
    con, tables, meta = serving
    checked = 0
    for table in tables:
        for column, where in count_columns(meta[table]):
            bad = con.execute(
                f'select count(*) from main."{table}" where ({where}) and "{column}" is not null '
                f'and ("{column}" < {THRESHOLD} or "{column}" % {ROUNDING_BASE} <> 0)'
            ).fetchone()[0]
            assert bad == 0, f"{table}.{column}: {bad} counts below {THRESHOLD} or not a multiple of {ROUNDING_BASE}"
            checked += 1
    assert checked >= 12


def test_counts_are_really_suppressed_somewhere(serving):
    """The scan is not vacuous: the demo has small cells, and they are hidden."""
    con, _tables, _meta = serving
    hidden = con.execute("select count(*) from main.sociaal_domein_3d where huishoudens_3_domeinen is null").fetchone()
    assert hidden[0] > 0


def test_no_value_is_published_on_a_suppressed_base(serving):
    con, tables, meta = serving
    checked = 0
    for table in tables:
        for column, m in meta[table]["columns"].items():
            if m.get("disclosure") != "derived":
                continue
            bases = m["base"] if isinstance(m["base"], list) else [m["base"]]
            hidden_base = " or ".join(f'"{base}" is null' for base in bases)
            bad = con.execute(
                f'select count(*) from main."{table}" where "{column}" is not null and ({hidden_base})'
            ).fetchone()[0]
            assert bad == 0, f"{table}.{column}: {bad} values published on a suppressed base {bases}"
            checked += 1
    assert checked >= 20


def test_no_hidden_cell_is_recoverable_from_a_total(serving):
    """Per group whose total is published, a count is hidden in no cell or in at least two."""
    con, tables, meta = serving
    checked = 0
    for table in tables:
        groups = meta[table]["meta"].get("disclosure_groups")
        if not groups:
            continue
        keys = ", ".join(f'"{g}"' for g in groups)
        for column, where in count_columns(meta[table]):
            lonely = con.execute(
                f'select {keys}, count(*) as cells from main."{table}" where {where} group by {keys} '
                f'having count(*) > 1 and count(*) - count("{column}") = 1'
            ).fetchall()
            assert not lonely, f"{table}.{column}: one hidden cell in {lonely[:5]} (total minus the rest gives it)"
            checked += 1
    assert checked >= 8


ROW_TOTALS = [
    ("huishoudens_met_ondersteuning", ["huishoudens_1_domein", "huishoudens_2_domeinen", "huishoudens_3_domeinen"]),
    ("huishoudens_met_ondersteuning", ["huishoudens_1_domein", "huishoudens_multi_domein"]),
    ("huishoudens_multi_domein", ["huishoudens_2_domeinen", "huishoudens_3_domeinen"]),
]


@pytest.mark.parametrize(("total", "parts"), ROW_TOTALS)
def test_no_hidden_part_is_recoverable_from_its_row_total(serving, total, parts):
    con, _tables, _meta = serving
    hidden = " + ".join(f"case when {column} is null then 1 else 0 end" for column in [total, *parts])
    lonely = con.execute(f"select wijk_code, year from main.sociaal_domein_3d where {hidden} = 1").fetchall()
    assert not lonely, f"one hidden cell among {total} = {' + '.join(parts)}: {lonely[:5]}"


def test_complementary_suppression_happened(serving):
    """Partners were needed in the demo: some wijken are hidden although their count is not small."""
    con, _tables, _meta = serving
    with_partner = con.execute(
        """
        select count(*) from main.sociaal_domein_3d as s
        where huishoudens_met_ondersteuning is not null and huishoudens_2_domeinen is null
          and huishoudens_multi_domein is not null
          and huishoudens_multi_domein - coalesce(huishoudens_3_domeinen, 0) >= 15
        """
    ).fetchone()[0]
    assert with_partner > 0
