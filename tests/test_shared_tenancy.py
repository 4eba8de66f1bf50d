"""Shared regional warehouse: two gemeenten deliver at the same time, each from its own
installation, into one PostgreSQL warehouse. Each one's rows land in its own partition, intact
and apart; a corrected re-delivery of one gemeente leaves the other untouched; PostgreSQL itself
refuses a row of another gemeente in a gemeente's partition."""

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import pytest

from tests.conftest import ADMIN_DSN, PROJECT_ROOT, postgres_reachable

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.skipif(not postgres_reachable(), reason=f"no PostgreSQL at {ADMIN_DSN}"),
]

GEMEENTEN = ("GM0489", "GM1930")
YEAR = "2024"
#: One pseudonym key for the region, so a client is the same person in every gemeente.
REGION_KEY = "regio-sleutel-alleen-voor-deze-test"


def _land(demo_home: Path, home: Path, gemeente: str) -> None:
    """A gemeente's own deliveries of one year, and the postcode table its ingestion looks up."""
    for path in sorted((demo_home / "landing" / "gemeente_jeugd").glob(f"jeugd_{gemeente}_{YEAR}-*.csv")):
        target = home / "landing" / "gemeente_jeugd" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    pc6 = home / "landing" / "gebieden"
    pc6.mkdir(parents=True, exist_ok=True)
    shutil.copy2(demo_home / "landing" / "gebieden" / f"pc6_gwb_{YEAR}.csv", pc6)


def _ingest(homes: dict[str, Path], dsn: str) -> None:
    """`mmr ingest` in every home at once; each must succeed."""
    processes = {}
    for gemeente, home in homes.items():
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(home),
            "MMR_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "MMR_WAREHOUSE": "postgres",
            "MMR_POSTGRES_DSN": dsn,
            "MMR_PSEUDONYM_KEY": REGION_KEY,
            "MMR_LANDING_RETENTION_DAYS": "keep",  # the correction below rewrites a delivered file
        }
        processes[gemeente] = subprocess.Popen(
            [sys.executable, "-m", "dagster_project.cli", "ingest"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    for gemeente, process in processes.items():
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, f"{gemeente}: {output[-4000:]}"
        assert "Ingested" in output


def _local(home: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse" / "build.duckdb"), read_only=True) as con:
        return con.execute(query).fetchall()


def _fingerprint(con: psycopg.Connection, gemeente: str) -> tuple:
    """Every row of a gemeente's partition, reduced to a count and a checksum."""
    return con.execute(
        f"select count(*), md5(string_agg(t::text, '|' order by t::text)) from raw.gemeente_jeugd__{gemeente.lower()} t"
    ).fetchone()


@pytest.fixture(scope="module")
def region(demo_home: Path, tmp_path_factory: pytest.TempPathFactory):
    from dagster_project.lib.postgres import scratch_database

    homes = {gemeente: tmp_path_factory.mktemp(f"home_{gemeente.lower()}") for gemeente in GEMEENTEN}
    for gemeente, home in homes.items():
        _land(demo_home, home, gemeente)
    with scratch_database(ADMIN_DSN, "mmr_tenancy") as dsn:
        _ingest(homes, dsn)
        yield homes, dsn


def test_each_gemeente_lands_whole_in_its_own_partition(region):
    homes, dsn = region
    with psycopg.connect(dsn) as con:
        partitions = {
            row[0]
            for row in con.execute(
                "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
                "where i.inhparent = 'raw.gemeente_jeugd'::regclass"
            )
        }
        assert partitions == {"gemeente_jeugd__gm0489", "gemeente_jeugd__gm1930", "gemeente_jeugd__regio"}
        for gemeente, home in homes.items():
            [(delivered,)] = _local(home, "select count(*) from raw.gemeente_jeugd")
            assert delivered > 0
            partition = f"raw.gemeente_jeugd__{gemeente.lower()}"
            assert con.execute(f"select count(*) from {partition}").fetchone() == (delivered,)
            assert con.execute(f"select distinct gemeentecode from {partition}").fetchall() == [(gemeente,)]
            months = con.execute(f"select count(distinct _period) from {partition}").fetchone()[0]
            assert months == 12
        total = sum(_local(home, "select count(*) from raw.gemeente_jeugd")[0][0] for home in homes.values())
        assert con.execute("select count(*) from raw.gemeente_jeugd").fetchone() == (total,)
        assert con.execute("select count(*) from raw.gemeente_jeugd__regio").fetchone() == (0,)


def test_regional_data_delivered_by_both_is_there_once(region):
    """Both installations landed the same postcode table: written one after the other, not twice."""
    homes, dsn = region
    [(local,)] = _local(homes[GEMEENTEN[0]], "select count(*) from raw.cbs_pc6_gwb")
    with psycopg.connect(dsn) as con:
        assert con.execute("select count(*) from raw.cbs_pc6_gwb").fetchone() == (local,)
        duplicated = con.execute(
            "select count(*) from (select postcode6, year from raw.cbs_pc6_gwb group by 1, 2 having count(*) > 1) d"
        ).fetchone()[0]
    assert local > 0 and duplicated == 0


def test_both_deliveries_are_logged_in_the_shared_warehouse(region):
    homes, dsn = region
    with psycopg.connect(dsn) as con:
        logged = dict(
            con.execute(
                "select substr(file_name, 7, 6), count(*) from raw.ingestion_log "
                "where source = 'gemeente_jeugd' and status = 'accepted' group by 1"
            ).fetchall()
        )
    assert logged == dict.fromkeys(GEMEENTEN, 12)


def test_a_correction_of_one_gemeente_leaves_the_other_untouched(region):
    homes, dsn = region
    first, other = GEMEENTEN
    with psycopg.connect(dsn) as con:
        other_before = _fingerprint(con, other)
        first_before = _fingerprint(con, first)
    month = f"{YEAR}-06"
    path = homes[first] / "landing" / "gemeente_jeugd" / f"jeugd_{first}_{month}.csv"
    header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = rows[: len(rows) // 2]
    path.write_text(header + "".join(kept), encoding="utf-8")
    _ingest({first: homes[first]}, dsn)
    with psycopg.connect(dsn) as con:
        assert _fingerprint(con, other) == other_before
        assert _fingerprint(con, first)[0] == first_before[0] - (len(rows) - len(kept))
        period = f"{first}:{month}"
        assert con.execute("select count(*) from raw.gemeente_jeugd where _period = %s", [period]).fetchone() == (
            len(kept),
        )


def test_postgres_refuses_a_row_of_another_gemeente_in_a_gemeentes_partition(region):
    _, dsn = region
    first, other = (g.lower() for g in GEMEENTEN)
    with psycopg.connect(dsn) as con, pytest.raises(psycopg.errors.CheckViolation, match="partition constraint"):
        con.execute(f"insert into raw.gemeente_jeugd__{first} select * from raw.gemeente_jeugd__{other} limit 1")


def test_pseudonyms_shared_as_text_become_numbers_and_the_views_on_them_are_dropped():
    """A shared raw table written while pseudonyms were hexadecimal text, with a staging view on
    it: the next share of one period makes the column the numbers ingestion writes now, in the
    other period's rows too (the view is dropped; the next build makes it again)."""
    from dagster_project.lib.postgres import scratch_database, sync_raw_periods
    from dagster_project.lib.warehouse import pseudonym_number

    numbers = {"GM0489:2024-01": 123_456_789_012_345_678, "GM0489:2024-02": 987_654_321_098_765_432}
    rows = ", ".join(f"('{period}', '{number:015x}0123456789abcdef0')" for period, number in numbers.items())
    with scratch_database(ADMIN_DSN, "mmr_pseudonyms") as dsn, duckdb.connect() as con:
        con.execute("create schema raw")
        con.execute(f"create table raw.gemeente_wmo as select * from (values {rows}) as t(_period, bsn_pseudoniem)")
        sync_raw_periods(con, dsn, "gemeente_wmo", set(numbers))
        with psycopg.connect(dsn, autocommit=True) as pg:
            pg.execute("create view public.stg_wmo as select bsn_pseudoniem from raw.gemeente_wmo")
        con.execute(
            f"alter table raw.gemeente_wmo alter bsn_pseudoniem type bigint using {pseudonym_number('bsn_pseudoniem')}"
        )
        assert sync_raw_periods(con, dsn, "gemeente_wmo", {"GM0489:2024-01"}) == 1
        with psycopg.connect(dsn) as pg:
            kind = pg.execute(
                "select data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = 'gemeente_wmo' and column_name = 'bsn_pseudoniem'"
            ).fetchone()
            assert kind == ("bigint",)
            assert dict(pg.execute("select _period, bsn_pseudoniem from raw.gemeente_wmo").fetchall()) == numbers
            assert pg.execute("select to_regclass('public.stg_wmo')").fetchone() == (None,)
