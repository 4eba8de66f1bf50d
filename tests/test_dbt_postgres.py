"""The same dbt project on PostgreSQL (shared regional mode): the raw layer of the demo build is
copied with COPY into a fresh database, `dbt build --target postgres` builds every model and runs
every test, and what it builds equals the DuckDB build of the same raw data."""

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa
import pytest

from dagster_project.lib import postgres
from tests.conftest import ADMIN_DSN, postgres_reachable

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.skipif(not postgres_reachable(), reason=f"no PostgreSQL at {ADMIN_DSN}"),
]

# the year each core fact is compared by, per gemeente
FACTS = {
    "fct_client_month": "cast(extract(year from month) as integer)",
    "fct_benefit_month": "cast(extract(year from month) as integer)",
    "fct_care_episode": "cast(extract(year from first_month) as integer)",
    "fct_zvw_cost": "year",
    "fct_budget": "year",
    "fct_area_indicator": "year",
    "fct_survey_response": "year",
    "fct_contract": "year",
    "fct_intervention": "cast(extract(year from start_date) as integer)",
}
PYTHON_SCHEMAS = ("analytics", "geo")
INTEGER = {"smallint", "integer", "bigint"}
DECIMAL = {"numeric"}
FLOAT = {"double precision", "real"}


@dataclass
class PgBuild:
    dsn: str
    build_db: Path
    copied: dict[str, int]
    returncode: int
    output: str
    run_results: dict
    manifest: dict

    def relation(self, name: str) -> tuple[str, str]:
        node = next(n for n in self.manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == name)
        return node["schema"], node["alias"]

    def models(self, layer: str | None = None) -> list[dict]:
        return [
            n
            for n in self.manifest["nodes"].values()
            if n["resource_type"] == "model" and (layer is None or n["fqn"][1] == layer)
        ]


@pytest.fixture(scope="module")
def pg_build(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> PgBuild:
    build_db = demo_home / "warehouse" / "build.duckdb"
    target_path = tmp_path_factory.mktemp("dbt_postgres")
    with postgres.scratch_database(ADMIN_DSN, "mmr_test") as dsn:
        copied = postgres.copy_raw_layer(build_db, dsn)
        # Python assets (analytics, area geometry) write to the DuckDB build only for now: their
        # outputs come along as inputs
        for schema in PYTHON_SCHEMAS:
            with duckdb.connect(str(build_db), read_only=True) as con:
                present = postgres.schema_tables(con, schema)
            if present:
                postgres.copy_schema(build_db, dsn, schema)
        result = postgres.run_dbt(["build"], target_path, dsn=dsn)
        run_results = json.loads((target_path / "run_results.json").read_text())
        manifest = json.loads((target_path / "manifest.json").read_text())
        yield PgBuild(dsn, build_db, copied, result.returncode, result.stdout + result.stderr, run_results, manifest)


def _pg(build: PgBuild, query: str, params: list | None = None) -> list[tuple]:
    with psycopg.connect(build.dsn) as conn:
        return conn.execute(query, params).fetchall()


def _duck(build: PgBuild, query: str) -> list[tuple]:
    with duckdb.connect(str(build.build_db), read_only=True) as con:
        return con.execute(query).fetchall()


def _columns(build: PgBuild, schema: str, table: str) -> dict[str, str]:
    rows = _pg(
        build,
        "select column_name, data_type from information_schema.columns "
        f"where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position",
    )
    return dict(rows)


def _aggregates(columns: dict[str, str], exclude: set[str]) -> list[tuple[str, str, str]]:
    """(label, SQL aggregate, kind) for every column: sums of numbers, counts of true and of values."""
    items = [("rows", "count(*)", "integer")]
    for name, kind in columns.items():
        if name in exclude:
            continue
        quoted = f'"{name}"'
        if kind in INTEGER | DECIMAL | FLOAT:
            items.append((f"sum:{name}", f"sum({quoted})", kind))
        elif kind == "boolean":
            items.append((f"true:{name}", f"sum(case when {quoted} then 1 else 0 end)", "integer"))
        elif kind in ("text", "character varying"):
            items.append((f"distinct:{name}", f"count(distinct {quoted})", "integer"))
        items.append((f"values:{name}", f"count({quoted})", "integer"))
    return items


def _same(kind: str, left: object, right: object) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if kind in INTEGER:
        return int(left) == int(right)
    if kind in DECIMAL:
        return abs(Decimal(str(left)) - Decimal(str(right))) <= Decimal("0.000001")
    return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-6)


def _compare(build: PgBuild, schema: str, table: str, groups: dict[str, str], exclude: set[str] = frozenset()) -> int:
    """Assert that the aggregates of a table per group are the same on both engines; returns the
    number of groups compared."""
    columns = _columns(build, schema, table)
    assert columns, f"{schema}.{table} is missing on PostgreSQL"
    measures = _aggregates(columns, exclude | set(groups))
    keys = ", ".join(f"{expression} as g{i}" for i, expression in enumerate(groups.values()))
    by = ", ".join(f"g{i}" for i in range(len(groups)))
    query = (
        f"select {keys}, {', '.join(sql for _, sql, _ in measures)} from {schema}.{table} group by {by} order by {by}"
    )
    on_pg = {row[: len(groups)]: row[len(groups) :] for row in _pg(build, query)}
    on_duck = {row[: len(groups)]: row[len(groups) :] for row in _duck(build, query)}
    assert on_pg.keys() == on_duck.keys(), f"{schema}.{table}: groups differ {set(on_pg) ^ set(on_duck)}"
    for group, values in on_duck.items():
        for (label, _, kind), duck_value, pg_value in zip(measures, values, on_pg[group], strict=True):
            assert _same(kind, duck_value, pg_value), (
                f"{schema}.{table} {dict(zip(groups, group, strict=True))} {label}: "
                f"DuckDB {duck_value} vs PostgreSQL {pg_value}"
            )
    return len(on_duck)


@pytest.fixture
def scratch_dsn() -> str:
    with postgres.scratch_database(ADMIN_DSN, "mmr_test") as dsn:
        yield dsn


def test_write_raw_table_round_trips_values_and_replaces_one_period(scratch_dsn: str) -> None:
    con = duckdb.connect()
    first = con.sql(
        "select * from (values "
        "('GM0363:2024-01', 1, 'tekst met \"quote\"' || chr(10) || 'en regel', date '2024-01-31', "
        "timestamp '2024-02-01 10:00:00.25', 1234.50::decimal(18, 2), 0.1::double, true, ''), "
        "('GM0363:2024-01', 2, null, null, null, null, null, null, null), "
        "('GM0599:2024-01', 3, 'x', date '2024-01-01', null, 1.00::decimal(18, 2), 2.5::double, false, 'y')"
        ") as t(_period, id, note, day, seen, amount, share, flag, empty)"
    )
    assert postgres.write_raw_table(scratch_dsn, "gemeente_test", first) == 3
    with psycopg.connect(scratch_dsn, autocommit=True) as conn:
        conn.execute("create view public.on_raw as select id from raw.gemeente_test")
        columns = dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns where table_name = 'gemeente_test'"
            ).fetchall()
        )
        assert (
            conn.execute("select * from raw.gemeente_test order by id").fetchall()
            == con.execute(f"select * from ({first.sql_query()}) order by id").fetchall()
        )
        # the whole table replaced with the same shape: views on it stay
        assert postgres.write_raw_table(scratch_dsn, "gemeente_test", first) == 3
        assert conn.execute("select count(*) from public.on_raw").fetchone() == (3,)
    assert columns["day"] == "date" and columns["seen"] == "timestamp without time zone"
    assert columns["amount"] == "numeric" and columns["share"] == "double precision" and columns["flag"] == "boolean"

    # a corrected re-delivery of one period: that period replaced whole, a new column added, others kept
    correction = pa.table({"_period": ["GM0363:2024-01"], "id": pa.array([9], pa.int32()), "extra": ["nieuw"]})
    assert postgres.write_raw_table(scratch_dsn, "raw.gemeente_test", correction, period="GM0363:2024-01") == 1
    with psycopg.connect(scratch_dsn, autocommit=True) as conn:
        rows = conn.execute("select _period, id, extra from raw.gemeente_test order by id").fetchall()
        assert rows == [("GM0599:2024-01", 3, None), ("GM0363:2024-01", 9, "nieuw")]
        # replaced by rows of another shape, the table takes that shape (dbt recreates its views)
        postgres.write_raw_table(scratch_dsn, "gemeente_test", correction)
        assert conn.execute("select count(*) from raw.gemeente_test").fetchone() == (1,)
        assert conn.execute("select to_regclass('public.on_raw')").fetchone() == (None,)
    with pytest.raises(ValueError, match="_period"):
        postgres.write_raw_table(scratch_dsn, "gemeente_test", con.sql("select 1 as id"), period="x")


def test_raw_layer_arrives_whole(pg_build: PgBuild) -> None:
    """Every raw table, every row, every value: counts, null counts and text lengths agree."""
    with duckdb.connect(str(pg_build.build_db), read_only=True) as con:
        tables = postgres.schema_tables(con)
    assert set(pg_build.copied) == set(tables)
    assert {"gemeente_jeugd", "gemeente_wmo", "gemeente_participatie", "cbs_kwb"} <= set(tables)
    for table in tables:
        columns = _columns(pg_build, "raw", table)
        checks = ["count(*)"]
        for name, kind in columns.items():
            checks.append(f'count("{name}")')
            if kind == "text":
                checks.append(f'sum(length("{name}"))')
            elif kind in INTEGER | DECIMAL:
                checks.append(f'sum("{name}")')
        query = f"select {', '.join(checks)} from raw.{table}"
        on_pg, on_duck = _pg(pg_build, query)[0], _duck(pg_build, query)[0]
        assert on_pg[0] == pg_build.copied[table], table
        assert [str(v) for v in on_pg] == [str(v) for v in on_duck], table


def test_dbt_build_passes_on_postgres(pg_build: PgBuild) -> None:
    assert pg_build.returncode == 0, pg_build.output[-6000:]
    results = pg_build.run_results["results"]
    failed = [
        (r["unique_id"], r["status"], r.get("message")) for r in results if r["status"] not in ("success", "pass")
    ]
    assert not failed
    built = {r["unique_id"] for r in results if r["unique_id"].startswith("model.")}
    assert built == {n["unique_id"] for n in pg_build.models()}
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    assert len(tests) >= 100 and all(r["status"] == "pass" for r in tests)
    assert pg_build.run_results["args"]["target"] == "postgres"


def test_every_model_has_the_same_rows(pg_build: PgBuild) -> None:
    for node in pg_build.models():
        query = f"select count(*) from {node['schema']}.{node['alias']}"
        assert _pg(pg_build, query) == _duck(pg_build, query), node["name"]


def test_serving_tables_match_duckdb(pg_build: PgBuild) -> None:
    serving = pg_build.models("serving")
    assert {"dim_area", "wijk_kerncijfers"} <= {n["alias"] for n in serving}
    for node in serving:
        columns = _columns(pg_build, node["schema"], node["alias"])
        groups = {name: f'"{name}"' for name in ("gemeente_code", "year") if name in columns}
        assert "gemeente_code" in groups, f"{node['alias']}: every serving table has gemeente_code"
        assert _compare(pg_build, node["schema"], node["alias"], groups) > 0, node["alias"]


@pytest.mark.parametrize("fact", sorted(FACTS))
def test_core_facts_match_duckdb(pg_build: PgBuild, fact: str) -> None:
    schema, table = pg_build.relation(fact)
    groups = {"gemeente_code": "gemeente_code", "year": FACTS[fact]}
    assert _compare(pg_build, schema, table, groups, exclude={"built_at"}) > 0


def test_incremental_run_on_postgres_rebuilds_only_a_missing_partition(pg_build: PgBuild, tmp_path: Path) -> None:
    """delete+insert by partition works on PostgreSQL too: a partition taken out of fct_client_month
    comes back as it was, and nothing else is rebuilt."""
    schema, table = pg_build.relation("fct_client_month")
    totals = f"select domain, count(*), sum(cost) from {schema}.{table} group by domain order by domain"
    before = _pg(pg_build, totals)
    latest = f"select domain, gemeente_code, month from {schema}.{table} order by month desc limit 1"
    partition = _pg(pg_build, latest)[0]
    last_build = _pg(pg_build, f"select max(built_at) from {schema}.{table}")[0][0]
    with psycopg.connect(pg_build.dsn, autocommit=True) as conn:
        removed = conn.execute(
            f"delete from {schema}.{table} where domain = %s and gemeente_code = %s and month = %s", partition
        ).rowcount
    assert removed > 0
    result = postgres.run_dbt(["build", "--select", "fct_client_month"], tmp_path, dsn=pg_build.dsn)
    assert result.returncode == 0, result.stdout[-4000:]
    assert _pg(pg_build, totals) == before
    rebuilt = _pg(
        pg_build,
        f"select domain, gemeente_code, month, count(*) from {schema}.{table} where built_at > %s "
        "group by domain, gemeente_code, month",
        [last_build],
    )
    assert rebuilt == [(*partition, removed)]
