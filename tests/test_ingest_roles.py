"""A gemeente ingests into the shared warehouse through its own ingest role (`mmr grant-ingest`):
its deliveries land in its partition, and PostgreSQL itself refuses it everything else: another
gemeente's partition, the whole raw table, another gemeente's log rows, a new table. Its Dagster
runs stay in its own installation."""

import os
import threading
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dagster_project.lib.ingest_roles import grant_ingest, ingest_role, loader_gemeente
from dagster_project.lib.postgres import append_rows
from tests.conftest import ADMIN_DSN, mmr, postgres_reachable
from tests.test_shared_tenancy import REGION_KEY, _ingest, _land

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.skipif(not postgres_reachable(), reason=f"no PostgreSQL at {ADMIN_DSN}"),
]

REGION_GEMEENTE, LOADER_GEMEENTE = "GM1930", "GM0489"


@pytest.fixture(scope="module")
def shared(demo_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """The region ingested one gemeente as the owner; a second gemeente then ingests as its loader."""
    from dagster_project.lib.postgres import scratch_database

    region_home = tmp_path_factory.mktemp("region")
    _land(demo_home, region_home, REGION_GEMEENTE)
    loader_home = tmp_path_factory.mktemp("loader")
    _land(demo_home, loader_home, LOADER_GEMEENTE)
    login = f"loader_{LOADER_GEMEENTE.lower()}_{os.getpid()}"
    with scratch_database(ADMIN_DSN, "mmr_loader") as dsn:
        _ingest({REGION_GEMEENTE: region_home}, dsn)
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f'create role "{login}" login')
            pc6_before = con.execute("select count(*) from raw.cbs_pc6_gwb").fetchone()[0]
        try:
            partitions = grant_ingest(dsn, LOADER_GEMEENTE, login)
            loader_dsn = make_conninfo(**{**conninfo_to_dict(dsn), "user": login})
            _ingest({LOADER_GEMEENTE: loader_home}, loader_dsn)
            yield {"dsn": dsn, "loader_dsn": loader_dsn, "home": loader_home, "partitions": partitions}
        finally:
            with psycopg.connect(dsn, autocommit=True) as con:
                assert con.execute("select count(*) from raw.cbs_pc6_gwb").fetchone()[0] == pc6_before
                con.execute(f'drop role "{login}"')


def test_the_grant_covers_one_partition_of_every_partitioned_raw_table(shared):
    with psycopg.connect(shared["dsn"]) as con:
        tables = con.execute(
            "select c.relname from pg_partitioned_table t join pg_class c on c.oid = t.partrelid order by 1"
        ).fetchall()
    assert ("gemeente_jeugd",) in tables
    assert shared["partitions"] == [f"{table}__{LOADER_GEMEENTE.lower()}" for (table,) in tables]
    assert loader_gemeente(shared["loader_dsn"]) == LOADER_GEMEENTE
    assert loader_gemeente(shared["dsn"]) is None, "the region's own role is no loader"


def test_the_loader_lands_its_deliveries_in_its_partition_only(shared):
    with psycopg.connect(shared["dsn"]) as con:
        months = con.execute(
            f"select count(distinct _period), min(gemeentecode), max(gemeentecode) "
            f"from raw.gemeente_jeugd__{LOADER_GEMEENTE.lower()}"
        ).fetchone()
        logged = con.execute(
            "select split_part(period, ':', 1), count(*) from raw.ingestion_log "
            "where source = 'gemeente_jeugd' group by 1 order by 1"
        ).fetchall()
    assert months == (12, LOADER_GEMEENTE, LOADER_GEMEENTE)
    assert logged == [(LOADER_GEMEENTE, 12), (REGION_GEMEENTE, 12)]


def test_postgres_refuses_the_loader_everything_else(shared):
    other = f"raw.gemeente_jeugd__{REGION_GEMEENTE.lower()}"
    own = f"raw.gemeente_jeugd__{LOADER_GEMEENTE.lower()}"
    refused = [
        f"select count(*) from {other}",
        "select count(*) from raw.gemeente_jeugd",
        f"insert into {other} select * from {own} limit 1",
        f"delete from {other}",
        "create table raw.smuggled (x int)",
        f"alter table {own} add column extra text",
        "select count(*) from raw.cbs_pc6_gwb",
    ]
    for statement in refused:
        with psycopg.connect(shared["loader_dsn"]) as con, pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute(statement)
    with psycopg.connect(shared["loader_dsn"]) as con:
        assert con.execute(f"select count(*) from {own}").fetchone()[0] > 0
        seen = con.execute("select distinct split_part(period, ':', 1) from raw.ingestion_log").fetchall()
        assert seen == [(LOADER_GEMEENTE,)], "the log shows the loader its own rows only"


def test_a_refused_share_leaves_the_local_warehouse_usable(shared, tmp_path):
    """A share PostgreSQL refuses fails with its reason; the local DuckDB file opens again at once
    (a reader left open on it once made the next ingest step of the run spin forever)."""
    path = str(tmp_path / "build.duckdb")
    with duckdb.connect(path) as con:
        con.execute(
            "create table log as select 'x' as batch_id, 'gemeente_jeugd' as source, "
            f"'{REGION_GEMEENTE}:2024-01' as period, 'accepted' as status"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            append_rows(shared["loader_dsn"], "raw.ingestion_log", con.table("log"))
    counted = []
    opening = threading.Thread(
        target=lambda: counted.append(duckdb.connect(path).execute("select count(*) from log").fetchone()),
        daemon=True,  # a hang must fail this test, not keep the session from ending
    )
    opening.start()
    opening.join(timeout=30)
    assert counted == [(1,)]


def test_the_loader_may_not_build_or_publish(shared):
    env = {"MMR_WAREHOUSE": "postgres", "MMR_POSTGRES_DSN": shared["loader_dsn"], "MMR_PSEUDONYM_KEY": REGION_KEY}
    result = mmr(shared["home"], "run", "--no-demo", env=env, check=False)
    assert result.returncode == 2 and f"ingests for {LOADER_GEMEENTE} only" in result.stdout, result.stdout


def test_the_loader_keeps_its_runs_in_its_own_installation(shared):
    with psycopg.connect(shared["dsn"]) as con:
        tables = {row[0] for row in con.execute("select tablename from pg_tables where schemaname = 'public'")}
        owners = {row[0] for row in con.execute("select distinct tableowner from pg_tables where schemaname = 'raw'")}
    assert "runs" in tables, "the region's Dagster storage is on the shared server"
    assert list((shared["home"] / "dagster").rglob("runs.db")), "the loader's is local"
    assert ingest_role(LOADER_GEMEENTE) not in owners
